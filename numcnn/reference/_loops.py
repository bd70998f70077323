"""What every loop twin shares: iteration over positions, one window's slices, and the fast
path's argument checks (imported from it: the rule is only that the fast path never imports the
reference, so both reject the same arguments with the same messages)."""

from __future__ import annotations

import itertools

import numpy as np

from ..functional._checks import check_array  # noqa: F401
from ..functional._window import (  # noqa: F401  (re-exported for the twins)
    as_tuple,
    check_cache,
    check_dout,
    check_groups,
    check_input,
    check_weight,
    conv_output_shape,
    conv_padding,
    pool_output_shape,
)

__all__ = [
    "positions",
    "window",
    "flat_index",
    "check_bias",
    "as_tuple",
    "check_array",
    "check_cache",
    "check_dout",
    "check_groups",
    "check_input",
    "check_weight",
    "conv_output_shape",
    "conv_padding",
    "pool_output_shape",
]


def positions(shape):
    """Every index of an array of ``shape``, in row-major (scan) order."""
    return itertools.product(*(range(n) for n in shape))


def window(start, kernel, dilation) -> tuple[slice, ...]:
    """Slices of the (dilated) window whose first element is at ``start``."""
    return tuple(slice(s, s + d * (k - 1) + 1, d) for s, k, d in zip(start, kernel, dilation))


def flat_index(coord, shape) -> int:
    """Row-major flat index of ``coord`` in an array of ``shape`` (PyTorch's pooling indices)."""
    flat = 0
    for c, n in zip(coord, shape):
        flat = flat * n + c
    return flat


def check_bias(bias, x, channels: int) -> None:
    """``bias`` is None or a (channels,) array of x's dtype."""
    if bias is None:
        return
    if not isinstance(bias, np.ndarray):
        raise TypeError(f"bias must be a numpy.ndarray or None, got {type(bias).__name__}")
    if bias.shape != (channels,):
        raise ValueError(f"bias must have shape ({channels},), got {bias.shape}")
    if bias.dtype != x.dtype:
        raise TypeError(f"bias dtype {bias.dtype} does not match x dtype {x.dtype}")
