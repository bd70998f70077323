"""Define-by-run gradients: :class:`Tensor`, grad mode, and the ops without a functional pair.

``numcnn.Tensor``, ``numcnn.tensor``, ``numcnn.no_grad``, ``numcnn.cat`` and ``numcnn.stack``
are re-exported from here.
"""

from .graph import enable_grad, is_grad_enabled, no_grad, record, run_backward
from .tensor import Tensor, tensor
from .ops import as_tensor, cat, stack, unbroadcast  # noqa: E402  (binds the operators to Tensor)
from . import ops_math  # noqa: E402,F401  (binds exp, log, max, clamp, casts ... to Tensor)

__all__ = [
    "Tensor",
    "tensor",
    "no_grad",
    "enable_grad",
    "is_grad_enabled",
    "record",
    "run_backward",
    "as_tensor",
    "unbroadcast",
    "cat",
    "stack",
]
