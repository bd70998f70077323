"""Loop twins of the element-wise activations, one element at a time.

ReLU: ``out = x if x > 0 else 0`` (a NaN stays NaN) and ``dx = dout`` where the output is not
``<= 0`` (so a NaN output passes its gradient), else exactly 0 (a select, not a product: an
infinite ``dout`` at an inactive unit gives 0).  LeakyReLU: ``slope = 1 if x > 0 else
negative_slope``, ``out = x * slope`` and ``dx = dout * slope`` (products, so -inf * 0 is NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._loops import check_cache, check_dout

__all__ = ["relu_forward", "relu_backward", "leaky_relu_forward", "leaky_relu_backward"]


@dataclass(frozen=True)
class ActivationCache:
    """The input, the output and the slope of a LeakyReLU (None for ReLU)."""

    x: np.ndarray
    out: np.ndarray
    negative_slope: float | None


def _check(x):
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"x must be a floating numpy.ndarray, got {getattr(x, 'dtype', type(x).__name__)}")


def relu_forward(x):
    """``max(x, 0)`` element by element (NaN propagates). Returns ``(out, cache)``."""
    _check(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        out[i] = x[i] if not x[i] <= 0 else 0  # NaN is not <= 0: it passes
    return out, ActivationCache(x=x, out=out, negative_slope=None)


def relu_backward(dout, cache):
    """Backward pass of :func:`relu_forward`: ``dx``."""
    check_cache(cache, ActivationCache, "reference relu_forward")
    dout = check_dout(dout, cache.x.shape, cache.x.dtype)
    dx = np.empty_like(dout)
    for i in np.ndindex(dx.shape):
        dx[i] = 0 if cache.out[i] <= 0 else dout[i]
    return dx


def leaky_relu_forward(x, negative_slope=0.01):
    """``x if x > 0 else negative_slope * x`` element by element. Returns ``(out, cache)``."""
    _check(x)
    slope = x.dtype.type(negative_slope)
    out = np.empty_like(x)
    with np.errstate(invalid="ignore"):
        for i in np.ndindex(x.shape):
            out[i] = x[i] * (1 if x[i] > 0 else slope)
    return out, ActivationCache(x=x, out=out, negative_slope=float(negative_slope))


def leaky_relu_backward(dout, cache):
    """Backward pass of :func:`leaky_relu_forward`: ``dx = dout * (1 if x > 0 else negative_slope)``."""
    check_cache(cache, ActivationCache, "reference leaky_relu_forward")
    x = cache.x
    dout = check_dout(dout, x.shape, x.dtype)
    slope = x.dtype.type(cache.negative_slope)
    dx = np.empty_like(dout)
    with np.errstate(invalid="ignore"):
        for i in np.ndindex(x.shape):
            dx[i] = dout[i] * (1 if x[i] > 0 else slope)
    return dx
