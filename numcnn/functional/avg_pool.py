"""Average pooling, forward and backward, for 1, 2 and 3 spatial dimensions (one code path).

PyTorch's divisor rules: a window's sum is divided by ``divisor_override`` when given; otherwise,
with ``count_include_pad=True``, by the window's size clipped to the padded input (the zero
padding counts, the ceil-mode overhang beyond it does not); with ``count_include_pad=False`` by
the number of input elements in the window.  The window sum is separable, so it is computed one
axis at a time (``sum(kernel)`` strided adds rather than ``prod(kernel)``), and so is its adjoint.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

import numpy as np

from .. import _threads
from ._batch import accepts_unbatched, unbatched_backward
from ._window import check_cache, check_dout, check_input, pool_output_shape, pool_window, unpad
from ._scratch import pad_into_scratch

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
    """What the backward pass of an average pool needs; produced by ``avg_pool*_forward``."""

    x_shape: tuple
    dtype: np.dtype
    kernel: tuple
    stride: tuple
    pads: tuple  # (before, after) zero padding that makes every window fit
    divisor: np.ndarray  # broadcastable to out_shape, dtype of x
    out_shape: tuple  # full output shape (N, C, *spatial)


def _check_avg_args(x, kernel_size, stride, padding, divisor_override, nd):
    check_input(x, nd, "x")
    kernel, stride, padding = pool_window(kernel_size, stride, padding, nd)
    if divisor_override is not None:
        if isinstance(divisor_override, (bool, np.bool_)) or not isinstance(divisor_override, numbers.Integral):
            raise TypeError(f"divisor_override must be an int or None, got {divisor_override!r}")
        if divisor_override == 0:
            raise ValueError("divisor_override must not be zero")
    return kernel, stride, padding


def _divisor_counts(size, k, s, p, n_out, count_include_pad) -> np.ndarray:
    """Per-output divisor along one axis (PyTorch's avg_pool rule)."""
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, size + p)  # the padded extent counts, the overhang does not
    if count_include_pad:
        return end - start
    return np.minimum(end, size) - np.maximum(start, 0)


def _box_sum(a: np.ndarray, axis: int, k: int, s: int, n_out: int) -> np.ndarray:
    """Sum of each length-``k`` window (stride ``s``) along ``axis``: k strided slice-adds."""
    lead = (slice(None),) * axis
    out = a[lead + (slice(0, s * (n_out - 1) + 1, s),)].copy()
    for j in range(1, k):
        out += a[lead + (slice(j, j + s * (n_out - 1) + 1, s),)]
    return out


def _box_sum_adjoint(g: np.ndarray, axis: int, k: int, s: int, length: int) -> np.ndarray:
    """Adjoint of :func:`_box_sum`: spread each window's gradient over its ``k`` positions."""
    n_out = g.shape[axis]
    shape = g.shape[:axis] + (length,) + g.shape[axis + 1 :]
    out = np.zeros(shape, dtype=g.dtype)
    lead = (slice(None),) * axis
    for j in range(k):
        out[lead + (slice(j, j + s * (n_out - 1) + 1, s),)] += g  # += : overlapping windows
    return out


# Passes over at least this many (input element x window tap) pairs split their batch over
# threads (numcnn._threads).
_PARALLEL_MIN_WORK = 4e6


def _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd):
    kernel, stride, padding = _check_avg_args(x, kernel_size, stride, padding, divisor_override, nd)
    spatial = x.shape[2:]
    if nd == 3 and any(n < k for n, k in zip(spatial, kernel)):
        # PyTorch's avg_pool3d (only the 3-D one) checks the unpadded input against the kernel.
        raise ValueError(
            f"avg_pool3d: input {tuple(spatial)} is smaller than kernel_size {kernel} (PyTorch's "
            "avg_pool3d requires input >= kernel in every dimension, padding not counted)"
        )
    ones = (1,) * nd
    out_spatial = pool_output_shape(spatial, kernel, stride, padding, ones, bool(ceil_mode))
    pads = tuple(
        (p, max(p, (o - 1) * s + k - size - p))
        for size, k, s, p, o in zip(spatial, kernel, stride, padding, out_spatial)
    )

    if divisor_override is not None:
        divisor = np.asarray(divisor_override, dtype=x.dtype)
    else:
        divisor = np.ones((1, 1) + ones, dtype=np.int64)
        for i, (size, k, s, p, o) in enumerate(zip(spatial, kernel, stride, padding, out_spatial)):
            shape = [1] * (nd + 2)
            shape[2 + i] = o
            divisor = divisor * _divisor_counts(size, k, s, p, o, count_include_pad).reshape(shape)
        divisor = divisor.astype(x.dtype)
    out = np.empty(x.shape[:2] + tuple(out_spatial), dtype=x.dtype)

    def window_means(start, stop):
        # each part writes its rows of out; the padded input is the thread's scratch
        a = pad_into_scratch(x[start:stop], pads, "pool_pad")
        for i, (k, s, o) in enumerate(zip(kernel, stride, out_spatial)):
            a = _box_sum(a, 2 + i, k, s, o)
        np.divide(a, divisor, out=out[start:stop])

    ranges = _threads.parts(x.shape[0], x.size * sum(kernel), _PARALLEL_MIN_WORK, uses_blas=False)
    _threads.run(window_means, ranges, uses_blas=False)
    return out, AvgPoolCache(x.shape, x.dtype, kernel, stride, pads, divisor, out.shape)


