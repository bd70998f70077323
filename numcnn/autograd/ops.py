"""The tensor ops that have no pair in :mod:`numcnn.functional`: arithmetic with NumPy
broadcasting, matrix products, sum and mean, shape changes (reshape, permute, expand, repeat ...),
indexing, ``cat`` and ``stack``.  Elementwise math, max/min and casts are in :mod:`.ops_math`.

Each op computes its output, then hands :func:`~numcnn.autograd.graph.record` a closure that
maps the output's gradient to its inputs' gradients.  Broadcast operands get their gradient
summed back to their own shape in one place, :func:`unbroadcast`.  The ops are bound to
:class:`~numcnn.autograd.tensor.Tensor` as methods and operators at the end of this module.
"""

from __future__ import annotations

import numbers

import numpy as np

from .graph import record
from .tensor import Tensor

__all__ = ["as_tensor", "unbroadcast", "cat", "stack"]


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor: tensors as they are, numbers in ``like``'s dtype (so ``x * 2`` keeps
    float32), arrays as constant leaves."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, numbers.Number) and like is not None and np.issubdtype(like.dtype, np.inexact):
        return Tensor(np.asarray(value, dtype=like.dtype))
    return Tensor(np.asarray(value))


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes NumPy broadcasting added or stretched to reach its shape from
    ``shape``: the gradient of an operand that was broadcast."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes, keepdims=True).reshape(shape)


def _dim(d, ndim: int, name: str = "dim") -> int:
    """One axis ``d`` (negative counts from the end) as a non-negative int; a 0-d tensor takes 0 and
    -1, as in PyTorch."""
    if not isinstance(d, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(d).__name__}")
    span = max(ndim, 1)
    if not -span <= d < span:
        raise IndexError(f"{name} {d} is out of range for a tensor of {ndim} dimensions "
                         f"(expected it in [{-span}, {span - 1}])")
    return int(d) % span


def _dims(dim, ndim: int) -> tuple[int, ...] | None:
    """``dim`` (None, an int or a sequence) as a sorted tuple of non-negative axes, or None for all
    (also for an empty sequence, as PyTorch's reductions)."""
    if dim is None:
        return None
    dims = [_dim(d, ndim) for d in (dim if isinstance(dim, (tuple, list)) else (dim,))]
    if not dims:
        return None
    if len(set(dims)) != len(dims):
        raise ValueError(f"dim {tuple(dim)} names an axis more than once")
    return tuple(sorted(dims)) if ndim else ()


# --- arithmetic -------------------------------------------------------------------------------
def _operands(a, b) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as tensors, a number taking the other operand's dtype."""
    return as_tensor(a, b if isinstance(b, Tensor) else None), as_tensor(b, a if isinstance(a, Tensor) else None)


def _broadcast(fn, a: Tensor, b: Tensor, symbol: str) -> np.ndarray:
    """``fn(a.data, b.data)``, with NumPy's broadcast error restated in the tensors' terms."""
    try:
        return fn(a.data, b.data)
    except ValueError:
        raise ValueError(f"{symbol}: shapes {a.shape} and {b.shape} do not broadcast together") from None


def add(a, b) -> Tensor:
    a, b = _operands(a, b)
    out = _broadcast(np.add, a, b, "+")
    return record(out, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(g, b.shape)), "add")


def sub(a, b) -> Tensor:
    a, b = _operands(a, b)
    out = _broadcast(np.subtract, a, b, "-")
    return record(out, (a, b), lambda g: (unbroadcast(g, a.shape), unbroadcast(-g, b.shape)), "sub")


def mul(a, b) -> Tensor:
    a, b = _operands(a, b)
    out = _broadcast(np.multiply, a, b, "*")

    def backward(g):
        return (
            unbroadcast(g * b.data, a.shape) if a.requires_grad else None,
            unbroadcast(g * a.data, b.shape) if b.requires_grad else None,
        )

    return record(out, (a, b), backward, "mul")


def div(a, b) -> Tensor:
    a, b = _operands(a, b)
    out = _broadcast(np.true_divide, a, b, "/")

    def backward(g):
        return (
            unbroadcast(g / b.data, a.shape) if a.requires_grad else None,
            unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None,
        )

    return record(out, (a, b), backward, "div")


def neg(a: Tensor) -> Tensor:
    return record(-a.data, (a,), lambda g: (-g,), "neg")


def power(a: Tensor, exponent) -> Tensor:
    """``a ** exponent`` for a real number ``exponent``."""
    if isinstance(exponent, Tensor) or not isinstance(exponent, numbers.Real):
        raise TypeError(f"** takes a real number as the exponent, got {type(exponent).__name__}")
    e = a.data.dtype.type(exponent) if np.issubdtype(a.dtype, np.inexact) else exponent

    def backward(g):
        if e == 0:  # d(a**0)/da is 0 everywhere, also at a == 0 where e * a**(e-1) is 0 * inf
            return (np.zeros_like(g),)
        return (g * e * a.data ** (e - 1),)

    return record(a.data**e, (a,), backward, "pow")


