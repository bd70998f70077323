"""Shared machinery of every conv and pool: argument checks, padding, window views, col2im.

Everything here is N-dimensional: a 1-D, 2-D or 3-D op differs only in ``nd``, the number of
spatial dimensions after the leading (N, C).  Argument checking lives here, once, so that every
op fails the same way, before any work, with a message that names the argument and the shapes.
"""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = [
    "as_tuple",
    "pool_stride",
    "pool_window",
    "check_input",
    "check_dout",
    "check_cache",
    "check_weight",
    "check_groups",
    "conv_padding",
    "conv_output_shape",
    "pool_output_shape",
    "pad_constant",
    "kernel_offsets",
    "window_slices",
    "window_view",
    "im2col",
    "col2im",
    "col2im_add",
    "col2im_unpadded",
]

_SPATIAL = {1: "(L)", 2: "(H, W)", 3: "(D, H, W)"}


def as_tuple(value, nd: int, name: str, *, minimum: int | None = None) -> tuple[int, ...]:
    """Return ``value`` (an int, or a sequence of ``nd`` ints or of one int for every dimension,
    as PyTorch broadcasts ``padding=(1,)``) as a tuple of ``nd`` ints."""
    expected = f"an int or a tuple of {nd} ints" + ("" if nd == 1 else " (or of one, for all)")
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if isinstance(value, numbers.Integral):
        items = (int(value),) * nd
    else:
        try:
            items = tuple(value)
        except TypeError:
            raise TypeError(f"{name} must be {expected}, got {value!r}") from None
        if len(items) not in (1, nd) or not all(
            isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in items
        ):
            raise TypeError(f"{name} must be {expected}, got {value!r}")
        items = tuple(int(v) for v in items) * (nd // len(items))
    if minimum is not None and any(v < minimum for v in items):
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return items


def pool_stride(stride, kernel: tuple[int, ...], nd: int) -> tuple[int, ...]:
    """A pool's stride: the kernel size when None or empty (PyTorch takes ``stride=()`` so)."""
    if stride is None or (isinstance(stride, (tuple, list)) and not stride):
        return kernel
    return as_tuple(stride, nd, "stride", minimum=1)


def pool_window(kernel_size, stride, padding, nd: int) -> tuple[tuple[int, ...], ...]:
    """A max or average pool's (kernel, stride, padding) as tuples of ``nd`` ints, checked: the
    padding at most half the kernel, as PyTorch requires."""
    kernel = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
    stride = pool_stride(stride, kernel, nd)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(
            f"padding should be at most half of the kernel size, got padding={padding}, kernel_size={kernel}"
        )
    return kernel, stride, padding


def check_input(x, nd: int, name: str = "x") -> np.ndarray:
    """Check that ``x`` is a floating (N, C, *spatial) array with ``nd`` spatial dimensions (an
    unbatched (C, *spatial) one has had its batch axis added by :mod:`._batch` by now)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.ndim != nd + 2:
        raise ValueError(
            f"{name} must be {nd + 1}-D (C, {_SPATIAL[nd][1:]} (unbatched) or {nd + 2}-D (N, C, {_SPATIAL[nd][1:]}, "
            f"got shape {x.shape} ({x.ndim}-D)"
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must have a floating dtype (float16/32/64), got {x.dtype}")
    return x


def check_weight(weight, x: np.ndarray, nd: int, layout: str) -> np.ndarray:
    """Check that ``weight`` is an (nd + 2)-D array (``layout`` names its axes) of x's dtype."""
    if not isinstance(weight, np.ndarray):
        raise TypeError(f"weight must be a numpy.ndarray, got {type(weight).__name__}")
    if weight.ndim != nd + 2:
        raise ValueError(f"weight must be {nd + 2}-D {layout}, got shape {weight.shape} ({weight.ndim}-D)")
    if weight.dtype != x.dtype:
        raise TypeError(f"weight dtype {weight.dtype} does not match x dtype {x.dtype}")
    return weight


def check_groups(groups) -> int:
    """``groups`` as a positive int."""
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    return int(groups)


def check_cache(cache, cls, op: str):
    """The backward pass needs the cache its own forward produced; ``op`` names that forward."""
    if not isinstance(cache, cls):
        raise TypeError(f"cache must be the {cls.__name__} returned by {op}, got {type(cache).__name__}")
    return cache


def check_dout(dout, expected_shape: tuple[int, ...], dtype, name: str = "dout") -> np.ndarray:
    """Check that the upstream gradient has the forward output's shape; return it in ``dtype``."""
    if not isinstance(dout, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(dout).__name__}")
    if dout.shape != tuple(expected_shape):
        raise ValueError(
            f"{name} must have the forward output's shape {tuple(expected_shape)}, got {dout.shape}"
        )
    return dout.astype(dtype, copy=False)


def conv_padding(padding, nd: int, kernel, stride, dilation) -> tuple[tuple[int, int], ...]:
    """Per-dimension (before, after) zero padding of a convolution, PyTorch's rules.

    ``'same'`` splits the total ``dilation * (kernel - 1)`` with the odd extra after (right,
    bottom), as PyTorch does; it needs stride 1.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' is not supported for strided convolutions, got stride={stride}"
                )
            pads = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                pads.append((total // 2, total - total // 2))
            return tuple(pads)
        raise ValueError(f"padding must be 'valid', 'same', an int or a tuple of {nd} ints, got {padding!r}")
    return tuple((p, p) for p in as_tuple(padding, nd, "padding", minimum=0))


def conv_output_shape(spatial, kernel, stride, dilation, pads, what="convolution") -> tuple[int, ...]:
    """Output size of each spatial dimension: floor((in + pads - d(k-1) - 1) / s) + 1."""
    out = []
    for size, k, s, d, (lo, hi) in zip(spatial, kernel, stride, dilation, pads):
        padded = size + lo + hi
        span = d * (k - 1) + 1
        if span > padded:
            raise ValueError(
                f"{what}: the (dilated) kernel size {tuple(kernel)} (dilation {tuple(dilation)}) is larger "
                f"than the padded input {tuple(a + b + c for a, (b, c) in zip(spatial, pads))} "
                f"(input {tuple(spatial)})"
            )
        out.append((padded - span) // s + 1)
    return tuple(out)


def pool_output_shape(spatial, kernel, stride, padding, dilation, ceil_mode) -> tuple[int, ...]:
    """Pooling output size with PyTorch's ceil_mode rule (the last window starts in the input)."""
    out = []
    for size, k, s, p, d in zip(spatial, kernel, stride, padding, dilation):
        numerator = size + 2 * p - d * (k - 1) - 1
        o = (-(-numerator // s) if ceil_mode else numerator // s) + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1
        if o < 1:
            raise ValueError(
                f"pooling window {tuple(kernel)} (stride {tuple(stride)}, padding {tuple(padding)}, "
                f"dilation {tuple(dilation)}) is larger than the input {tuple(spatial)}: no output"
            )
        out.append(o)
    return tuple(out)


def pad_constant(x: np.ndarray, pads, value=0, buf=None) -> np.ndarray:
    """Pad the spatial dimensions of ``x`` by ``pads`` ((before, after) each); a new array, or
    one laid out in the 1-D ``buf`` when given (scratch, large enough).

    Returns ``x`` itself when there is nothing to pad (callers never write to the result).
    """
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    if buf is None:
        out = np.full(shape, value, dtype=x.dtype)
    else:
        out = buf[: math.prod(shape)].reshape(shape)
        out[...] = value
    out[(slice(None), slice(None)) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads))] = x
    return out


def unpad(a: np.ndarray, pads, out: np.ndarray | None = None) -> np.ndarray:
    """The unpadded region of a padded (gradient) array: ``pads`` (before, after) per spatial
    dimension removed.  Copied into ``out`` when given; else ``a`` itself when there is nothing
    to remove, or a C-contiguous copy."""
    region = a[(slice(None), slice(None)) + tuple(slice(lo, n - hi) for n, (lo, hi) in zip(a.shape[2:], pads))]
    if out is not None:
        np.copyto(out, region)
        return out
    if not any(lo or hi for lo, hi in pads):
        return a
    return region.copy()  # a copy even when the region is contiguous (``a`` may be scratch)


def kernel_offsets(kernel) -> list[tuple[int, ...]]:
    """Every kernel offset, in row-major (scan) order."""
    return list(itertools.product(*(range(k) for k in kernel)))


def window_slices(offset, out_shape, stride, dilation) -> tuple[slice, ...]:
    """Spatial slices of a padded input that one kernel offset sees across all output positions."""
    return tuple(
        slice(o * d, o * d + s * (n - 1) + 1, s) for o, n, s, d in zip(offset, out_shape, stride, dilation)
    )


def window_view(xp: np.ndarray, kernel, stride, dilation, out_shape) -> np.ndarray:
    """Read-only view (N, C, *out_shape, *kernel) of every window of a padded input."""
    nd = len(kernel)
    lead, spatial = xp.strides[:2], xp.strides[2:]
    strides = lead + tuple(st * s for st, s in zip(spatial, stride)) + tuple(
        st * d for st, d in zip(spatial, dilation)
    )
    shape = xp.shape[:2] + tuple(out_shape) + tuple(kernel)
    assert len(shape) == 2 + 2 * nd
    return as_strided(xp, shape, strides, writeable=False)


def im2col(xp: np.ndarray, kernel, stride, dilation, out_shape, out=None) -> np.ndarray:
    """Columns of a padded input, laid out (C, *kernel, N, *out_shape), one copy.

    Reshaped to (C * prod(kernel), N * prod(out_shape)) this is the right-hand side of the
    convolution GEMM; the channel-major order lets grouped convolutions split it without a copy.
    ``out``, if given, is a C-contiguous buffer of that shape to fill (saves first-touching a
    fresh array, which costs about as much as the copy itself).
    """
    nd = len(kernel)
    view = window_view(xp, kernel, stride, dilation, out_shape)
    # (N, C, *out, *k) -> (C, *k, N, *out)
    order = (1,) + tuple(range(2 + nd, 2 + 2 * nd)) + (0,) + tuple(range(2, 2 + nd))
    if out is None:
        return np.ascontiguousarray(view.transpose(order))
    np.copyto(out, view.transpose(order))
    return out


def col2im(cols: np.ndarray, padded_shape, kernel, stride, dilation, out_shape) -> np.ndarray:
    """Adjoint of :func:`im2col`: sum the columns (C, *kernel, N, *out) back onto a padded input.

    One strided slice-add per kernel offset (prod(kernel) NumPy calls), so overlapping windows
    accumulate; no per-pixel loop.
    """
    nd = len(kernel)
    dxp = np.zeros(padded_shape, dtype=cols.dtype)
    # (C, N, *out) -> (N, C, *out) for each offset
    swap = (1, 0) + tuple(range(2, 2 + nd))
    for offset in kernel_offsets(kernel):
        sl = (slice(None), slice(None)) + window_slices(offset, out_shape, stride, dilation)
        dxp[sl] += cols[(slice(None),) + offset].transpose(swap)
    return dxp


def _inside(size, pad_before, shift, stride, n_out):
    """Output positions [lo, hi) whose input index o * stride + shift - pad_before lies in
    [0, size), and the input index of output lo: the other positions read padding."""
    shift -= pad_before
    lo = min(n_out, max(0, -(shift // stride)))
    hi = max(lo, min(n_out, (size - 1 - shift) // stride + 1))
    return lo, hi, lo * stride + shift


def _unpadded_targets(dx_shape, pads, kernel, stride, dilation, out_shape):
    """For each kernel offset that reaches the unpadded input: ``(offset, box, target, whole)``,
    the output positions whose window entry lies inside it, the slices of dx they land on, and
    whether those cover all of dx (once each)."""
    nd = len(kernel)
    for offset in kernel_offsets(kernel):
        box, target, whole = [], [], True
        for axis in range(nd):
            size = dx_shape[2 + axis]
            lo, hi, first = _inside(size, pads[axis][0], offset[axis] * dilation[axis], stride[axis], out_shape[axis])
            box.append(slice(lo, hi))
            target.append(slice(first, first + (hi - lo - 1) * stride[axis] + 1, stride[axis]))
            whole = whole and first == 0 and hi - lo == size and (stride[axis] == 1 or size == 1)
        if all(b.stop > b.start for b in box):
            yield offset, tuple(box), tuple(target), whole


def col2im_unpadded(dx: np.ndarray, cols: np.ndarray, pads, kernel, stride, dilation, out_shape) -> np.ndarray:
    """:func:`col2im` of ``cols`` onto the unpadded ``dx`` (N, C, *spatial) of an input padded by
    ``pads`` ((before, after) per axis), replacing dx's contents: the columns' entries on padding
    are dropped, so there is no padded buffer to zero and crop afterwards.  When one kernel
    offset's windows cover all of dx (stride 1, padding that keeps the size), its columns are
    copied rather than added to a zeroed dx: one pass over dx fewer."""
    nd = len(kernel)
    lead = (slice(None), slice(None))
    swap = (1, 0) + tuple(range(2, 2 + nd))  # (C, N, *out) -> (N, C, *out)
    targets = list(_unpadded_targets(dx.shape, pads, kernel, stride, dilation, out_shape))
    whole = [t for t in targets if t[3]]
    if whole:
        targets.remove(whole[0])
        offset, box = whole[0][:2]
        np.copyto(dx, cols[(slice(None),) + offset][lead + box].transpose(swap))
    else:
        dx[...] = 0
    for offset, box, target, _ in targets:
        t = dx[lead + target]
        np.add(t, cols[(slice(None),) + offset][lead + box].transpose(swap), out=t)
    return dx


def col2im_add(dxp: np.ndarray, cols: np.ndarray, kernel, stride, dilation, out_shape) -> np.ndarray:
    """Adjoint of :func:`im2col`, in place: add columns (C, *kernel, N, *out) onto ``dxp``.

    ``dxp`` (N, C, *padded) is a buffer the caller owns.  One strided slice-add per kernel offset,
    so overlapping windows accumulate; no per-pixel loop.  (Adding into a phase-split dense buffer
    instead of stride-s views measured slower here: the final interleave costs more than it saves.)
    """
    nd = len(kernel)
    lead = (slice(None), slice(None))
    swap = (1, 0) + tuple(range(2, 2 + nd))  # (C, N, *out) -> (N, C, *out)
    for offset in kernel_offsets(kernel):
        target = dxp[lead + window_slices(offset, out_shape, stride, dilation)]
        np.add(target, cols[(slice(None),) + offset].transpose(swap), out=target)
    return dxp
