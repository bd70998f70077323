"""Inverted dropout, forward and backward, as ``torch.nn.functional.dropout``."""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._checks import check_array, check_cache
from ._window import check_dout

__all__ = ["dropout_forward", "dropout_backward"]


@dataclass(frozen=True)
class DropoutCache:
    """The scaled keep-mask (0 or 1/(1-p)), or None when dropout was the identity."""

    mask: np.ndarray | None
    x_shape: tuple
    dtype: np.dtype


def check_probability(p, name: str = "p") -> float:
    """A probability in [0, 1] (a ValueError naming ``name`` otherwise)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real):
        raise TypeError(f"{name} must be a real number in [0, 1], got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {name}={p!r}")
    return float(p)


def dropout_forward(x, p=0.5, training=True, rng=None, *, rows=None):
    """Zero each element with probability ``p`` and scale the survivors by ``1 / (1 - p)``.

    The expected value of the output equals ``x``, so eval mode is the identity.

    Parameters
    ----------
    x : ndarray, any shape, floating
    p : float in [0, 1]
        Probability of DROPPING an element (PyTorch's convention; CS231n's ``dropout_param['p']``
        is the keep probability).  ``p = 1`` zeroes everything.
    training : bool
        False: return ``x`` unchanged (the same array).
    rng : numpy.random.Generator, int seed or None
        Source of the mask; the same generator state gives the same mask.  None: a fresh,
        unseeded generator.
    rows : (start, total), optional (keyword only)
        ``x`` is rows ``start : start + len(x)`` of a batch of ``total`` rows split over processes
        (data parallelism): the mask of the whole batch is drawn, so the generator advances as in
        a one-process run on every process, and ``x`` gets its rows of that mask.

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : DropoutCache
    """
    check_array(x, "x")
    p = check_probability(p)
    if not training or p == 0.0:
        return x, DropoutCache(mask=None, x_shape=x.shape, dtype=x.dtype)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    keep = 1.0 - p
    scale = x.dtype.type(1.0 / keep) if keep > 0 else x.dtype.type(0.0)
    u_dtype = np.float32 if x.dtype == np.float32 else np.float64
    if rows is None:
        draws = rng.random(x.shape, dtype=u_dtype)
    else:
        start, total = _check_rows(rows, x)
        draws = rng.random((total,) + x.shape[1:], dtype=u_dtype)[start : start + len(x)]
    mask = (draws < keep).astype(x.dtype) * scale
    return x * mask, DropoutCache(mask=mask, x_shape=x.shape, dtype=x.dtype)


def _check_rows(rows, x):
    try:
        start, total = (int(v) for v in rows)
    except (TypeError, ValueError):
        raise TypeError(f"rows must be a pair (start, total) of ints, got {rows!r}") from None
    if x.ndim < 1 or not 0 <= start <= start + len(x) <= total:
        raise ValueError(f"rows={rows!r}: x of shape {x.shape} is not rows start:start+len(x) of a batch of {total}")
    return start, total


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: ``dout`` times the same scaled mask. Returns ``dx``."""
    check_cache(cache, DropoutCache, "dropout_forward")
    dout = check_dout(dout, cache.x_shape, cache.dtype)
    return dout if cache.mask is None else dout * cache.mask
