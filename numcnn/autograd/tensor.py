"""``Tensor``: an ndarray plus what a backward pass needs, with PyTorch's names.

A tensor made by the user is a leaf: ``backward()`` accumulates into its ``.grad`` when it was made
with ``requires_grad=True`` (parameters always are).  A tensor made by an op remembers the op
(its ``_node``) while gradients are being recorded.  The arithmetic and shape methods are in
:mod:`numcnn.autograd.ops`; layers are in :mod:`numcnn.nn.functional`.
"""

from __future__ import annotations

import numpy as np

from .graph import run_backward

__all__ = ["Tensor", "tensor"]


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Attributes
    ----------
    data : ndarray
        The values.
    grad : ndarray or None
        The accumulated gradient (same shape), filled by ``backward()`` for leaves that require it.
    requires_grad : bool
        Whether ops on this tensor are recorded for a backward pass.
    """

    # NumPy defers to Tensor's reflected operators (ndarray + Tensor -> Tensor.__radd__)
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False):
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.grad: np.ndarray | None = None
        self._node = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    # --- what it is ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self.data.dtype != np.float32:
            extra = f", dtype={self.data.dtype}" + extra
        return f"tensor({body}{extra})"

    # --- values -------------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as an ndarray (shared, not copied, as PyTorch's ``Tensor.numpy()``)."""
        return self.data

    def __array__(self, dtype=None, copy=None):
        # np.asarray(tensor) gives the values, as for a torch tensor (not a 0-d object array)
        if dtype is None and not copy:
            return self.data
        return np.array(self.data, dtype=dtype, copy=True)

    def tolist(self):
        """The values as (nested) Python lists of Python numbers."""
        return self.data.tolist()

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor of one element, this one has shape {self.shape}")
        return self.data.item()

    def detach(self) -> "Tensor":
        """The same values (shared) in a new leaf tensor that records nothing."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"only floating tensors can require gradients, got dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf tensor; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    # --- gradients ----------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) · gradient into ``.grad`` of every leaf that requires it.

        ``gradient`` (an array of ``self``'s shape) may be omitted only for a one-element tensor,
        where it is 1.  The graph is freed unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad and has no recorded op")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a one-element tensor, this one has shape "
                    f"{self.shape}; pass gradient= of that shape"
                )
            gradient = np.ones_like(self.data)
        else:
            gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient)
            if gradient.shape != self.shape:
                raise ValueError(f"gradient has shape {gradient.shape}, expected {self.shape}")
        run_backward([self], [gradient], retain_graph=retain_graph)

    def _accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` into ``.grad``, allocating it (a copy, in this tensor's dtype) on first use."""
        if self.grad is None:
            self.grad = np.array(grad, dtype=self.data.dtype, copy=True)
        else:
            self.grad += grad

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (as ``torch.tensor``); its dtype is ``data``'s
    NumPy dtype unless ``dtype`` is given."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(np.array(data, dtype=dtype, copy=True), requires_grad=requires_grad)
