"""Max-pool indices and max unpooling, for 1, 2 and 3 spatial dimensions.

``max_pool*_forward(..., return_indices=True)`` returns ``((out, indices), cache)``: the result
PyTorch returns, then the cache, so the ``*_forward -> (result, cache)`` contract holds and
``max_pool*_backward(dout, cache)`` is unchanged (indices carry no gradient).  ``indices`` are
PyTorch's: int64, shape (N, C, *out), the flat (row-major) index of each window's winner within
its unpadded input plane.  ``max_unpool*_forward(x, indices, ...)`` scatters ``x`` to those
positions of a zero output plane; its backward gathers.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

from .. import _threads
from ._batch import accepts_unbatched, unbatched_backward
from ._window import as_tuple, check_cache, check_dout, check_input, pool_stride

__all__ = [
    "max_pool_indices",
    "max_unpool1d_forward",
    "max_unpool1d_backward",
    "max_unpool2d_forward",
    "max_unpool2d_backward",
    "max_unpool3d_forward",
    "max_unpool3d_backward",
]


def max_pool_indices(cache) -> np.ndarray:
    """PyTorch's ``return_indices`` from a max-pool cache: int64 (N, C, *out) flat per-plane indices.

    The cache's ``argmax`` is the row-major kernel-offset index of each window's winner; the
    winner's input coordinate is ``o * stride - padding + offset * dilation`` per dimension.
    """
    out_spatial = cache.out_shape[2:]
    nd = len(out_spatial)
    taps = np.unravel_index(cache.argmax.astype(np.int64), cache.kernel)
    coords = []
    for axis, (tap, s, p, d, n) in enumerate(zip(taps, cache.stride, cache.padding, cache.dilation, out_spatial)):
        shape = [1] * (nd + 2)
        shape[2 + axis] = n
        coords.append(np.arange(n, dtype=np.int64).reshape(shape) * s - p + tap * d)
    # Row-major flattening by hand, as PyTorch computes it (np.ravel_multi_index would add a
    # bounds check that the max-pool forward has already made unnecessary).
    flat = np.zeros((), dtype=np.int64)
    for coord, size in zip(coords, cache.x_shape[2:]):
        flat = flat * size + coord
    return flat


@dataclass(frozen=True)
class MaxUnpoolCache:
    """What the backward pass of a max unpool needs."""

    targets: dict  # (start, stop) batch range -> flat indices into that range of the output
    x_shape: tuple
    dtype: np.dtype
    out_shape: tuple  # full output shape (N, C, *spatial)


def _unpool_output_size(in_spatial, kernel, stride, padding, output_size):
    """PyTorch's ``_unpool_output_size``: the default, or a checked ``output_size``."""
    nd = len(kernel)
    default = tuple((n - 1) * s + k - 2 * p for n, s, k, p in zip(in_spatial, stride, kernel, padding))
    if output_size is None:
        size = default
    else:
        size = tuple(int(v) for v in output_size)
        if len(size) == nd + 2:
            size = size[2:]
        if len(size) != nd:
            raise ValueError(
                f"output_size should be a sequence of {nd} or {nd + 2} ints, got {tuple(output_size)!r}"
            )
        for axis, (o, dflt, s) in enumerate(zip(size, default, stride)):
            if not dflt - s < o < dflt + s:
                raise ValueError(
                    f"invalid output_size {tuple(output_size)} (dimension {axis} must be between "
                    f"{dflt - s} and {dflt + s}, exclusive)"
                )
    if any(o < 1 for o in size):
        raise ValueError(f"max_unpool: the output size {size} is not positive (input {tuple(in_spatial)})")
    return size


# Outputs of at least this many elements split their batch over threads (numcnn._threads).
_PARALLEL_MIN_ELEMENTS = 1 << 20


