"""Element-wise activations, forward and backward: ReLU and LeakyReLU, with PyTorch's exact
semantics (the gradient at exactly 0 is the negative side's; NaN propagates; ReLU's backward
is a select, so an infinite upstream gradient at an inactive unit gives 0, not NaN).

NumPy's masked selects (``np.where``, ``copyto(where=)``) are several passes slower than plain
arithmetic, so the selects here are bitwise: an all-ones/all-zeros integer mask ANDed with the
float bits is exact and costs one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._checks import check_array, check_cache
from ._window import check_dout

__all__ = ["relu_forward", "relu_backward", "relu_values", "leaky_relu_forward", "leaky_relu_backward"]

_BITS = {2: np.int16, 4: np.int32, 8: np.int64}


def _bit_mask(keep: np.ndarray, itemsize: int):
    """-1 (all bits set) where ``keep``, 0 elsewhere, as the signed int of ``itemsize`` bytes."""
    mask = keep.astype(_BITS[itemsize])
    np.negative(mask, out=mask)
    return mask


def _keep_where(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``a`` where ``keep`` else +0, exactly (also for inf/NaN in ``a``); a new array."""
    if a.dtype.itemsize not in _BITS:  # e.g. longdouble
        return np.where(keep, a, np.zeros((), dtype=a.dtype))
    ints = _BITS[a.dtype.itemsize]
    a = np.ascontiguousarray(a)
    return np.bitwise_and(a.view(ints), _bit_mask(keep, a.dtype.itemsize)).view(a.dtype)


@dataclass(frozen=True)
class ReLUCache:
    """Where the output is not <= 0 (so NaN outputs pass their gradient, as in PyTorch)."""

    keep: np.ndarray  # bool, shape of x
    dtype: np.dtype


@dataclass(frozen=True)
class LeakyReLUCache:
    """The per-element slope, exactly 1 or ``negative_slope``: out = x * slope, dx = dout * slope."""

    slope: np.ndarray  # shape and dtype of x
    negative_slope: float


def relu_forward(x):
    """``max(x, 0)`` element-wise, as ``torch.relu``.

    Parameters
    ----------
    x : ndarray, any shape, floating

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : ReLUCache
    """
    out = relu_values(x)
    keep = out <= 0
    np.logical_not(keep, out=keep)
    return out, ReLUCache(keep=keep, dtype=x.dtype)


def relu_values(x):
    """The output of :func:`relu_forward` alone, without the backward's mask: for a caller that
    records nothing (no_grad inference).  Returns ``out``, shape and dtype of ``x``."""
    check_array(x, "x")
    return np.maximum(x, x.dtype.type(0))  # keeps NaN, like torch.relu


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dout`` where the output is > 0, else 0. Returns ``dx``."""
    check_cache(cache, ReLUCache, "relu_forward")
    dout = check_dout(dout, cache.keep.shape, cache.dtype)
    return _keep_where(dout, cache.keep)


def leaky_relu_forward(x, negative_slope=0.01):
    """``x if x > 0 else negative_slope * x`` element-wise, as ``torch.nn.functional.leaky_relu``.

    Parameters
    ----------
    x : ndarray, any shape, floating
    negative_slope : float

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : LeakyReLUCache
    """
    check_array(x, "x")
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    dt = x.dtype
    positive = x > 0
    if dt.itemsize in _BITS:
        ints = _BITS[dt.itemsize]
        one_bits = np.array(1, dt).view(ints)
        slope_bits = np.array(negative_slope, dt).view(ints)
        # slope = 1 where x > 0 else negative_slope, selected bitwise (exact)
        bits = np.bitwise_and(_bit_mask(positive, dt.itemsize), slope_bits ^ one_bits)
        np.bitwise_xor(bits, slope_bits, out=bits)
        slope = bits.view(dt)
    else:
        slope = np.where(positive, dt.type(1), dt.type(negative_slope))
    with np.errstate(invalid="ignore"):  # -inf * 0 is NaN, as in PyTorch, without a warning
        out = x * slope
    return out, LeakyReLUCache(slope=slope, negative_slope=float(negative_slope))


def leaky_relu_backward(dout, cache):
    """Backward pass of :func:`leaky_relu_forward`: ``dout`` where x > 0, else ``negative_slope * dout``."""
    check_cache(cache, LeakyReLUCache, "leaky_relu_forward")
    dout = check_dout(dout, cache.slope.shape, cache.slope.dtype)
    with np.errstate(invalid="ignore"):
        return dout * cache.slope
