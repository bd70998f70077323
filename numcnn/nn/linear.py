"""``Linear``, a fully connected layer over :func:`numcnn.nn.functional.linear`, and ``Identity``."""

from __future__ import annotations

import numpy as np

from . import functional as F
from .init import kaiming_uniform, uniform_bias
from .module import Module, Parameter

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """``y = x @ weight.T + bias``, as ``torch.nn.Linear``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    dtype : numpy dtype, default float32

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
        PyTorch's default init, U(-1/sqrt(in_features), 1/sqrt(in_features)).
    bias : Parameter, shape (out_features,), or None
        Same init.

    Shapes: x (N, *, in_features) -> (N, *, out_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32):
        super().__init__()
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative int, got {value!r}")
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.weight = Parameter(kaiming_uniform((out_features, in_features), in_features, dtype))
        self.register_parameter("bias", Parameter(uniform_bias(out_features, in_features, dtype)) if bias else None)

    def forward(self, x):
        self._check_input_dtype(x, self.weight.data)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Identity(Module):
    """Passes its input through (a placeholder layer, as ``torch.nn.Identity``); any constructor
    arguments are accepted and ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
