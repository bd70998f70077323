"""Elementwise math, max/min/argmax and dtype casts on :class:`~numcnn.autograd.tensor.Tensor`,
with PyTorch's names and PyTorch's gradients at the awkward points: ``abs`` has gradient 0 at 0,
``clamp`` passes the gradient where ``min <= x <= max`` (both ends included), a full ``max()``
shares the gradient evenly among tied maxima, ``max(dim)`` sends it to the index it returns (the
first maximum).  The ops are bound to ``Tensor`` at the end of this module.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .graph import record
from .ops import _dim
from .tensor import Tensor

__all__ = ["ValuesIndices"]


# --- elementwise ------------------------------------------------------------------------------
def exp(a: Tensor) -> Tensor:
    out = np.exp(a.data)
    return record(out, (a,), lambda g: (g * out,), "exp")


def log(a: Tensor) -> Tensor:
    """Natural logarithm; ``-inf`` at 0 and ``nan`` below, as NumPy and PyTorch."""
    return record(np.log(a.data), (a,), lambda g: (g / a.data,), "log")


def sqrt(a: Tensor) -> Tensor:
    out = np.sqrt(a.data)
    return record(out, (a,), lambda g: (g / (2 * out),), "sqrt")


def abs(a: Tensor) -> Tensor:  # noqa: A001 - PyTorch's name
    return record(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),), "abs")


def clamp(a: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - PyTorch's argument names
    """Values limited to ``[min, max]`` (either may be None); the gradient passes where
    ``min <= a <= max``, both ends included, as PyTorch's."""
    if min is None and max is None:
        raise ValueError("clamp needs min or max (or both), got neither")
    for name, bound in (("min", min), ("max", max)):
        if bound is not None and not isinstance(bound, numbers.Real):
            raise TypeError(f"clamp: {name} must be a real number or None, got {type(bound).__name__}")
    kind = a.dtype.type
    low = None if min is None else kind(min)
    high = None if max is None else kind(max)
    out = np.clip(a.data, low, high)
    if low is not None and high is not None and low > high:
        out = np.full_like(a.data, high)  # PyTorch: every value becomes max, nothing passes

    def backward(g):
        inside = np.ones(a.shape, dtype=bool)
        if low is not None:
            inside &= a.data >= low
        if high is not None:
            inside &= a.data <= high
        return (g * inside,)

    return record(out, (a,), backward, "clamp")


# --- max, min, argmax -------------------------------------------------------------------------
class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, as PyTorch's ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def _extreme(a: Tensor, dim, keepdim: bool, largest: bool):
    name = "max" if largest else "min"
    if a.data.size == 0:
        raise ValueError(f"{name}() of an empty tensor (shape {a.shape}) has no value")
    if dim is None:
        out = np.asarray(a.data.max() if largest else a.data.min())

        def share(g):  # tied extremes share the gradient evenly
            ties = a.data == out
            return ((g / np.count_nonzero(ties)) * ties,)

        return record(out, (a,), share, name)
    axis = _dim(dim, a.ndim)
    data = a.data.reshape(a.shape or (1,))  # a 0-d tensor reduces over its one element
    index = (np.argmax if largest else np.argmin)(data, axis=axis, keepdims=True)
    values = np.take_along_axis(data, index, axis=axis)
    kept = index.shape

    def to_index(g):
        grad = np.zeros(data.shape, dtype=g.dtype)
        np.put_along_axis(grad, index, np.reshape(g, kept), axis=axis)
        return (grad.reshape(a.shape),)

    indices = index
    if a.ndim == 0 or not keepdim:
        values, indices = values.squeeze(axis), index.squeeze(axis)
    return ValuesIndices(record(values, (a,), to_index, name), Tensor(indices.astype(np.int64, copy=False)))


def max(a: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The largest value (a 0-d tensor) or, along ``dim``, ``(values, indices)``."""
    return _extreme(a, dim, keepdim, largest=True)


def min(a: Tensor, dim=None, keepdim: bool = False):  # noqa: A001 - PyTorch's name
    """The smallest value (a 0-d tensor) or, along ``dim``, ``(values, indices)``."""
    return _extreme(a, dim, keepdim, largest=False)


def _arg_extreme(a: Tensor, dim, keepdim: bool, largest: bool) -> Tensor:
    pick = np.argmax if largest else np.argmin
    if a.data.size == 0:
        raise ValueError(f"{pick.__name__}() of an empty tensor (shape {a.shape}) has no index")
    if dim is None:  # the index into the flattened tensor, as PyTorch
        return Tensor(np.asarray(pick(a.data), dtype=np.int64))
    axis = _dim(dim, a.ndim)
    if a.ndim == 0:
        return Tensor(np.zeros((), dtype=np.int64))
    return Tensor(pick(a.data, axis=axis, keepdims=keepdim).astype(np.int64, copy=False))


def argmax(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Indices (int64, not differentiable) of the largest values: into the flattened tensor when
    ``dim`` is None, else along ``dim``; the first one on ties."""
    return _arg_extreme(a, dim, keepdim, largest=True)


def argmin(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """As :func:`argmax`, for the smallest values."""
    return _arg_extreme(a, dim, keepdim, largest=False)


# --- casts ------------------------------------------------------------------------------------
def _cast(a: Tensor, dtype) -> Tensor:
    """``a`` in ``dtype`` (itself when already so, as PyTorch); the gradient is cast back."""
    if a.dtype == dtype:
        return a
    return record(a.data.astype(dtype), (a,), lambda g: (g.astype(a.dtype),), "cast")


Tensor.exp = exp
Tensor.log = log
Tensor.sqrt = sqrt
Tensor.abs = abs
Tensor.__abs__ = abs
Tensor.clamp = clamp
Tensor.clip = clamp
Tensor.max = max
Tensor.min = min
Tensor.argmax = argmax
Tensor.argmin = argmin
Tensor.float = lambda self: _cast(self, np.dtype(np.float32))
Tensor.double = lambda self: _cast(self, np.dtype(np.float64))
