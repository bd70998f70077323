"""numcnn: convolutional-network layers, forward and backward, on NumPy, with PyTorch's semantics."""

from . import functional, reference
from .autograd import Tensor, cat, enable_grad, is_grad_enabled, no_grad, stack, tensor
from ._threads import get_num_threads, set_num_threads
from .functional._scratch import clear as clear_scratch

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Tensor",
    "cat",
    "clear_scratch",
    "enable_grad",
    "functional",
    "get_num_threads",
    "is_grad_enabled",
    "no_grad",
    "reference",
    "set_num_threads",
    "stack",
    "tensor",
]
