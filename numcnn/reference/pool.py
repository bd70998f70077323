"""Loop twins of ``max_pool{1,2,3}d_forward/backward``: loops over output positions and kernel
offsets, every (N, C) plane at once.

PyTorch's rule, one window at a time: scan the window's positions INSIDE the input (padding is
never a candidate) in row-major order of the kernel offsets, starting from the first; a later
value takes over when it is strictly greater (ties keep the first) or when it is NaN (a NaN is
the maximum, and of several NaNs the last wins).  So an all -inf window picks its first position
inside the input.  The winner's flat index in its input plane is PyTorch's ``return_indices``;
the backward pass adds each ``dout`` onto its winner, so overlapping windows accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._loops import as_tuple, check_cache, check_dout, check_input, flat_index, pool_output_shape, positions

__all__ = [
    "max_pool1d_forward",
    "max_pool1d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool3d_forward",
    "max_pool3d_backward",
    "window_max",
    "scatter_to_indices",
]


@dataclass(frozen=True)
class MaxPoolCache:
    """The winners' flat per-plane indices: all a max-pool backward needs."""

    indices: np.ndarray  # int64 (N, C, *out)
    x_shape: tuple
    dtype: np.dtype


def window_max(x, coords):
    """Max of one window in every (N, C) plane of ``x``, by PyTorch's scan rule.

    ``coords`` lists the window's positions inside the input in scan order.  Returns the
    maximum and the winner's flat index in the plane, both of shape (N, C).
    """
    spatial = x.shape[2:]
    value = winner = None
    for coord in coords:
        v = x[(slice(None), slice(None)) + tuple(coord)]
        if value is None:  # the first position starts the scan, even when -inf
            value, winner = v.copy(), np.full(v.shape, flat_index(coord, spatial), dtype=np.int64)
            continue
        take = (v > value) | np.isnan(v)
        value = np.where(take, v, value)
        winner = np.where(take, flat_index(coord, spatial), winner)
    if value is None:
        raise ValueError(f"a pooling window covers no input element (input {tuple(spatial)})")
    return value, winner


def scatter_to_indices(dout, indices, x_shape, dtype):
    """``dx`` with each ``dout`` added onto the flat per-plane position ``indices`` names."""
    dx = np.zeros(x_shape, dtype=dtype)
    for n, c in positions(x_shape[:2]):
        for p in positions(dout.shape[2:]):
            dx[(n, c) + np.unravel_index(indices[(n, c) + p], x_shape[2:])] += dout[(n, c) + p]
    return dx


def _forward(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd):
    check_input(x, nd, "x")
    kernel = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
    stride = kernel if stride is None else as_tuple(stride, nd, "stride", minimum=1)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"padding should be at most half of the kernel size, got padding={padding}, kernel_size={kernel}")
    spatial = x.shape[2:]
    out_spatial = pool_output_shape(spatial, kernel, stride, padding, dilation, bool(ceil_mode))
    out = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)
    indices = np.empty(out.shape, dtype=np.int64)
    for p in positions(out_spatial):
        coords = []
        for k in positions(kernel):
            coord = tuple(o * s - pad + j * d for o, s, pad, j, d in zip(p, stride, padding, k, dilation))
            if all(0 <= i < n for i, n in zip(coord, spatial)):
                coords.append(coord)
        lead = (slice(None), slice(None)) + p
        out[lead], indices[lead] = window_max(x, coords)
    cache = MaxPoolCache(indices=indices, x_shape=x.shape, dtype=x.dtype)
    return ((out, indices.copy()) if return_indices else out), cache


def _backward(dout, cache: MaxPoolCache):
    check_cache(cache, MaxPoolCache, "a reference max-pool forward")
    dout = check_dout(dout, cache.indices.shape, cache.dtype)
    return scatter_to_indices(dout, cache.indices, cache.x_shape, cache.dtype)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling by loops, the spec of :func:`numcnn.functional.max_pool2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), floating
    kernel_size, stride (default kernel_size), padding (<= kernel // 2), dilation : int or (int, int)
    ceil_mode : bool
    return_indices : bool
        Also return the winners' flat indices ``h * W + w`` (int64): ``((out, indices), cache)``.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out), dtype of ``x``
    cache : MaxPoolCache
    """
    return _forward(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=2)


def max_pool2d_backward(dout, cache):
    """Backward pass of :func:`max_pool2d_forward`: ``dx``, each ``dout`` added onto its winner."""
    return _backward(dout, cache)


def max_pool1d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling by loops: x (N, C, L); see :func:`max_pool2d_forward`."""
    return _forward(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=1)


def max_pool1d_backward(dout, cache):
    """Backward pass of :func:`max_pool1d_forward`."""
    return _backward(dout, cache)


def max_pool3d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling by loops: x (N, C, D, H, W); see :func:`max_pool2d_forward`."""
    return _forward(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=3)


def max_pool3d_backward(dout, cache):
    """Backward pass of :func:`max_pool3d_forward`."""
    return _backward(dout, cache)
