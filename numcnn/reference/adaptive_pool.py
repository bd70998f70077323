"""Loop twins of the adaptive average and max pools: loops over output positions, every (N, C)
plane at once.

Output cell ``i`` of an axis of ``In`` inputs and ``Out`` outputs pools the inputs
``[floor(i * In / Out), ceil((i + 1) * In / Out))``; the windows overlap when ``Out`` does not
divide ``In``.  Average: the window's mean.  Max: :func:`.pool.window_max`'s rule (first
maximum, last NaN), the winner's flat index as ``return_indices``.
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._loops import check_cache, check_dout, check_input, positions
from .pool import MaxPoolCache, max_pool2d_backward, window_max

__all__ = [
    "adaptive_avg_pool1d_forward",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_forward",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d_forward",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d_forward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d_forward",
    "adaptive_max_pool3d_backward",
]


@dataclass(frozen=True)
class AdaptiveAvgPoolCache:
    """Per output position, the slices of the input it averages."""

    windows: dict  # output position -> slices
    x_shape: tuple
    dtype: np.dtype
    out_shape: tuple


def _output_size(x, output_size, nd) -> tuple[int, ...]:
    """An int, or a tuple of ints or None (None keeps that input size)."""
    items = (output_size,) * nd if isinstance(output_size, numbers.Integral) else tuple(output_size)
    if len(items) != nd or any(isinstance(v, bool) or not (v is None or isinstance(v, numbers.Integral)) for v in items):
        raise TypeError(f"output_size must be an int or a tuple of {nd} ints (or None), got {output_size!r}")
    sizes = tuple(n if v is None else int(v) for v, n in zip(items, x.shape[2:]))
    if any(o <= 0 for o in sizes) or any(n <= 0 for n in x.shape[2:]):
        raise ValueError(f"output_size must be positive, got {output_size!r} (input spatial shape {x.shape[2:]})")
    return sizes


def _windows(x, output_size, nd):
    """Each output position with its window's slices."""
    check_input(x, nd, "x")
    sizes = _output_size(x, output_size, nd)
    for p in positions(sizes):
        yield p, tuple(slice(i * n // o, -(-(i + 1) * n // o)) for i, n, o in zip(p, x.shape[2:], sizes))


def _avg_forward(x, output_size, nd):
    windows = dict(_windows(x, output_size, nd))
    out_shape = x.shape[:2] + tuple(i + 1 for i in max(windows))
    out = np.empty(out_shape, dtype=x.dtype)
    for p, sl in windows.items():
        patch = x[(slice(None), slice(None)) + sl]
        out[(slice(None), slice(None)) + p] = patch.sum(axis=tuple(range(2, 2 + nd))) / x.dtype.type(patch[0, 0].size)
    return out, AdaptiveAvgPoolCache(windows=windows, x_shape=x.shape, dtype=x.dtype, out_shape=out_shape)


def _avg_backward(dout, cache: AdaptiveAvgPoolCache):
    check_cache(cache, AdaptiveAvgPoolCache, "a reference adaptive_avg_pool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    nd = len(cache.x_shape) - 2
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for p, sl in cache.windows.items():
        target = dx[(slice(None), slice(None)) + sl]
        g = dout[(slice(None), slice(None)) + p] / cache.dtype.type(target[0, 0].size)
        target += g.reshape(g.shape + (1,) * nd)
    return dx


def _max_forward(x, output_size, return_indices, nd):
    windows = dict(_windows(x, output_size, nd))
    out_shape = x.shape[:2] + tuple(i + 1 for i in max(windows))
    out = np.empty(out_shape, dtype=x.dtype)
    indices = np.empty(out_shape, dtype=np.int64)
    for p, sl in windows.items():
        coords = positions([s.stop - s.start for s in sl])
        lead = (slice(None), slice(None)) + p
        out[lead], indices[lead] = window_max(x, [tuple(s.start + j for s, j in zip(sl, c)) for c in coords])
    cache = MaxPoolCache(indices=indices, x_shape=x.shape, dtype=x.dtype)
    return ((out, indices.copy()) if return_indices else out), cache


def adaptive_avg_pool2d_forward(x, output_size):
    """2-D adaptive average pooling by loops, the spec of
    :func:`numcnn.functional.adaptive_avg_pool2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), floating
    output_size : int or (int or None, int or None)

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    cache : AdaptiveAvgPoolCache
    """
    return _avg_forward(x, output_size, nd=2)


def adaptive_avg_pool2d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool2d_forward`: ``dx``."""
    return _avg_backward(dout, cache)


def adaptive_avg_pool1d_forward(x, output_size):
    """1-D adaptive average pooling by loops: x (N, C, L)."""
    return _avg_forward(x, output_size, nd=1)


def adaptive_avg_pool1d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool1d_forward`."""
    return _avg_backward(dout, cache)


def adaptive_avg_pool3d_forward(x, output_size):
    """3-D adaptive average pooling by loops: x (N, C, D, H, W)."""
    return _avg_forward(x, output_size, nd=3)


def adaptive_avg_pool3d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool3d_forward`."""
    return _avg_backward(dout, cache)


def adaptive_max_pool2d_forward(x, output_size, return_indices=False):
    """2-D adaptive max pooling by loops, the spec of
    :func:`numcnn.functional.adaptive_max_pool2d_forward`.

    Returns ``(out, cache)``, or ``((out, indices), cache)`` with ``return_indices``; ``out`` of
    shape (N, C, H_out, W_out) and the dtype of ``x``, ``indices`` int64 flat per-plane positions.
    """
    return _max_forward(x, output_size, return_indices, nd=2)


def adaptive_max_pool2d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool2d_forward`: ``dx``, each ``dout`` added onto its
    winner (windows may overlap)."""
    return max_pool2d_backward(dout, cache)


def adaptive_max_pool1d_forward(x, output_size, return_indices=False):
    """1-D adaptive max pooling by loops: x (N, C, L)."""
    return _max_forward(x, output_size, return_indices, nd=1)


def adaptive_max_pool1d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool1d_forward`."""
    return max_pool2d_backward(dout, cache)


def adaptive_max_pool3d_forward(x, output_size, return_indices=False):
    """3-D adaptive max pooling by loops: x (N, C, D, H, W)."""
    return _max_forward(x, output_size, return_indices, nd=3)


def adaptive_max_pool3d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool3d_forward`."""
    return max_pool2d_backward(dout, cache)