def rpower(a: Tensor, base) -> Tensor:
    """``base ** a`` for a real number ``base``."""
    if not isinstance(base, numbers.Real):
        return NotImplemented
    out = np.asarray(as_tensor(base, a).data ** a.data)
    return record(out, (a,), lambda g: (g * out * np.log(out.dtype.type(base)),), "rpow")


def matmul(a, b) -> Tensor:
    """``a @ b`` with NumPy's rules: 1-D operands are promoted (and the added axis removed), the
    batch axes broadcast."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"@ needs operands of at least one dimension, got shapes {a.shape} and {b.shape}")
    try:
        out = a.data @ b.data
    except ValueError:
        raise ValueError(
            f"@: shapes {a.shape} and {b.shape} do not multiply (the last axis of the first must match "
            "the first axis of a 1-D second or the second-to-last of an N-D one; batch axes broadcast)"
        ) from None

    def backward(g):
        # promote 1-D operands as NumPy does, then drop the added axes from their gradients
        a2 = a.data[None, :] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        g2 = g[..., None] if b.ndim == 1 else g
        g2 = np.expand_dims(g2, -2) if a.ndim == 1 else g2
        ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape) if a.requires_grad else None
        gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape) if b.requires_grad else None
        return ga, gb

    return record(out, (a, b), backward, "matmul")


# --- reductions -------------------------------------------------------------------------------
def _spread(g: np.ndarray, shape, dims, keepdim: bool) -> np.ndarray:
    """The gradient of a reduction over ``dims``, broadcast back to the input's ``shape``."""
    if dims is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdim:
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - PyTorch's name
    dims = _dims(dim, a.ndim)
    out = np.sum(a.data, axis=dims, keepdims=keepdim)
    return record(np.asarray(out), (a,), lambda g: (_spread(g, a.shape, dims, keepdim),), "sum")


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    dims = _dims(dim, a.ndim)
    out = np.asarray(np.mean(a.data, axis=dims, keepdims=keepdim))
    count = a.data.size // max(out.size, 1) if a.data.size else 0
    scale = a.dtype.type(1 / count) if count else a.dtype.type(np.nan)
    return record(out, (a,), lambda g: (_spread(g * scale, a.shape, dims, keepdim),), "mean")


# --- shapes -----------------------------------------------------------------------------------
def reshape(a: Tensor, *shape) -> Tensor:
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        shape = tuple(shape[0])
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {a.shape} into {tuple(shape)}") from None
    return record(out, (a,), lambda g: (g.reshape(a.shape),), "reshape")


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    start, end = _dim(start_dim, a.ndim, "start_dim"), _dim(end_dim, a.ndim, "end_dim")
    if a.ndim == 0:
        return reshape(a, 1)
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {a.shape}")
    return reshape(a, a.shape[:start] + (int(np.prod(a.shape[start:end + 1])),) + a.shape[end + 1:])


def permute(a: Tensor, *dims) -> Tensor:
    if len(dims) == 1 and not isinstance(dims[0], numbers.Integral):
        dims = tuple(dims[0])
    axes = tuple(_dim(d, a.ndim) for d in dims) if a.ndim else ()
    if len(dims) != a.ndim or sorted(axes) != list(range(a.ndim)):
        raise ValueError(
            f"permute: dims {tuple(dims)} are not a permutation of the {a.ndim} axes of shape {a.shape}"
        )
    inverse = tuple(np.argsort(axes))
    return record(a.data.transpose(axes), (a,), lambda g: (g.transpose(inverse),), "permute")


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    if a.ndim == 0:
        _dim(dim0, 0, "dim0"), _dim(dim1, 0, "dim1")
        return permute(a)
    dims = list(range(a.ndim))
    d0, d1 = _dim(dim0, a.ndim, "dim0"), _dim(dim1, a.ndim, "dim1")
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(a, dims)


def squeeze(a: Tensor, dim=None) -> Tensor:
    if dim is None:
        out = a.data.squeeze()
    else:
        dims = tuple(d for d in _dims(dim, a.ndim) if a.shape[d] == 1)  # PyTorch ignores dims of size > 1
        out = a.data.squeeze(axis=dims) if dims else a.data
    return record(out, (a,), lambda g: (g.reshape(a.shape),), "squeeze")


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    if not -a.ndim - 1 <= dim <= a.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for a tensor of {a.ndim} dimensions")
    return record(np.expand_dims(a.data, dim % (a.ndim + 1)), (a,), lambda g: (g.reshape(a.shape),), "unsqueeze")


def expand(a: Tensor, *sizes) -> Tensor:
    """``a`` broadcast to ``sizes`` (a read-only view; -1 keeps a size; new axes go in front)."""
    if len(sizes) == 1 and not isinstance(sizes[0], numbers.Integral):
        sizes = tuple(sizes[0])
    extra = len(sizes) - a.ndim
    if extra < 0:
        raise ValueError(f"expand: {len(sizes)} sizes {tuple(sizes)} for a tensor of shape {a.shape}")
    shape = tuple(a.shape[i - extra] if n == -1 and i >= extra else n for i, n in enumerate(sizes))
    try:
        out = np.broadcast_to(a.data, shape)
    except ValueError:
        raise ValueError(f"expand: a tensor of shape {a.shape} cannot expand to {tuple(sizes)}") from None
    return record(out, (a,), lambda g: (unbroadcast(g, a.shape),), "expand")


