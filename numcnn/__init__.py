"""numcnn: convolutional-network layers, forward and backward, on NumPy, with PyTorch's semantics."""

__version__ = "0.1.0"

from . import functional, reference

__all__ = ["functional", "reference", "__version__"]
