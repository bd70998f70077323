"""Parameter initialisation with PyTorch's defaults, from one seedable generator.

``manual_seed(s)`` makes every module built afterwards deterministic (the trainer's ``--seed``).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["manual_seed", "get_rng", "kaiming_uniform", "kaiming_normal", "uniform_bias"]

_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Reseed the generator used by every initialiser."""
    global _rng
    _rng = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """The generator used by the initialisers (and by modules such as Dropout)."""
    return _rng


def kaiming_uniform(shape, fan_in: int, dtype=np.float32, rng=None) -> np.ndarray:
    """PyTorch's default conv/linear weight init: ``kaiming_uniform_(w, a=sqrt(5))``,
    i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return (rng or _rng).uniform(-bound, bound, size=shape).astype(dtype)


def kaiming_normal(shape, fan: int, dtype=np.float32, rng=None) -> np.ndarray:
    """He et al.'s init for a layer followed by ReLU, ``kaiming_normal_(w, nonlinearity='relu')``:
    N(0, 2 / fan).  ``fan`` is fan_in (PyTorch's default mode) or fan_out (torchvision's ResNets:
    out_channels * kernel elements)."""
    std = math.sqrt(2.0 / fan) if fan > 0 else 0.0
    return (rng or _rng).normal(0.0, std, size=shape).astype(dtype)


def uniform_bias(size: int, fan_in: int, dtype=np.float32, rng=None) -> np.ndarray:
    """PyTorch's default conv/linear bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    return kaiming_uniform((size,), fan_in, dtype, rng)
