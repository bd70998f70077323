"""Element-wise activations, forward and backward: ReLU and LeakyReLU (PyTorch's semantics:
the gradient at exactly 0 is the negative side's; NaN propagates)."""

from __future__ import annotations

from dataclasses import dataclass
import numbers

import numpy as np

from ._checks import check_array, check_cache
from ._window import check_dout

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward"]


@dataclass(frozen=True)
class ActivationCache:
    """The positive-side mask (x > 0) and the slope of the negative side."""

    positive: np.ndarray  # bool, shape of x
    negative_slope: float
    dtype: np.dtype


def relu_forward(x):
    """``max(x, 0)`` element-wise.

    Parameters
    ----------
    x : ndarray, any shape, floating

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : ActivationCache
    """
    check_array(x, "x")
    positive = x > 0
    out = np.maximum(x, 0)  # keeps NaN, like torch.relu
    return out, ActivationCache(positive=positive, negative_slope=0.0, dtype=x.dtype)


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dout`` where ``x > 0``, else 0. Returns ``dx``."""
    check_cache(cache, ActivationCache, "relu_forward")
    dout = check_dout(dout, cache.positive.shape, cache.dtype)
    return np.where(cache.positive, dout, np.zeros((), dtype=cache.dtype))


def leaky_relu_forward(x, negative_slope=0.01):
    """``x if x > 0 else negative_slope * x`` element-wise, as ``torch.nn.functional.leaky_relu``.

    Parameters
    ----------
    x : ndarray, any shape, floating
    negative_slope : float

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : ActivationCache
    """
    check_array(x, "x")
    if isinstance(negative_slope, bool) or not isinstance(negative_slope, numbers.Real):
        raise TypeError(f"negative_slope must be a real number, got {negative_slope!r}")
    positive = x > 0
    slope = x.dtype.type(negative_slope)
    out = np.where(positive, x, x * slope)
    return out, ActivationCache(positive=positive, negative_slope=float(negative_slope), dtype=x.dtype)


def leaky_relu_backward(dout, cache):
    """Backward pass of :func:`leaky_relu_forward`: returns ``dx``."""
    check_cache(cache, ActivationCache, "leaky_relu_forward")
    dout = check_dout(dout, cache.positive.shape, cache.dtype)
    return np.where(cache.positive, dout, dout * cache.dtype.type(cache.negative_slope))
