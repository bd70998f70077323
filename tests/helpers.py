"""Shared test helpers: the centred difference of a one-argument function, and relative error.

Both are :mod:`tests.gradcheck`'s (the one gradient checker); ``numeric_grad`` is its
``numerical_gradient`` for a function of one array, for checks of things that are not an op pair
(a module's parameters, a loss of logits).
"""

from __future__ import annotations

import numpy as np

from tests.gradcheck import numerical_gradient, rel_error

__all__ = ["numeric_grad", "rel_error"]


def numeric_grad(f, x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d(sum(f(x) * dout))/dx by centred differences in float64 (see
    :func:`tests.gradcheck.numerical_gradient`)."""
    return numerical_gradient(lambda x: (f(x), None), {"x": x}, "x", dout, h)
