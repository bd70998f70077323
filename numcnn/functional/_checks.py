"""Argument checks shared by the non-window ops (linear, activations, normalisation, losses).

Like ``_window.py`` for conv/pool: every op fails the same way, before any work, with a message
that names the argument and the shapes.
"""

from __future__ import annotations

import numpy as np

from ._window import check_cache  # noqa: F401  (shared with the conv/pool ops)

__all__ = ["check_array", "check_same_dtype", "check_cache"]


def check_array(x, name: str, *, min_ndim: int = 0, floating: bool = True) -> np.ndarray:
    """Check that ``x`` is an ndarray with at least ``min_ndim`` dimensions (and a float dtype)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {x.shape}")
    if floating and not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (float16/32/64), got {x.dtype}")
    return x


def check_same_dtype(x: np.ndarray, other, name: str) -> None:
    """``other`` (a parameter such as weight or bias) must share ``x``'s dtype: no silent upcast."""
    if other is not None and other.dtype != x.dtype:
        raise TypeError(f"{name} dtype {other.dtype} does not match x dtype {x.dtype}")