def _max_unpool_forward(x, indices, kernel_size, stride, padding, output_size, nd):
    check_input(x, nd, "x")
    if not isinstance(indices, np.ndarray) or not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(
            f"indices must be an integer numpy.ndarray (from return_indices=True), got "
            f"{getattr(indices, 'dtype', type(indices).__name__)}"
        )
    if indices.shape != x.shape:
        raise ValueError(f"indices must have the shape of x {x.shape}, got {indices.shape}")
    kernel = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
    stride = pool_stride(stride, kernel, nd)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    out_spatial = _unpool_output_size(x.shape[2:], kernel, stride, padding, output_size)
    plane_size = math.prod(out_spatial)
    out = np.empty(x.shape[:2] + out_spatial, dtype=x.dtype)

    def scatter(start, stop):
        flat_idx = indices[start:stop].reshape((stop - start) * x.shape[1], math.prod(x.shape[2:])).astype(np.intp, copy=False)
        # one pass: as unsigned, a negative index is larger than any plane
        if flat_idx.size and flat_idx.view(np.uintp).max() >= plane_size:
            bad = flat_idx.min() if flat_idx.min() < 0 else flat_idx.max()
            raise ValueError(
                f"max_unpool: index {int(bad)} in indices is out of range for an output plane of shape "
                f"{out_spatial} ({plane_size} elements)"
            )
        # One flat scatter over the range's planes: plane p's positions start at p * plane_size.
        target = (flat_idx + (np.arange(flat_idx.shape[0], dtype=np.intp) * plane_size)[:, None]).ravel()
        part = out[start:stop].reshape(-1)
        part[...] = 0
        part[target] = x[start:stop].ravel()
        return target

    ranges = _threads.parts(x.shape[0], out.size, _PARALLEL_MIN_ELEMENTS, uses_blas=False)
    targets = dict(zip(ranges, _threads.run(scatter, ranges, uses_blas=False)))
    cache = MaxUnpoolCache(targets=targets, x_shape=x.shape, dtype=x.dtype, out_shape=out.shape)
    return out, cache


@unbatched_backward
def _max_unpool_backward(dout, cache: MaxUnpoolCache):
    check_cache(cache, MaxUnpoolCache, "a max_unpool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    dx = np.empty(cache.x_shape, dtype=cache.dtype)

    def gather(start, stop):
        # the targets were range-checked by the forward: 'clip' skips np.take's bounds checks
        np.take(dout[start:stop].reshape(-1), cache.targets[start, stop], out=dx[start:stop].reshape(-1), mode="clip")

    _threads.run(gather, list(cache.targets), uses_blas=False)
    return dx


@accepts_unbatched(2, indices=True)
def max_unpool2d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of max pooling (``torch.nn.functional.max_unpool2d``), forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (C, H, W) unbatched, floating
        Typically the pooled output.
    indices : integer ndarray, shape of ``x``
        Flat per-plane positions in the output, as returned by
        ``max_pool2d_forward(..., return_indices=True)``.
    kernel_size, stride, padding : as the max pool's (stride defaults to kernel_size)
    output_size : (H_out, W_out) or (N, C, H_out, W_out), optional
        Picks among the sizes the pool maps to the same shape; each within ``stride`` of the default.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        Zero except at ``indices``; ``H_out = (H - 1) * stride - 2 * padding + kH`` by default.
        Where indices repeat, the last value written wins (as PyTorch's CPU kernel).
    cache : MaxUnpoolCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import max_pool2d_forward, max_unpool2d_forward
    >>> x = np.array([[[[1., 2.], [3., 4.]]]])
    >>> (out, idx), _ = max_pool2d_forward(x, 2, return_indices=True)
    >>> idx.ravel().tolist()
    [3]
    >>> max_unpool2d_forward(out, idx, 2)[0][0, 0]
    array([[0., 0.],
           [0., 4.]])
    """
    return _max_unpool_forward(x, indices, kernel_size, stride, padding, output_size, nd=2)


def max_unpool2d_backward(dout, cache):
    """Backward pass of :func:`max_unpool2d_forward`: ``dx[i] = dout[indices[i]]`` per plane."""
    return _max_unpool_backward(dout, cache)


@accepts_unbatched(1, indices=True)
def max_unpool1d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """1-D max unpooling: x (N, C, L) or (C, L); see :func:`max_unpool2d_forward`."""
    return _max_unpool_forward(x, indices, kernel_size, stride, padding, output_size, nd=1)


def max_unpool1d_backward(dout, cache):
    """Backward pass of :func:`max_unpool1d_forward`."""
    return _max_unpool_backward(dout, cache)


@accepts_unbatched(3, indices=True)
def max_unpool3d_forward(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """3-D max unpooling: x (N, C, D, H, W) or (C, D, H, W); see :func:`max_unpool2d_forward`."""
    return _max_unpool_forward(x, indices, kernel_size, stride, padding, output_size, nd=3)


def max_unpool3d_backward(dout, cache):
    """Backward pass of :func:`max_unpool3d_forward`."""
    return _max_unpool_backward(dout, cache)
