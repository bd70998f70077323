"""Activation modules: ``ReLU`` and ``LeakyReLU``, thin wrappers over :mod:`numcnn.nn.functional`."""

from __future__ import annotations

from . import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU"]


class ReLU(Module):
    """``max(x, 0)`` element-wise, as ``torch.nn.ReLU`` (gradient 0 at x == 0). Any shape."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.LeakyReLU``. Any shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
