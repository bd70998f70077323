"""Padding, forward and backward: ``torch.nn.functional.pad`` and a convolution's ``padding_mode``.

``pad_forward(x, pad, mode, value)`` is ``F.pad``: ``pad`` lists (before, after) pairs from the
LAST dimension backwards; negative entries crop.  One implementation serves it and the conv's
``padding_mode`` (``pad_mode`` / ``pad_mode_adjoint``, 'zeros' being 'constant' with 0):
:func:`_pad` pads the positive parts with ``np.pad`` and crops the negative ones, and
:func:`_pad_adjoint`, its exact adjoint, folds the gradient of the padding back onto the input
one axis at a time with slices (reflect adds the mirrored rows, replicate sums the border strip
onto the edge, circular wraps it around), never per element.

PyTorch's order of the two steps, which matters only when a dimension is both padded and
cropped: reflect and replicate pad first, so the padding mirrors or repeats the UNCROPPED input
(``reflect`` of (-1, 2) on [0 1 2 3 4] is [1 2 3 4 3 2]); constant and circular crop first, so
circular wraps the cropped input ([1 2 3 4 1 2]).
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._window import check_cache, check_dout

__all__ = [
    "PADDING_MODES",
    "PAD_MODES",
    "check_padding_mode",
    "check_mode_pads",
    "pad_mode",
    "pad_mode_adjoint",
    "pad_forward",
    "pad_backward",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")  # a convolution's padding_mode
PAD_MODES = ("constant", "reflect", "replicate", "circular")  # pad_forward's mode

_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_padding_mode(padding_mode) -> str:
    """Return ``padding_mode`` if it is one of :data:`PADDING_MODES`, else raise ValueError."""
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {list(PADDING_MODES)}, but got padding_mode={padding_mode!r}"
        )
    return padding_mode


def _grown(lo, hi):
    """The padding part of a (before, after) pair: negative entries (crops) as 0."""
    return max(lo, 0), max(hi, 0)


def _cropped(lo, hi):
    """The cropping part of a (before, after) pair, as positive amounts."""
    return max(-lo, 0), max(-hi, 0)


def _mode_error(mode, size, lo, hi):
    """Why PyTorch refuses ``mode`` padding (lo, hi) on a dimension of ``size``, or None."""
    crop_lo, crop_hi = _cropped(lo, hi)
    kept = size - crop_lo - crop_hi  # what constant and circular (crop first) pad
    if kept < 0 and mode in ("constant", "circular"):
        return f"crops {crop_lo + crop_hi} from the input size {size}"
    if mode == "reflect" and max(lo, hi) >= size:
        return f"must be smaller than the input size {size}"
    if mode == "circular" and max(lo, hi) > kept:
        after = " after cropping" if kept < size else ""
        return f"must be at most the input size {kept}{after} (it would wrap around more than once)"
    if mode in ("reflect", "replicate") and size + lo + hi < 1:
        return f"leaves no output from the input size {size}"
    return None


def check_mode_pads(spatial, pads, mode: str) -> None:
    """PyTorch's limits on a convolution's padding modes: reflect needs pad < size, circular
    pad <= size, replicate a non-empty input."""
    if mode in ("reflect", "replicate") and not all(spatial):
        raise ValueError(f"padding_mode={mode!r} needs a non-empty input, got spatial shape {tuple(spatial)}")
    for axis, (size, (lo, hi)) in enumerate(zip(spatial, pads)):
        error = _mode_error("constant" if mode == "zeros" else mode, size, lo, hi)
        if error:
            raise ValueError(
                f"padding_mode={mode!r}: padding ({lo}, {hi}) {error} in spatial dimension {axis} "
                f"(input spatial shape {tuple(spatial)})"
            )


def _along(axis: int, sl) -> tuple:
    return (slice(None),) * axis + (sl,)


def _crop_slices(shape, widths) -> tuple:
    """Per axis, the part of an array of ``shape`` that cropping by ``widths`` keeps."""
    return tuple(slice(c_lo, n - c_hi) for n, (c_lo, c_hi) in zip(shape, (_cropped(*w) for w in widths)))


def _pad(x: np.ndarray, widths, mode: str, value=0) -> np.ndarray:
    """``x`` padded by ``widths`` ((before, after) per axis, negative crops) in ``mode``
    (one of :data:`PAD_MODES`); ``x`` itself when every width is zero, else a new array."""
    if not any(lo or hi for lo, hi in widths):
        return x
    if mode == "constant":
        kept = _crop_slices(x.shape, widths)
        out_shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, widths))
        out = np.full(out_shape, value, dtype=x.dtype)
        out[tuple(slice(g, g + s.stop - s.start) for s, (g, _) in zip(kept, (_grown(*w) for w in widths)))] = x[kept]
        return out
    grow = [_grown(lo, hi) for lo, hi in widths]
    if mode == "circular":  # crop, then wrap the cropped input
        y = x[_crop_slices(x.shape, widths)]
        return np.pad(y, grow, mode="wrap") if any(map(any, grow)) else y.copy()
    # reflect, replicate: pad, then crop; the padding mirrors or repeats the uncropped input
    y = np.pad(x, grow, mode=_NUMPY_MODE[mode]) if any(map(any, grow)) else x
    kept = tuple(slice(c_lo, n - c_hi) for n, (c_lo, c_hi) in zip(y.shape, (_cropped(*w) for w in widths)))
    return y[kept].copy() if y is x else y[kept]


def _fold(g: np.ndarray, grow, mode: str) -> np.ndarray:
    """Adjoint of padding by ``grow`` ((before, after) >= 0 per axis) in ``mode``: the gradient
    of the unpadded array from ``g``, that of the padded one."""
    for axis, (lo, hi) in enumerate(grow):
        if lo == 0 and hi == 0:
            continue
        n = g.shape[axis] - lo - hi
        s = lambda sl: _along(axis, sl)  # noqa: E731
        r = g[s(slice(lo, lo + n))].copy()
        if mode == "reflect":
            # padded[lo - 1 - j] = x[1 + j] and padded[lo + n + j] = x[n - 2 - j]
            if lo:
                r[s(slice(1, lo + 1))] += np.flip(g[s(slice(0, lo))], axis=axis)
            if hi:
                r[s(slice(n - 1 - hi, n - 1))] += np.flip(g[s(slice(lo + n, lo + n + hi))], axis=axis)
        elif mode == "replicate":
            if lo:
                r[s(slice(0, 1))] += g[s(slice(0, lo))].sum(axis=axis, keepdims=True)
            if hi:
                r[s(slice(n - 1, n))] += g[s(slice(lo + n, lo + n + hi))].sum(axis=axis, keepdims=True)
        elif mode == "circular":
            # padded[j] = x[n - lo + j] (j < lo) and padded[lo + n + j] = x[j] (j < hi)
            if lo:
                r[s(slice(n - lo, n))] += g[s(slice(0, lo))]
            if hi:
                r[s(slice(0, hi))] += g[s(slice(lo + n, lo + n + hi))]
        g = r
    return g


def _uncrop(g: np.ndarray, shape, widths) -> np.ndarray:
    """Adjoint of cropping an array of ``shape`` by ``widths``: ``g`` back in place, zeros around."""
    out = np.zeros(shape, dtype=g.dtype)
    out[_crop_slices(shape, widths)] = g
    return out


def _pad_adjoint(g: np.ndarray, widths, mode: str) -> np.ndarray:
    """Adjoint of :func:`_pad`: the input's gradient from the output's ``g``; ``g`` itself when
    every width is zero, else a new array."""
    if not any(lo or hi for lo, hi in widths):
        return g
    grow = [_grown(lo, hi) for lo, hi in widths]
    x_shape = tuple(m - lo - hi for m, (lo, hi) in zip(g.shape, widths))
    if mode == "constant":  # the kept input's gradient; the padding's own is dropped
        inner = g[tuple(slice(a, m - b) for m, (a, b) in zip(g.shape, grow))]
        return _uncrop(inner, x_shape, widths) if any(lo < 0 or hi < 0 for lo, hi in widths) else inner.copy()
    if mode == "circular":  # cropped first in the forward, so uncropped last here
        return _uncrop(_fold(g, grow, mode), x_shape, widths)
    grown_shape = tuple(n + a + b for n, (a, b) in zip(x_shape, grow))
    if grown_shape != g.shape:
        g = _uncrop(g, grown_shape, [(-c_lo, -c_hi) for c_lo, c_hi in (_cropped(*w) for w in widths)])
    return _fold(g, grow, mode)


def pad_mode(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """Pad the spatial dimensions of ``x`` (N, C, *spatial) by ``pads`` ((before, after) each, >= 0)
    in a convolution's ``padding_mode``.

    Returns ``x`` itself when there is nothing to pad (callers never write to the result).
    """
    widths = ((0, 0), (0, 0)) + tuple((int(lo), int(hi)) for lo, hi in pads)
    return _pad(x, widths, "constant" if mode == "zeros" else mode)


def pad_mode_adjoint(g: np.ndarray, pads, mode: str) -> np.ndarray:
    """Adjoint of :func:`pad_mode`: the gradient of the unpadded input from that of the padded one.

    Parameters
    ----------
    g : ndarray, shape (N, C, *padded_spatial)
    pads : sequence of (before, after), one per spatial dimension
    mode : one of :data:`PADDING_MODES`

    Returns
    -------
    ndarray, shape (N, C, *spatial) with ``spatial = padded_spatial - before - after``; a new array
    (or ``g`` itself when there is no padding).
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"unknown padding mode {mode!r}")
    widths = ((0, 0), (0, 0)) + tuple((int(lo), int(hi)) for lo, hi in pads)
    return _pad_adjoint(g, widths, "constant" if mode == "zeros" else mode)