@unbatched_backward
def _avg_pool_backward(dout, cache: AvgPoolCache):
    check_cache(cache, AvgPoolCache, "an avg-pool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    x_spatial = cache.x_shape[2:]

    dx = np.empty(cache.x_shape, dtype=cache.dtype)

    def spread(start, stop):  # into the part's rows of dx
        g = dout[start:stop] / cache.divisor
        for i in reversed(range(len(x_spatial))):
            lo, hi = cache.pads[i]
            g = _box_sum_adjoint(g, 2 + i, cache.kernel[i], cache.stride[i], x_spatial[i] + lo + hi)
        unpad(g, cache.pads, out=dx[start:stop])

    work = math.prod(cache.x_shape) * sum(cache.kernel)
    _threads.run(spread, _threads.parts(cache.x_shape[0], work, _PARALLEL_MIN_WORK, uses_blas=False), uses_blas=False)
    return dx


@accepts_unbatched(2)
def avg_pool2d_forward(
    x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """2-D average pooling, forward pass, with PyTorch's semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (C, H, W) unbatched, floating
    kernel_size : int or (int, int)
    stride : int or (int, int), default (None or ``()``) ``kernel_size``
    padding : int or (int, int), at most ``kernel_size // 2``; implicit zeros
    ceil_mode : bool
        Round the output size up; a last partial window is kept only if it starts inside the
        input or the left padding (PyTorch's rule).
    count_include_pad : bool
        Whether the zero padding counts in the divisor (the ceil-mode overhang never does).
    divisor_override : int or None
        Divide every window's sum by this instead (not zero).

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        ``H_out = floor_or_ceil((H + 2 * padding - kH) / stride) + 1``, likewise W.
    cache : AvgPoolCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import avg_pool2d_forward
    >>> out, cache = avg_pool2d_forward(np.arange(16.0).reshape(1, 4, 4), 2)  # unbatched (C, H, W)
    >>> out
    array([[[ 2.5,  4.5],
            [10.5, 12.5]]])
    >>> out, _ = avg_pool2d_forward(np.ones((1, 1, 2, 2)), 3, stride=1, padding=1, count_include_pad=False)
    >>> out[0, 0]
    array([[1., 1.],
           [1., 1.]])
    """
    return _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd=2)


def avg_pool2d_backward(dout, cache):
    """Backward pass of :func:`avg_pool2d_forward`: ``dx`` of the input's shape and dtype.

    Each output's gradient, divided by its divisor, is spread over its window; overlapping
    windows accumulate and padding receives nothing.
    """
    return _avg_pool_backward(dout, cache)


@accepts_unbatched(1)
def avg_pool1d_forward(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling: x (N, C, L) or (C, L); see :func:`avg_pool2d_forward` (no ``divisor_override``,
    as in PyTorch)."""
    return _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, None, nd=1)


def avg_pool1d_backward(dout, cache):
    """Backward pass of :func:`avg_pool1d_forward`."""
    return _avg_pool_backward(dout, cache)


@accepts_unbatched(3)
def avg_pool3d_forward(
    x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    """3-D average pooling: x (N, C, D, H, W) or (C, D, H, W); see :func:`avg_pool2d_forward`."""
    return _avg_pool_forward(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, nd=3)


def avg_pool3d_backward(dout, cache):
    """Backward pass of :func:`avg_pool3d_forward`."""
    return _avg_pool_backward(dout, cache)
