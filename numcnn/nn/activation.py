"""Activation modules: ``ReLU`` and ``LeakyReLU``."""

from __future__ import annotations

from ..functional.activation import leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward
from .module import Module

__all__ = ["ReLU", "LeakyReLU"]


class ReLU(Module):
    """``max(x, 0)`` element-wise, as ``torch.nn.ReLU`` (gradient 0 at x == 0). Any shape."""

    _commutes_with_max_pool = True  # Sequential may run a following max pool first

    def __init__(self):
        super().__init__()
        self._cache = None

    def forward(self, x):
        out, self._cache = relu_forward(x)
        return out

    def backward(self, dout, input_grad=True):
        return relu_backward(dout, self._cached(self._cache))


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.LeakyReLU``. Any shape."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope
        self._cache = None

    def forward(self, x):
        out, self._cache = leaky_relu_forward(x, self.negative_slope)
        return out

    def backward(self, dout, input_grad=True):
        return leaky_relu_backward(dout, self._cached(self._cache))

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
