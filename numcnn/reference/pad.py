"""Loop twin of padding, ``torch.nn.functional.pad``'s semantics.

``pad`` lists (before, after) pairs from the LAST dimension backwards: ``(left, right, top,
bottom, front, back)``.  Output element ``i`` of a padded axis of size ``n`` reads input
``j = i - before``, and where that falls outside ``[0, n)``:

- ``'constant'``: ``value``;
- ``'reflect'``: the mirror image without repeating the edge, ``-j`` or ``2 (n - 1) - j``;
- ``'replicate'``: the nearest edge, ``clip(j, 0, n - 1)``;
- ``'circular'``: ``j mod m`` over the input after negative pads have cropped it to ``m``
  elements (PyTorch crops before it wraps; reflect and replicate read the uncropped input).

A negative pad crops.  The backward pass adds each output's gradient onto the input element it
read, so repeated reads (reflect, replicate, circular) accumulate.
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._loops import check_cache, check_dout, positions

__all__ = ["pad_forward", "pad_backward", "PAD_MODES"]

PAD_MODES = ("constant", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class PadCache:
    """What :func:`pad_backward` needs: per axis, the input index each output index reads (-1: the
    constant)."""

    x_shape: tuple
    dtype: np.dtype
    sources: tuple  # one tuple of input indices per axis of the output
    out_shape: tuple


def _check_pad(x, pad, mode) -> list[tuple[int, int]]:
    """(before, after) per axis of ``x`` (zeros for the axes ``pad`` leaves alone)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a numpy.ndarray, got {type(x).__name__}")
    if mode not in PAD_MODES:
        raise ValueError(f"mode must be one of {list(PAD_MODES)}, got {mode!r}")
    try:
        pad = tuple(pad)
    except TypeError:
        raise TypeError(f"pad must be a sequence of ints, got {pad!r}") from None
    if not all(isinstance(p, numbers.Integral) and not isinstance(p, bool) for p in pad):
        raise TypeError(f"pad must be a sequence of ints, got {pad!r}")
    if len(pad) % 2 or len(pad) > 2 * x.ndim:
        raise ValueError(
            f"pad must have an even length of at most 2 * x.ndim = {2 * x.ndim}, got {len(pad)} for x of shape {x.shape}"
        )
    k = len(pad) // 2
    if mode != "constant" and not (1 <= k <= 3 and x.ndim in (k + 1, k + 2)):
        raise ValueError(
            f"mode={mode!r} pads the last 1, 2 or 3 dimensions of a 2-3, 3-4 or 4-5-D x; got pad of "
            f"length {len(pad)} for x of shape {x.shape}"
        )
    pairs = [(0, 0)] * x.ndim
    for i in range(k):
        pairs[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return pairs


def _sources(n: int, before: int, after: int, mode: str, axis: int) -> tuple[int, ...]:
    """The input index each output index of one axis reads; -1 for the constant."""
    size = n + before + after
    kept_from, kept_to = max(-before, 0), n - max(-after, 0)  # the input left after cropping
    if size < 0 or (kept_to < kept_from and mode in ("constant", "circular")):
        raise ValueError(f"pad ({before}, {after}) crops more than the size {n} of dimension {axis}")
    if size < 1 and mode in ("reflect", "replicate"):
        raise ValueError(f"mode={mode!r}: pad ({before}, {after}) leaves nothing of dimension {axis} (size {n})")
    if mode == "reflect" and max(before, after) >= n:
        raise ValueError(f"mode='reflect': padding ({before}, {after}) must be smaller than the size {n} of dimension {axis}")
    if mode == "circular" and max(before, after) > kept_to - kept_from:
        raise ValueError(
            f"mode='circular': padding ({before}, {after}) wraps around more than once in dimension {axis} "
            f"(size {n}, {kept_to - kept_from} after cropping)"
        )
    sources = []
    for i in range(size):
        j = i - before
        if 0 <= j < n:
            sources.append(j)
        elif mode == "constant":
            sources.append(-1)
        elif mode == "reflect":
            sources.append(-j if j < 0 else 2 * (n - 1) - j)
        elif mode == "replicate":
            sources.append(min(max(j, 0), n - 1))
        else:  # circular, over the cropped input
            sources.append(kept_from + (j - kept_from) % (kept_to - kept_from))
    return tuple(sources)


def pad_forward(x, pad, mode="constant", value=0.0):
    """Pad ``x`` as ``torch.nn.functional.pad(x, pad, mode, value)``.

    Parameters
    ----------
    x : ndarray, any shape (reflect/replicate/circular: 2-5-D, see ``pad``)
    pad : sequence of ints, even length <= 2 * x.ndim
        (before, after) pairs from the last dimension backwards; negative values crop.
        Modes other than ``'constant'`` pad 1, 2 or 3 trailing dimensions of an input with at
        most 2 more.
    mode : 'constant', 'reflect', 'replicate' or 'circular'
    value : float, the fill of ``'constant'``

    Returns
    -------
    out : ndarray, dtype of ``x``; dimension ``d`` has size ``n_d + before_d + after_d``
    cache : PadCache
    """
    pairs = _check_pad(x, pad, mode)
    sources = tuple(_sources(n, lo, hi, mode, axis) for axis, (n, (lo, hi)) in enumerate(zip(x.shape, pairs)))
    out_shape = tuple(len(s) for s in sources)
    out = np.empty(out_shape, dtype=x.dtype)
    for i in positions(out_shape):
        j = tuple(s[k] for s, k in zip(sources, i))
        out[i] = value if -1 in j else x[j]
    return out, PadCache(x_shape=x.shape, dtype=x.dtype, sources=sources, out_shape=out_shape)


def pad_backward(dout, cache):
    """Backward pass of :func:`pad_forward`: ``dx[j] = sum of dout[i] over the outputs i that read
    input j`` (the constant's outputs carry no gradient). Returns ``dx``, the shape and dtype of x."""
    check_cache(cache, PadCache, "pad_forward")
    dout = check_dout(dout, cache.out_shape, cache.dtype)
    dx = np.zeros(cache.x_shape, dtype=cache.dtype)
    for i in positions(cache.out_shape):
        j = tuple(s[k] for s, k in zip(cache.sources, i))
        if -1 not in j:
            dx[j] += dout[i]
    return dx
