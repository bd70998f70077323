"""numcnn: convolutional-network layers, forward and backward, on NumPy, with PyTorch's semantics."""

from . import functional, reference

__version__ = "0.1.0"

__all__ = ["functional", "reference", "__version__"]
