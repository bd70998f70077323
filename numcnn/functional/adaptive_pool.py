"""Adaptive average and max pooling, forward and backward, for 1, 2 and 3 spatial dimensions.

The output size is given; output cell ``i`` of an axis pools input ``[floor(i * In / Out),
ceil((i + 1) * In / Out))``, PyTorch's windows (they overlap when ``Out`` does not divide ``In``;
``Out > In`` is allowed and repeats inputs).  ``output_size=1`` is global pooling.

Average pooling is separable: window sums one axis at a time (a reshape-sum where ``Out``
divides ``In``, otherwise one masked gather per tap), then a division by the window sizes.
Max pooling over small windows of one size, side by side, is a plain max pool (same windows,
ties and NaN rule).  Otherwise it gathers every window (padded to the largest by repeating its last
element), then scans the taps keeping the first maximum in row-major order, or the
last NaN, as PyTorch's CPU kernel; its backward scatters onto the winners' flat indices (accumulating, since windows
may overlap).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

import numpy as np

from ._batch import accepts_unbatched, unbatched_backward
from ._window import check_cache, check_dout, check_input
from .pool import MaxPoolCache, _max_pool_backward, _max_pool_forward
from .unpool import max_pool_indices

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
    "adaptive_windows",
]


def _check_output_size(x, output_size, nd) -> tuple[int, ...]:
    """``output_size`` (int, or tuple of ints/None where None keeps the input size) as a tuple."""
    spatial = x.shape[2:]
    if isinstance(output_size, (bool, np.bool_)):
        raise TypeError(f"output_size must be an int or a tuple of {nd} ints (or None), got {output_size!r}")
    if isinstance(output_size, numbers.Integral):
        sizes = (int(output_size),) * nd
    else:
        try:
            items = tuple(output_size)
        except TypeError:
            raise TypeError(
                f"output_size must be an int or a tuple of {nd} ints (or None), got {output_size!r}"
            ) from None
        if len(items) != nd or not all(
            v is None or (isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_))) for v in items
        ):
            raise TypeError(f"output_size must be an int or a tuple of {nd} ints (or None), got {output_size!r}")
        sizes = tuple(n if v is None else int(v) for v, n in zip(items, spatial))
    if any(o <= 0 for o in sizes):
        raise ValueError(f"output_size must be positive, got {output_size!r} (input spatial shape {spatial})")
    if any(n <= 0 for n in spatial):
        raise ValueError(f"x must have non-empty spatial dimensions, got shape {x.shape}")
    return sizes


def adaptive_windows(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's adaptive windows along one axis: ``start = floor(i * In / Out)``,
    ``end = ceil((i + 1) * In / Out)`` for ``i = 0 .. Out - 1``."""
    i = np.arange(out_size, dtype=np.int64)
    start = (i * in_size) // out_size
    end = -((-(i + 1) * in_size) // out_size)
    return start, end


def _axis_shape(nd, axis, n):
    shape = [1] * (nd + 2)
    shape[2 + axis] = n
    return shape


# --- average -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveAvgPoolCache:
    """What the backward pass of an adaptive average pool needs."""

    x_shape: tuple
    dtype: np.dtype
    counts: np.ndarray  # window sizes, broadcastable to out_shape, dtype of x
    out_shape: tuple


def _window_sum(a: np.ndarray, axis: int, start: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``out[i] = sum(a[start[i] : start[i] + count[i]])`` along ``axis``, one gather per tap.

    Taps beyond a window's count are masked with ``np.where`` (never multiplied by 0), so a NaN or
    an inf reaches only the windows that contain it.  Equal, back-to-back windows (``In``
    divisible by ``Out``) are a reshape and one sum.
    """
    n, k = a.shape[axis], int(count.max())
    if np.all(count == k) and np.array_equal(start, np.arange(len(start)) * k) and len(start) * k == n:
        return a.reshape(a.shape[:axis] + (len(start), k) + a.shape[axis + 1 :]).sum(axis=axis + 1)
    shape = [1] * a.ndim
    shape[axis] = len(start)
    out = None
    for j in range(k):
        v = np.take(a, np.minimum(start + j, n - 1), axis=axis)
        if np.any(count <= j):
            v = np.where((count > j).reshape(shape), v, np.zeros((), dtype=a.dtype))
        out = v if out is None else out + v
    return out


def _uniform_blocks(spatial, sizes) -> bool:
    """Whether every axis splits into equal back-to-back windows (``Out`` divides ``In``)."""
    return all(n % o == 0 for n, o in zip(spatial, sizes))


def _blocked_shape(spatial, sizes) -> tuple:
    """(o1, k1, o2, k2, ...): the spatial dims split into (window, offset) pairs."""
    return tuple(v for n, o in zip(spatial, sizes) for v in (o, n // o))


def _adaptive_avg_forward(x, output_size, nd):
    check_input(x, nd, "x")
    sizes = _check_output_size(x, output_size, nd)
    if _uniform_blocks(x.shape[2:], sizes):
        # Equal windows (global pooling included): one reshape and one reduction over all axes.
        blocked = x.reshape(x.shape[:2] + _blocked_shape(x.shape[2:], sizes))
        count = np.asarray(np.prod([n // o for n, o in zip(x.shape[2:], sizes)]), dtype=x.dtype)
        out = blocked.sum(axis=tuple(range(3, 3 + 2 * nd, 2))) / count
        cache = AdaptiveAvgPoolCache(x_shape=x.shape, dtype=x.dtype, counts=count, out_shape=out.shape)
        return out, cache
    counts = np.ones((1, 1) + (1,) * nd, dtype=np.int64)
    out = x
    for axis, (n, o) in enumerate(zip(x.shape[2:], sizes)):
        start, end = adaptive_windows(n, o)
        counts = counts * (end - start).reshape(_axis_shape(nd, axis, o))
        out = _window_sum(out, 2 + axis, start, end - start)
    out = np.ascontiguousarray(out / counts.astype(x.dtype))
    cache = AdaptiveAvgPoolCache(x_shape=x.shape, dtype=x.dtype, counts=counts.astype(x.dtype), out_shape=out.shape)
    return out, cache


@unbatched_backward
def _adaptive_avg_backward(dout, cache: AdaptiveAvgPoolCache):
    check_cache(cache, AdaptiveAvgPoolCache, "an adaptive_avg_pool forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    g = dout / cache.counts
    nd = len(cache.x_shape) - 2
    x_spatial, sizes = cache.x_shape[2:], cache.out_shape[2:]
    if _uniform_blocks(x_spatial, sizes):
        # Every input is in exactly one window: broadcast each window's gradient over it.
        expand = (slice(None), slice(None)) + (slice(None), None) * nd
        blocked = cache.x_shape[:2] + _blocked_shape(x_spatial, sizes)
        return np.broadcast_to(g[expand], blocked).reshape(cache.x_shape)
    for axis in reversed(range(nd)):
        n, o = cache.x_shape[2 + axis], cache.out_shape[2 + axis]
        start, end = adaptive_windows(n, o)
        # The adjoint is again a window sum: input i is covered by windows [first, last).
        i = np.arange(n)
        first = np.searchsorted(end, i, side="right")
        last = np.searchsorted(start, i, side="right")
        g = _window_sum(g, 2 + axis, first, last - first)
    return np.ascontiguousarray(g)


@accepts_unbatched(2)
def adaptive_avg_pool2d_forward(x, output_size):
    """2-D adaptive average pooling (``torch.nn.functional.adaptive_avg_pool2d``), forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (C, H, W) unbatched, floating
    output_size : int or (int or None, int or None)
        (H_out, W_out), positive; None keeps that input size.  May exceed the input size.

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        ``out[..., i, j]`` is the mean of ``x[..., h0:h1, w0:w1]`` with ``h0 = floor(i * H / H_out)``,
        ``h1 = ceil((i + 1) * H / H_out)``, likewise w.  ``output_size=1`` is global average pooling.
    cache : AdaptiveAvgPoolCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import adaptive_avg_pool2d_forward
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> adaptive_avg_pool2d_forward(x, 1)[0].ravel().tolist()  # global average pooling
    [7.5]
    >>> adaptive_avg_pool2d_forward(x, (3, 2))[0][0, 0]
    array([[ 2.5,  4.5],
           [ 6.5,  8.5],
           [10.5, 12.5]])
    """
    return _adaptive_avg_forward(x, output_size, nd=2)


def adaptive_avg_pool2d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool2d_forward`: ``dx`` of the input's shape and dtype."""
    return _adaptive_avg_backward(dout, cache)


@accepts_unbatched(1)
def adaptive_avg_pool1d_forward(x, output_size):
    """1-D adaptive average pooling: x (N, C, L) or (C, L); see :func:`adaptive_avg_pool2d_forward`."""
    return _adaptive_avg_forward(x, output_size, nd=1)


def adaptive_avg_pool1d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool1d_forward`."""
    return _adaptive_avg_backward(dout, cache)


@accepts_unbatched(3)
def adaptive_avg_pool3d_forward(x, output_size):
    """3-D adaptive average pooling: x (N, C, D, H, W) or (C, D, H, W); see :func:`adaptive_avg_pool2d_forward`."""
    return _adaptive_avg_forward(x, output_size, nd=3)


def adaptive_avg_pool3d_backward(dout, cache):
    """Backward pass of :func:`adaptive_avg_pool3d_forward`."""
    return _adaptive_avg_backward(dout, cache)


# --- max ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveMaxPoolCache:
    """What the backward pass of an adaptive max pool needs: the winners' flat indices, or the
    cache of the max pool that computed it (windows of one size at a constant step)."""

    x_shape: tuple
    dtype: np.dtype
    indices: np.ndarray | None  # int64 (N, C, *out): flat per-plane index of each window's winner
    out_shape: tuple
    pool_cache: MaxPoolCache | None = None


def _uniform_windows(spatial, sizes):
    """(kernel, stride) when every axis's adaptive windows are one size, side by side (Out
    divides In), at most ``_POOL_MAX_TAPS`` per window: a plain max pool, with the same windows,
    ties and NaN rule and no gathers.  Else None.

    2 threads, fwd+bwd, max pool against gathers: (64, 512, 14, 14) -> 7 15.9 against 101 ms,
    (32, 64, 32, 32) -> 8 6.9 / 23.3, (32, 64, 24, 24) -> 8 3.0 / 6.6, (32, 256, 8, 8) -> 2
    2.6 / 3.2, (64, 512, 7, 7) -> 1 8.0 / 8.2; but (8, 64, 32, 32) -> 4 (64 taps) 4.8 / 2.6.
    Overlapping windows of one size (13 -> 6: 3 every 2) stay with the gathers: the max pool's
    forward is faster there but its backward's adds onto strided views slower (1.3 / 0.5)."""
    kernel, stride = [], []
    for n, o in zip(spatial, sizes):
        start, end = adaptive_windows(n, o)
        widths, steps = set((end - start).tolist()), set(np.diff(start).tolist())
        if len(widths) != 1 or len(steps) > 1:
            return None
        k = widths.pop()
        s = steps.pop() if steps else k
        if s != k or (n - k) // s + 1 != o:
            return None
        kernel.append(k)
        stride.append(s)
    if math.prod(kernel) > _POOL_MAX_TAPS:
        return None
    return tuple(kernel), tuple(stride)


_POOL_MAX_TAPS = 25


def _adaptive_max_forward(x, output_size, return_indices, nd):
    check_input(x, nd, "x")
    sizes = _check_output_size(x, output_size, nd)
    spatial = x.shape[2:]
    uniform = _uniform_windows(spatial, sizes)
    if uniform is not None:
        # the same windows, ties and NaN rule as max pooling, which is faster (no gathers)
        out, pool_cache = _max_pool_forward(x, uniform[0], uniform[1], 0, 1, False, nd)
        cache = AdaptiveMaxPoolCache(x.shape, x.dtype, None, out.shape, pool_cache)
        return ((out, max_pool_indices(pool_cache)), cache) if return_indices else (out, cache)
    # taps[axis][:, j]: input coordinate of the j-th tap of each window, clamped to the window's
    # last element (re-reading it changes neither the first maximum nor the last NaN).
    taps = []
    for n, o in zip(spatial, sizes):
        start, end = adaptive_windows(n, o)
        kmax = int((end - start).max())
        taps.append(np.minimum(start[:, None] + np.arange(kmax), end[:, None] - 1))
    # Gather every window with the planes last: windows[n] is tap n (row-major over the taps) of
    # every window, shape (*out, N * C), contiguous, so the scans below are whole-array steps.
    planes = x.shape[0] * x.shape[1]
    x_last = np.ascontiguousarray(np.moveaxis(x.reshape((planes,) + spatial), 0, -1))
    grids = np.meshgrid(*(np.arange(t.shape[1]) for t in taps), *(np.arange(o) for o in sizes), indexing="ij")
    coords = tuple(t[grids[nd + a], grids[a]].reshape((-1,) + sizes) for a, t in enumerate(taps))
    windows = x_last[coords]  # (K, *out, N * C)

    # Masked selects (np.where/copyto with a mask) are slow here; max, compares and 0/1 arithmetic
    # are not.  The value is the max (a NaN propagates); the index the first tap equal to it.
    out = windows.max(axis=0)
    index_type = np.uint8 if len(windows) <= 256 else np.int32
    best = np.zeros(out.shape, dtype=index_type)
    found = np.zeros(out.shape, dtype=bool)
    new = np.empty(out.shape, dtype=bool)
    for n in range(len(windows)):
        np.equal(windows[n], out, out=new)
        new &= ~found
        best += new.astype(index_type) * index_type(n)
        found |= new
    nan_windows = np.isnan(out)
    if nan_windows.any():
        # A NaN window reports its LAST NaN, as PyTorch's CPU kernel (`val > max || isnan(val)`).
        found = ~nan_windows
        for n in reversed(range(len(windows))):
            np.isnan(windows[n], out=new)
            new &= ~found
            best += new.astype(index_type) * index_type(n)
            found |= new
    out = np.ascontiguousarray(np.moveaxis(out, -1, 0)).reshape(x.shape[:2] + sizes)
    best = np.moveaxis(best, -1, 0).reshape(x.shape[:2] + sizes)
    # Tap number -> input coordinate per axis -> flat per-plane index (row-major).
    tap_ids = np.unravel_index(best, tuple(t.shape[1] for t in taps))
    indices = np.zeros(best.shape, dtype=np.int64)
    for axis, (t, j, n) in enumerate(zip(taps, tap_ids, spatial)):
        window_ids = np.arange(t.shape[0]).reshape(_axis_shape(nd, axis, t.shape[0]))
        indices = indices * n + t[window_ids, j]
    cache = AdaptiveMaxPoolCache(x_shape=x.shape, dtype=x.dtype, indices=indices, out_shape=out.shape)
    if return_indices:
        return (out, indices.copy()), cache
    return out, cache


@unbatched_backward
def _adaptive_max_backward(dout, cache: AdaptiveMaxPoolCache):
    check_cache(cache, AdaptiveMaxPoolCache, "an adaptive_max_pool forward")
    if cache.pool_cache is not None:
        return _max_pool_backward(dout, cache.pool_cache)
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    planes = cache.x_shape[0] * cache.x_shape[1]
    plane_size = math.prod(cache.x_shape[2:])
    target = cache.indices.reshape(planes, math.prod(cache.out_shape[2:])) + (np.arange(planes, dtype=np.int64) * plane_size)[:, None]
    # bincount sums repeated winners (overlapping windows); it works in float64, cast back after.
    dx = np.bincount(target.ravel(), weights=dout.ravel(), minlength=planes * plane_size)
    return dx.astype(cache.dtype, copy=False).reshape(cache.x_shape)


@accepts_unbatched(2)
def adaptive_max_pool2d_forward(x, output_size, return_indices=False):
    """2-D adaptive max pooling (``torch.nn.functional.adaptive_max_pool2d``), forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), or (C, H, W) unbatched, floating
    output_size : int or (int or None, int or None)
        (H_out, W_out), positive; None keeps that input size.  May exceed the input size.
    return_indices : bool
        Also return the winners' flat per-plane indices: the result is then
        ``((out, indices), cache)`` with ``indices`` int64 (N, C, H_out, W_out).

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        The maximum of each window (windows as :func:`adaptive_avg_pool2d_forward`); ties go to
        the first in row-major order, NaN propagates.
    cache : AdaptiveMaxPoolCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import adaptive_max_pool2d_forward
    >>> (out, idx), _ = adaptive_max_pool2d_forward(np.arange(16.0).reshape(1, 4, 4), (3, 2), return_indices=True)
    >>> out.tolist(), idx.tolist()  # unbatched (C, H, W) in, unbatched out
    ([[[5.0, 7.0], [9.0, 11.0], [13.0, 15.0]]], [[[5, 7], [9, 11], [13, 15]]])
    """
    return _adaptive_max_forward(x, output_size, return_indices, nd=2)


def adaptive_max_pool2d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool2d_forward`: each window's gradient goes to its
    winner; overlapping windows accumulate."""
    return _adaptive_max_backward(dout, cache)


@accepts_unbatched(1)
def adaptive_max_pool1d_forward(x, output_size, return_indices=False):
    """1-D adaptive max pooling: x (N, C, L) or (C, L); see :func:`adaptive_max_pool2d_forward`."""
    return _adaptive_max_forward(x, output_size, return_indices, nd=1)


def adaptive_max_pool1d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool1d_forward`."""
    return _adaptive_max_backward(dout, cache)


@accepts_unbatched(3)
def adaptive_max_pool3d_forward(x, output_size, return_indices=False):
    """3-D adaptive max pooling: x (N, C, D, H, W) or (C, D, H, W); see :func:`adaptive_max_pool2d_forward`."""
    return _adaptive_max_forward(x, output_size, return_indices, nd=3)


def adaptive_max_pool3d_backward(dout, cache):
    """Backward pass of :func:`adaptive_max_pool3d_forward`."""
    return _adaptive_max_backward(dout, cache)
