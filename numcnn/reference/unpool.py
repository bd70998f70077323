"""Loop twins of ``max_unpool{1,2,3}d_forward/backward``.

Forward: a zero output, then, in scan order of the input, ``out[n, c, indices[n, c, p]] =
x[n, c, p]`` with ``indices`` flat positions in the output plane (a repeated index keeps the last
value written, as PyTorch's CPU kernel).  Backward: ``dx[n, c, p] = dout[n, c, indices[n, c, p]]``.
The default output size is ``(in - 1) * stride - 2 * padding + kernel``; an ``output_size`` must
lie strictly within ``stride`` of it.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from ._loops import as_tuple, check_cache, check_dout, check_input, positions

__all__ = [
    "max_unpool1d_forward",
    "max_unpool1d_backward",
    "max_unpool2d_forward",
    "max_unpool2d_backward",
    "max_unpool3d_forward",
    "max_unpool3d_backward",
]


@dataclass(frozen=True)
class MaxUnpoolCache:
    indices: np.ndarray
    dtype: np.dtype
    out_shape: tuple


def _output_size(in_spatial, kernel, stride, padding, output_size):
    default = tuple((n - 1) * s + k - 2 * p for n, s, k, p in zip(in_spatial, stride, kernel, padding))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)[-len(kernel):]
        if len(tuple(output_size)) not in (len(kernel), len(kernel) + 2) or not all(
            d - s < o < d + s for o, d, s in zip(size, default, stride)
        ):
            raise ValueError(f"invalid output_size {tuple(output_size)} (default {default}, stride {stride})")
    if any(o < 1 for o in size):
        raise ValueError(f"max_unpool: the output size {size} is not positive (input {tuple(in_spatial)})")
    return size


def _forward(x, indices, kernel_size, stride, padding, output_size, nd):
    check_input(x, nd, "x")
    if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer) or indices.shape != x.shape:
        raise TypeError(f"indices must be an integer numpy.ndarray of x's shape {x.shape}")
    kernel = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
    stride = kernel if stride is None else as_tuple(stride, nd, "stride", minimum=1)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    out_spatial = _output_size(x.shape[2:], kernel, stride, padding, output_size)
    if indices.size and (indices.min() < 0 or indices.max() >= math.prod(out_spatial)):
        raise ValueError(f"max_unpool: an index in indices is out of range for an output plane of shape {out_spatial}")
    out = np.zeros(x.shape[:2] + out_spatial, dtype=x.dtype)
    for n, c in positions(x.shape[:2]):
        for p in positions(x.shape[2:]):
            out[(n, c) + np.unravel_index(indices[(n, c) + p], out_spatial)] = x[(n, c) + p]
    return out, MaxUnpoolCache(indices=indices.copy(), dtype=x.dtype, out_shape=out.shape)


def _backward(dout, cache: MaxUnpoolCache):
    check_cache(cache, MaxUnpoolCache, "a reference max_unpool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    dx = np.empty(cache.indices.shape, dtype=cache.dtype)
    for n, c in positions(dx.shape[:2]):
        for p in positions(dx.shape[2:]):
            dx[(n, c) + p] = dout[(n, c) + np.unravel_index(cache.indices[(n, c) + p], cache.out_shape[2:])]
    return dx


def max_unpool2d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """2-D max unpooling by loops, the spec of :func:`numcnn.functional.max_unpool2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), floating
    indices : integer ndarray, shape of ``x``, flat positions in the output plane
    kernel_size, stride (default kernel_size), padding : int or (int, int)
    output_size : (H_out, W_out) or (N, C, H_out, W_out), optional

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    cache : MaxUnpoolCache
    """
    return _forward(x, indices, kernel_size, stride, padding, output_size, nd=2)


def max_unpool2d_backward(dout, cache):
    """Backward pass of :func:`max_unpool2d_forward`: ``dx``."""
    return _backward(dout, cache)


def max_unpool1d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """1-D max unpooling by loops: x (N, C, L); see :func:`max_unpool2d_forward`."""
    return _forward(x, indices, kernel_size, stride, padding, output_size, nd=1)


def max_unpool1d_backward(dout, cache):
    """Backward pass of :func:`max_unpool1d_forward`."""
    return _backward(dout, cache)


def max_unpool3d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """3-D max unpooling by loops: x (N, C, D, H, W); see :func:`max_unpool2d_forward`."""
    return _forward(x, indices, kernel_size, stride, padding, output_size, nd=3)


def max_unpool3d_backward(dout, cache):
    """Backward pass of :func:`max_unpool3d_forward`."""
    return _backward(dout, cache)
