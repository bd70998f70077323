"""Activation modules: ``ReLU`` and ``LeakyReLU``, thin wrappers over :mod:`numcnn.nn.functional`."""

from __future__ import annotations

from . import functional as F
from .functional.fused import relu_max_pool
from .module import Module
from .pooling import MaxPool1d, MaxPool2d, MaxPool3d

__all__ = ["ReLU", "LeakyReLU"]


class ReLU(Module):
    """``max(x, 0)`` element-wise, as ``torch.nn.ReLU`` (gradient 0 at x == 0). Any shape."""

    def __init__(self, inplace: bool = False):
        super().__init__()

    def forward(self, x):
        return F.relu(x)

    def _fuses_with(self, following):
        # exactly these classes: a subclass may change forward
        return (
            type(self) is ReLU
            and type(following) in (MaxPool1d, MaxPool2d, MaxPool3d)
            and not following.return_indices
        )

    def _fused_call(self, x, pool):
        """``pool(self(x))`` for a Tensor ``x``, as one node."""
        return relu_max_pool(x, pool._nd, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode)


class LeakyReLU(Module):
    """``x if x > 0 else negative_slope * x``, as ``torch.nn.LeakyReLU``. Any shape."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"
