"""numcnn: convolutional-network layers, forward and backward, on NumPy, with PyTorch's semantics."""

from . import functional, reference
from ._threads import get_num_threads, set_num_threads
from .functional._scratch import clear as clear_scratch

__version__ = "0.1.0"

__all__ = ["__version__", "clear_scratch", "functional", "get_num_threads", "reference", "set_num_threads"]
