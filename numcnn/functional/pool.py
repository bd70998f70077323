"""Max pooling, forward and backward, for 1, 2 and 3 spatial dimensions (one code path).

PyTorch's semantics: padding acts as -inf and is at most half the kernel; ceil_mode keeps a last
window only if it starts inside the input or the left padding; among equal maxima the FIRST in
row-major scan order of the window wins (and alone receives the gradient); a NaN in a window wins
and propagates (the last NaN, as PyTorch's CPU kernel); an all -inf window picks its first
position inside the input.  Overlapping windows accumulate their gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools
import math

import numpy as np

from .. import _threads
from ._batch import accepts_unbatched, unbatched_backward
from ._window import (
    as_tuple,
    check_cache,
    check_dout,
    check_input,
    kernel_offsets,
    pool_output_shape,
    pool_window,
    unpad,
    window_slices,
)
from ._scratch import pad_into_scratch, scratch
from .unpool import max_pool_indices

__all__ = [
    "max_pool1d_forward",
    "max_pool1d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool3d_forward",
    "max_pool3d_backward",
]


@dataclass(frozen=True)
class MaxPoolCache:
    """What the backward pass of a max pool needs; produced by ``max_pool*_forward``."""

    x_shape: tuple
    dtype: np.dtype
    argmax: np.ndarray  # (N, C, *out): row-major index of the winning kernel offset
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    out_shape: tuple  # full output shape (N, C, *spatial)


def _check_pool_args(x, kernel_size, stride, padding, dilation, nd):
    check_input(x, nd, "x")
    kernel, stride, padding = pool_window(kernel_size, stride, padding, nd)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    return kernel, stride, padding, dilation


@functools.lru_cache(maxsize=64)
def _first_valid_offset(kernel, stride, padding, dilation, out_spatial, spatial) -> np.ndarray:
    """Flat kernel offset of the first window position inside the input, per output position.

    PyTorch starts each window's argmax there, so an all -inf window still points into the input.
    A window with no position inside the input at all (possible with dilation and padding) is an
    error here; PyTorch's CPU kernel aborts the process on it.  Cached (read-only): a training
    loop asks for the same geometry every step, and building it cost 0.08 ms per call.
    """
    flat = np.zeros(out_spatial, dtype=np.intp)
    nd = len(kernel)
    for axis, (k, s, p, d, n, size) in enumerate(zip(kernel, stride, padding, dilation, out_spatial, spatial)):
        starts = np.arange(n) * s - p  # input coordinate of tap 0
        first = np.where(starts >= 0, 0, (-starts + d - 1) // d)
        if np.any((first >= k) | (starts + first * d >= size)):
            raise ValueError(
                f"a pooling window covers no input element: kernel_size={tuple(kernel)}, stride={tuple(stride)}, "
                f"padding={tuple(padding)}, dilation={tuple(dilation)} on input {tuple(spatial)}"
            )
        step = int(np.prod(kernel[axis + 1 :]))
        shape = [1] * nd
        shape[axis] = n
        flat = flat + (first * step).reshape(shape)
    flat.flags.writeable = False
    return flat


def _pool_pads(spatial, kernel, stride, padding, dilation, out_spatial):
    """(before, after) padding that makes every window fit: ``padding`` before, after as far as
    the last (ceil-mode) window reaches, never negative."""
    return tuple(
        (p, max(p, (o - 1) * s + d * (k - 1) + 1 - size - p))
        for size, k, s, p, d, o in zip(spatial, kernel, stride, padding, dilation, out_spatial)
    )


def _running_max(xp, kernel, stride, padding, dilation, out_spatial, first_valid, out, argmax, nan_aware):
    """Running maximum over the kernel offsets, in scan order, into ``out`` with the winning
    offset's index into ``argmax``.

    A later offset takes over only when strictly greater, so ties keep the first.  With
    ``nan_aware``, a NaN always takes over (the last NaN wins, as in PyTorch's CPU kernel); without
    it the values still propagate NaN (np.maximum) but the argmax of a NaN window is not PyTorch's,
    so the caller reruns with ``nan_aware`` when the output has a NaN.
    """
    lead = (slice(None), slice(None))
    offsets = kernel_offsets(kernel)
    index_dtype = argmax.dtype.type
    if any(padding):
        out[...] = -np.inf
        argmax[...] = first_valid.astype(argmax.dtype)  # (cast once, then broadcast)
        rest = enumerate(offsets)
    else:
        np.copyto(out, xp[lead + window_slices(offsets[0], out_spatial, stride, dilation)])
        argmax[...] = 0
        rest = enumerate(offsets[1:], start=1)
    size = out.size
    take = scratch("pool_take", size, bool).reshape(out.shape)
    nan = scratch("pool_nan", size, bool).reshape(out.shape) if nan_aware else None
    # argmax = take ? j : argmax, branch-free: argmax ^= take * (argmax ^ j).  Masked writes
    # (np.copyto(..., where=take)) are 50x slower on a random mask.
    take_int = take.view(np.uint8)
    flip = scratch("pool_tmp", size, argmax.dtype).reshape(out.shape)
    for j, offset in rest:
        v = xp[lead + window_slices(offset, out_spatial, stride, dilation)]
        np.greater(v, out, out=take)  # strict: the first of equal maxima stays
        if nan_aware:
            take |= np.isnan(v, out=nan)
            np.copyto(out, v, where=take)
        else:
            np.maximum(out, v, out=out)
        np.bitwise_xor(argmax, index_dtype(j), out=flip)
        np.multiply(flip, take_int, out=flip)
        np.bitwise_xor(argmax, flip, out=argmax)
    return out, argmax


# Passes over at least this many (input element x kernel offset) pairs split their batch over
# threads (numcnn._threads); LeNet's pools (0.3M elements x 4) stay on one thread.
_PARALLEL_MIN_WORK = 4e6


def _max_pool_forward(x, kernel_size, stride, padding, dilation, ceil_mode, nd):
    kernel, stride, padding, dilation = _check_pool_args(x, kernel_size, stride, padding, dilation, nd)
    out_spatial = pool_output_shape(x.shape[2:], kernel, stride, padding, dilation, bool(ceil_mode))
    pads = _pool_pads(x.shape[2:], kernel, stride, padding, dilation, out_spatial)
    first_valid = _first_valid_offset(kernel, stride, padding, dilation, out_spatial, x.shape[2:])
    offsets = kernel_offsets(kernel)
    index_dtype = np.uint8 if len(offsets) <= 256 else np.int32
    geometry = (kernel, stride, padding, dilation, out_spatial, first_valid)

    out = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)
    argmax = np.empty(out.shape, dtype=index_dtype)

    def part(start, stop):
        # each part writes its rows of out and argmax; the padded input is the thread's scratch
        xp = pad_into_scratch(x[start:stop], pads, "pool_pad", value=-np.inf)
        results = (out[start:stop], argmax[start:stop])
        _running_max(xp, *geometry, *results, nan_aware=False)
        if np.isnan(results[0]).any():
            # np.maximum let a NaN through, but the argmax must follow PyTorch's NaN rule: redo exactly
            _running_max(xp, *geometry, *results, nan_aware=True)

    ranges = _threads.parts(x.shape[0], x.size * len(offsets), _PARALLEL_MIN_WORK, uses_blas=False)
    _threads.run(part, ranges, uses_blas=False)
    return out, MaxPoolCache(x.shape, x.dtype, argmax, kernel, stride, padding, dilation, out.shape)


def max_pool_values(x, kernel_size, stride, padding, dilation, ceil_mode, nd):
    """The output of ``max_pool{nd}d_forward`` alone, for a pass that records nothing (inference,
    under ``no_grad``): the same ``np.maximum`` running maximum over the kernel offsets, so the
    same values (NaN propagates), without the argmax a backward needs, which takes four of the
    five passes per offset (ResNet-18's stem pool, x (8, 64, 112, 112) k3 s2 p1: see
    notes/bench-models.md).  ``x``: batched, (N, C, *spatial).
    """
    kernel, stride, padding, dilation = _check_pool_args(x, kernel_size, stride, padding, dilation, nd)
    out_spatial = pool_output_shape(x.shape[2:], kernel, stride, padding, dilation, bool(ceil_mode))
    pads = _pool_pads(x.shape[2:], kernel, stride, padding, dilation, out_spatial)
    offsets = kernel_offsets(kernel)
    lead = (slice(None), slice(None))
    out = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)

    def part(start, stop):
        xp = pad_into_scratch(x[start:stop], pads, "pool_pad", value=-np.inf)
        rows = out[start:stop]
        windows = [xp[lead + window_slices(offset, out_spatial, stride, dilation)] for offset in offsets]
        np.copyto(rows, windows[0])
        for v in windows[1:]:
            np.maximum(rows, v, out=rows)
        if np.isnan(rows).any():
            # as _max_pool_forward's exact rerun: strictly greater or NaN takes over, so the
            # first of equal zeros keeps its sign (np.maximum's choice between -0.0 and +0.0 is
            # its SIMD kernel's) and the last NaN wins
            np.copyto(rows, windows[0])
            for v in windows[1:]:
                np.copyto(rows, v, where=np.greater(v, rows) | np.isnan(v))

    ranges = _threads.parts(x.shape[0], x.size * len(offsets), _PARALLEL_MIN_WORK, uses_blas=False)
    _threads.run(part, ranges, uses_blas=False)
    return out


def _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd):
    """The public forwards' result: ``(out, cache)``, or ``((out, indices), cache)``."""
    out, cache = _max_pool_forward(x, kernel_size, stride, padding, dilation, ceil_mode, nd)
    return ((out, max_pool_indices(cache)), cache) if return_indices else (out, cache)


@unbatched_backward
def _max_pool_backward(dout, cache: MaxPoolCache):
    check_cache(cache, MaxPoolCache, "a max-pool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    work = math.prod(cache.x_shape) * math.prod(cache.kernel)
    dx = np.empty(cache.x_shape, dtype=cache.dtype)

    def part(start, stop):
        _scatter_max_grad(dout[start:stop], cache.argmax[start:stop], dx[start:stop], cache)

    _threads.run(part, _threads.parts(cache.x_shape[0], work, _PARALLEL_MIN_WORK, uses_blas=False), uses_blas=False)
    return dx


def _scatter_max_grad(dout, argmax, dx, cache: MaxPoolCache):
    """Into ``dx``: each ``dout`` entry added at its window's winning offset (zero elsewhere)."""
    out_spatial = cache.out_shape[2:]
    x_spatial = dx.shape[2:]
    pads = _pool_pads(x_spatial, cache.kernel, cache.stride, cache.padding, cache.dilation, out_spatial)
    if any(lo or hi for lo, hi in pads):
        # a zeroed padded buffer in this thread's scratch; its inside is copied into dx below
        padded_shape = dx.shape[:2] + tuple(size + lo + hi for size, (lo, hi) in zip(x_spatial, pads))
        dxp = scratch("pool_pad", math.prod(padded_shape), cache.dtype).reshape(padded_shape)
    else:
        dxp = dx
    dxp[...] = 0
    lead = (slice(None), slice(None))
    overlapping = any(s < d * (k - 1) + 1 for k, s, d in zip(cache.kernel, cache.stride, cache.dilation))
    mask = scratch("pool_take", argmax.size, bool).reshape(argmax.shape)
    index_dtype = argmax.dtype.type
    # dout * mask is branch-free and several times faster than masked writes, but only right
    # when dout is finite (inf * 0 and nan * 0 are nan, while unselected positions must get 0).
    finite = bool(np.isfinite(dout).all())
    tmp = scratch("pool_tmp", dout.size, cache.dtype).reshape(dout.shape) if (finite and overlapping) else None
    for j, offset in enumerate(kernel_offsets(cache.kernel)):
        target = dxp[lead + window_slices(offset, out_spatial, cache.stride, cache.dilation)]
        np.equal(argmax, index_dtype(j), out=mask)
        if not finite:
            np.add(target, dout, out=target, where=mask)
        elif overlapping:
            np.add(target, np.multiply(dout, mask, out=tmp), out=target)  # overlapping windows accumulate
        else:
            np.multiply(dout, mask, out=target)  # each input position is in one window at most
    if finite and not overlapping:
        # dout * 0 is -0.0 where dout < 0; PyTorch adds into zeros, which gives +0.0 (and turns
        # a winner's -0.0 into +0.0).  Adding +0 does the same, so the losers' zeros are +0.0 and
        # Sequential's fused ReLU + max pool gives these gradients bit for bit.
        np.add(dxp, dxp.dtype.type(0), out=dxp)
    if dxp is not dx:
        unpad(dxp, pads, out=dx)
    return dx


@accepts_unbatched(2)
def max_pool2d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling, forward pass, with PyTorch's semantics.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (C, H, W) unbatched, floating
    kernel_size : int or (int, int)
    stride : int or (int, int), default (None or ``()``) ``kernel_size``
    padding : int or (int, int), at most ``kernel_size // 2``; padded positions act as -inf
    dilation : int or (int, int)
    ceil_mode : bool
        Round the output size up, keeping a last partial window only if it starts inside the input
        or the left padding.
    return_indices : bool
        Also return PyTorch's indices: the result is then ``((out, indices), cache)``, with
        ``indices`` int64 (N, C, H_out, W_out), the flat index ``h * W + w`` of each window's
        winner in its input plane (what :func:`max_unpool2d_forward` takes).

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        ``H_out = floor_or_ceil((H + 2 * padding - dilation * (kH - 1) - 1) / stride) + 1``.
        ``(out, indices)`` when ``return_indices``.
    cache : MaxPoolCache

    Notes
    -----
    Ties go to the first maximum in row-major scan order of the window; it alone gets the
    gradient.  NaN propagates.

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import max_pool2d_forward
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> out, cache = max_pool2d_forward(x, 2)
    >>> out[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=2)


def max_pool2d_backward(dout, cache):
    """Backward pass of :func:`max_pool2d_forward`: ``dx`` of the input's shape and dtype.

    Each output's gradient goes to its window's (first) maximum; overlapping windows accumulate.
    """
    return _max_pool_backward(dout, cache)


@accepts_unbatched(1)
def max_pool1d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling: x (N, C, L) or (C, L); see :func:`max_pool2d_forward`."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=1)


def max_pool1d_backward(dout, cache):
    """Backward pass of :func:`max_pool1d_forward`."""
    return _max_pool_backward(dout, cache)


@accepts_unbatched(3)
def max_pool3d_forward(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling: x (N, C, D, H, W) or (C, D, H, W); see :func:`max_pool2d_forward`."""
    return _max_pool(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd=3)


def max_pool3d_backward(dout, cache):
    """Backward pass of :func:`max_pool3d_forward`."""
    return _max_pool_backward(dout, cache)