def repeat(a: Tensor, *repeats) -> Tensor:
    """``a`` tiled ``repeats[i]`` times along axis i (``torch.Tensor.repeat``, NumPy's ``tile``)."""
    if len(repeats) == 1 and not isinstance(repeats[0], numbers.Integral):
        repeats = tuple(repeats[0])
    if len(repeats) < a.ndim:
        raise ValueError(f"repeat: {len(repeats)} repeats {tuple(repeats)} for a tensor of shape {a.shape}; "
                         "give at least one per axis")
    shape = (1,) * (len(repeats) - a.ndim) + a.shape
    out = np.tile(a.data.reshape(shape), repeats)

    def backward(g):
        # axis i of the output is (repeat i, size i): sum over the repeats
        tiles = g.reshape(tuple(n for pair in zip(repeats, shape) for n in pair))
        return (tiles.sum(axis=tuple(range(0, tiles.ndim, 2))).reshape(a.shape),)

    return record(out, (a,), backward, "repeat")


# --- indexing ---------------------------------------------------------------------------------
def _is_basic(key) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (numbers.Integral, slice)) or k is None or k is Ellipsis for k in parts)


def getitem(a: Tensor, key) -> Tensor:
    """``a[key]``: slices, integers, ``None`` and ``...`` (a view); integer or boolean arrays too."""
    if isinstance(key, Tensor):
        key = key.data
    if isinstance(key, tuple):
        key = tuple(k.data if isinstance(k, Tensor) else k for k in key)
    out = a.data[key]

    def backward(g):
        if _is_basic(key):
            grad = np.zeros(a.shape, dtype=g.dtype)
            grad[key] = g
            return (grad,)
        # advanced indexing may pick an element twice: add the picks by flat position
        flat = np.arange(a.data.size).reshape(a.shape)[key].ravel()
        grad = np.bincount(flat, weights=np.ravel(g), minlength=a.data.size)
        return (grad.astype(g.dtype, copy=False).reshape(a.shape),)

    return record(out if isinstance(out, np.ndarray) else np.asarray(out), (a,), backward, "getitem")


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing axis ``dim`` (``torch.cat``): shapes ``(..., n_i, ...)`` give
    ``(..., sum n_i, ...)``; every other axis must agree."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    if any(t.ndim == 0 for t in tensors):
        raise ValueError(
            f"cat: zero-dimensional tensors cannot be joined, got shapes {[t.shape for t in tensors]}"
        )
    dim = _dim(dim, tensors[0].ndim)
    try:
        out = np.concatenate([t.data for t in tensors], axis=dim)
    except ValueError:
        raise ValueError(
            f"cat along dim {dim}: the tensors need one number of dimensions and equal sizes on every "
            f"other axis, got shapes {[t.shape for t in tensors]}"
        ) from None
    bounds = np.cumsum([t.shape[dim] for t in tensors])[:-1]
    return record(out, tuple(tensors), lambda g: tuple(np.split(g, bounds, axis=dim)), "cat")


def stack(tensors, dim: int = 0) -> Tensor:
    """Join ``k`` tensors of one shape ``S`` along a new axis ``dim`` (``torch.stack``): the result
    has shape ``S`` with ``k`` inserted at ``dim``."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack needs tensors of one shape, got {[t.shape for t in tensors]}")
    axis = _dim(dim, tensors[0].ndim + 1)
    out = np.stack([t.data for t in tensors], axis=axis)
    return record(out, tuple(tensors), lambda g: tuple(np.moveaxis(g, axis, 0)), "stack")


# --- bound to Tensor ----------------------------------------------------------------------------
Tensor.__add__ = lambda self, other: add(self, other)
Tensor.__radd__ = lambda self, other: add(other, self)
Tensor.__sub__ = lambda self, other: sub(self, other)
Tensor.__rsub__ = lambda self, other: sub(other, self)
Tensor.__mul__ = lambda self, other: mul(self, other)
Tensor.__rmul__ = lambda self, other: mul(other, self)
Tensor.__truediv__ = lambda self, other: div(self, other)
Tensor.__rtruediv__ = lambda self, other: div(other, self)
Tensor.__neg__ = neg
Tensor.__pow__ = power
Tensor.__rpow__ = rpower
Tensor.__matmul__ = lambda self, other: matmul(self, other)
Tensor.__rmatmul__ = lambda self, other: matmul(other, self)
Tensor.__getitem__ = getitem
Tensor.sum = sum
Tensor.mean = mean
Tensor.reshape = reshape
Tensor.view = reshape
Tensor.flatten = flatten
Tensor.permute = permute
Tensor.transpose = transpose
Tensor.squeeze = squeeze
Tensor.unsqueeze = unsqueeze
Tensor.expand = expand
Tensor.repeat = repeat
Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim))[::-1]), doc="The axes reversed.")
Tensor.mT = property(lambda self: transpose(self, -2, -1), doc="The last two axes swapped (batched transpose).")
