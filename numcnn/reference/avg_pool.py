"""Loop twins of ``avg_pool{1,2,3}d_forward/backward``: loops over output positions, every
(N, C) plane at once.

A window starting at ``start = p * stride - padding`` covers ``[start, start + kernel)``; its
sum runs over the part inside the input (the zero padding adds nothing) and is divided by:

- ``divisor_override`` when given;
- else with ``count_include_pad``: the window's size clipped to the padded input,
  ``prod(min(start + kernel, size + padding) - start)`` (a ceil-mode overhang beyond the padding
  does not count);
- else the number of input elements in the window.

The backward pass spreads ``dout / divisor`` over the same input elements, accumulating.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

import numpy as np

from ._loops import as_tuple, check_cache, check_dout, check_input, pool_output_shape, positions

__all__ = [
    "avg_pool1d_forward",
    "avg_pool1d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool3d_forward",
    "avg_pool3d_backward",
]


@dataclass(frozen=True)
class AvgPoolCache:
    """Per output position: the slices of the input it averages and its divisor."""

    windows: dict  # output position -> (slices inside the input, divisor)
    x_shape: tuple
    dtype: np.dtype
    out_shape: tuple


def _forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd):
    check_input(x, nd, "x")
    kernel = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
    stride = kernel if stride is None else as_tuple(stride, nd, "stride", minimum=1)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding should be at most half of the kernel size, got padding={padding}, kernel_size={kernel}")
    if divisor_override is not None and (
        isinstance(divisor_override, bool) or not isinstance(divisor_override, numbers.Integral) or divisor_override == 0
    ):
        raise ValueError(f"divisor_override must be a non-zero int or None, got {divisor_override!r}")
    spatial = x.shape[2:]
    if nd == 3 and any(n < k for n, k in zip(spatial, kernel)):
        raise ValueError(f"avg_pool3d: input {tuple(spatial)} is smaller than kernel_size {kernel}")
    out_spatial = pool_output_shape(spatial, kernel, stride, padding, (1,) * nd, bool(ceil_mode))
    out = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)
    windows = {}
    for p in positions(out_spatial):
        start = [o * s - pad for o, s, pad in zip(p, stride, padding)]
        inside = tuple(slice(max(a, 0), min(a + k, n)) for a, k, n in zip(start, kernel, spatial))
        if divisor_override is not None:
            divisor = divisor_override
        elif count_include_pad:
            divisor = math.prod(min(a + k, n + pad) - a for a, k, n, pad in zip(start, kernel, spatial, padding))
        else:
            divisor = math.prod(sl.stop - sl.start for sl in inside)
        divisor = x.dtype.type(divisor)
        patch = x[(slice(None), slice(None)) + inside]
        out[(slice(None), slice(None)) + p] = patch.sum(axis=tuple(range(2, 2 + nd))) / divisor
        windows[p] = (inside, divisor)
    return out, AvgPoolCache(windows=windows, x_shape=x.shape, dtype=x.dtype, out_shape=out.shape)


def _backward(dout, cache: AvgPoolCache):
    check_cache(cache, AvgPoolCache, "a reference avg-pool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    nd = len(cache.x_shape) - 2
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for p, (inside, divisor) in cache.windows.items():
        g = dout[(slice(None), slice(None)) + p] / divisor
        dx[(slice(None), slice(None)) + inside] += g.reshape(g.shape + (1,) * nd)
    return dx


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """2-D average pooling by loops, the spec of :func:`numcnn.functional.avg_pool2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), floating
    kernel_size, stride (default kernel_size), padding (<= kernel // 2) : int or (int, int)
    ceil_mode, count_include_pad : bool
    divisor_override : int or None

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    cache : AvgPoolCache
    """
    return _forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd=2)


def avg_pool2d_backward(dout, cache):
    """Backward pass of :func:`avg_pool2d_forward`: ``dx``."""
    return _backward(dout, cache)


def avg_pool1d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling by loops: x (N, C, L); see :func:`avg_pool2d_forward`."""
    return _forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, nd=1)


def avg_pool1d_backward(dout, cache):
    """Backward pass of :func:`avg_pool1d_forward`."""
    return _backward(dout, cache)


def avg_pool3d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None):
    """3-D average pooling by loops: x (N, C, D, H, W); see :func:`avg_pool2d_forward`."""
    return _forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd=3)


def avg_pool3d_backward(dout, cache):
    """Backward pass of :func:`avg_pool3d_forward`."""
    return _backward(dout, cache)