@dataclass(frozen=True)
class PadCache:
    """What :func:`pad_backward` needs; produced by :func:`pad_forward`."""

    widths: tuple  # (before, after) per axis of x, negative crops
    mode: str
    dtype: np.dtype
    out_shape: tuple


def _check_pad_args(x, pad, mode, value) -> tuple:
    """``pad`` as (before, after) per axis of ``x``, after PyTorch's checks."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if isinstance(pad, (str, bytes)) or not hasattr(pad, "__len__") or not all(
        isinstance(p, numbers.Integral) and not isinstance(p, (bool, np.bool_)) for p in pad
    ):
        raise TypeError(f"pad must be a sequence of ints (before, after pairs from the last dimension), got {pad!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise ValueError(f"pad must have an even length (before, after pairs from the last dimension), got {pad}")
    k = len(pad) // 2
    if k > x.ndim:
        raise ValueError(f"pad {pad} pads {k} dimensions but x has only {x.ndim} (shape {x.shape})")
    if not isinstance(mode, str) or mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {list(PAD_MODES)}, got mode={mode!r}")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Number):
        raise TypeError(f"value must be a number, got {value!r}")
    if mode != "constant":
        if value != 0:
            raise ValueError(f"value={value!r} applies only to mode='constant', not mode={mode!r}")
        if k not in (1, 2, 3) or x.ndim not in (k + 1, k + 2):
            raise ValueError(
                f"mode={mode!r} pads the last 1, 2 or 3 dimensions of an unbatched (C, *spatial) or batched "
                f"(N, C, *spatial) input: pad {pad} of length {len(pad)} needs x of {k + 1} or {k + 2} "
                f"dimensions, got shape {x.shape}"
            )
        first = x.ndim - k - 1 if x.ndim == k + 2 else 0  # the batch may be empty, nothing else
        if mode != "circular" and not all(x.shape[first:]):
            raise ValueError(f"mode={mode!r} needs non-empty dimensions (but the batch), got x of shape {x.shape}")
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    for axis, (size, (lo, hi)) in enumerate(zip(x.shape, widths)):
        error = _mode_error(mode, size, lo, hi) if (lo or hi) else None
        if error:
            raise ValueError(f"mode={mode!r}: pad ({lo}, {hi}) {error} in dimension {axis} of x (shape {x.shape})")
    return tuple(widths)


def pad_forward(x, pad, mode="constant", value=0.0):
    """Pad (or crop) the last dimensions of ``x``, as ``torch.nn.functional.pad``.

    Parameters
    ----------
    x : ndarray, any shape and dtype
    pad : sequence of 2k ints
        ``(left, right)`` for the last dimension, then ``(top, bottom)`` for the one before, and so
        on for k <= x.ndim dimensions; a negative entry crops that many from that side.
    mode : {'constant', 'reflect', 'replicate', 'circular'}
        'constant' fills with ``value``; the other modes pad the last k = 1, 2 or 3 dimensions of
        a (C, *spatial) or (N, C, *spatial) input: 'reflect' mirrors without repeating the edge
        (pad < size), 'replicate' repeats the edge, 'circular' wraps around (pad <= size).
    value : number
        The fill of mode 'constant' (cast to x's dtype); the other modes take only 0.

    Returns
    -------
    out : ndarray, dtype of ``x``, each padded dimension ``size + before + after`` long
    cache : PadCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import pad_forward
    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> pad_forward(x, (2, 1), mode="reflect")[0].ravel().tolist()
    [2.0, 1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 3.0]
    >>> pad_forward(x, (-1, 2), value=9.0)[0].ravel().tolist()
    [1.0, 2.0, 3.0, 4.0, 9.0, 9.0]
    """
    widths = _check_pad_args(x, pad, mode, value)
    out = _pad(x, widths, mode, value)
    if out is x:
        out = x.copy()  # nothing to pad; still a new array, which the caller may write to
    return out, PadCache(widths=widths, mode=mode, dtype=x.dtype, out_shape=out.shape)


def pad_backward(dout, cache):
    """Backward pass of :func:`pad_forward`: ``dx`` of x's shape and dtype.

    The kept input's gradient, plus, for reflect/replicate/circular, the padding's gradient folded
    back onto the elements it copies; cropped elements get zero.
    """
    check_cache(cache, PadCache, "pad_forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    dx = _pad_adjoint(dout, cache.widths, cache.mode)
    return dx.copy() if dx is dout else dx
