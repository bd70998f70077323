"""Padding modes of a convolution (PyTorch's ``padding_mode``) and their adjoints.

``pad_mode(x, pads, mode)`` pads the spatial dimensions of ``x`` with ``'zeros'``, ``'reflect'``,
``'replicate'`` or ``'circular'``; ``pad_mode_adjoint(g, pads, mode)`` is its exact adjoint: it
folds the gradient of the padded array back onto the unpadded one (reflect adds the mirrored
rows, replicate sums the border strip onto the edge, circular wraps it around).  Both work one
axis at a time with slices (never per element), so they are N-dimensional for free.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PADDING_MODES", "check_padding_mode", "check_mode_pads", "pad_mode", "pad_mode_adjoint"]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

_NUMPY_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def check_padding_mode(padding_mode) -> str:
    """Return ``padding_mode`` if it is one of :data:`PADDING_MODES`, else raise ValueError."""
    if not isinstance(padding_mode, str) or padding_mode not in PADDING_MODES:
        raise ValueError(
            f"padding_mode must be one of {list(PADDING_MODES)}, but got padding_mode={padding_mode!r}"
        )
    return padding_mode


def check_mode_pads(spatial, pads, mode: str) -> None:
    """PyTorch's limits: reflect needs pad < size, circular pad <= size, replicate size >= 1."""
    for axis, (size, (lo, hi)) in enumerate(zip(spatial, pads)):
        if mode == "reflect" and max(lo, hi) >= size:
            raise ValueError(
                f"padding_mode='reflect': padding ({lo}, {hi}) must be smaller than the input size "
                f"{size} in spatial dimension {axis} (input spatial shape {tuple(spatial)})"
            )
        if mode == "circular" and max(lo, hi) > size:
            raise ValueError(
                f"padding_mode='circular': padding ({lo}, {hi}) must be at most the input size "
                f"{size} in spatial dimension {axis} (input spatial shape {tuple(spatial)}); "
                "it would wrap around more than once"
            )
        if mode == "replicate" and (lo or hi) and size < 1:
            raise ValueError(f"padding_mode='replicate' needs a non-empty input, got spatial shape {tuple(spatial)}")


def pad_mode(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """Pad the spatial dimensions of ``x`` (N, C, *spatial) by ``pads`` ((before, after) each).

    Returns ``x`` itself when there is nothing to pad (callers never write to the result).
    """
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return x
    width = ((0, 0), (0, 0)) + tuple((int(lo), int(hi)) for lo, hi in pads)
    if mode == "zeros":
        return np.pad(x, width, mode="constant")
    return np.pad(x, width, mode=_NUMPY_MODE[mode])


def _axis_slice(ndim: int, axis: int, sl) -> tuple:
    return (slice(None),) * axis + (sl,)


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
    if all(lo == 0 and hi == 0 for lo, hi in pads):
        return g
    for i, (lo, hi) in enumerate(pads):
        if lo == 0 and hi == 0:
            continue
        axis = 2 + i
        n = g.shape[axis] - lo - hi
        s = lambda sl: _axis_slice(g.ndim, axis, sl)  # noqa: E731
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
        elif mode != "zeros":
            raise ValueError(f"unknown padding mode {mode!r}")
        g = r
    return g
