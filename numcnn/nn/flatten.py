"""``Flatten``: merge a range of dimensions into one (a reshape on the tape)."""

from __future__ import annotations

import numbers

from ..autograd import Tensor
from .module import Module

__all__ = ["Flatten"]


class Flatten(Module):
    """Flatten dimensions ``start_dim .. end_dim`` (inclusive, negative from the end), as
    ``torch.nn.Flatten``: (N, C, H, W) -> (N, C*H*W) with the defaults."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be an int, got {value!r}")
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a Tensor or numpy.ndarray, got {type(x).__name__}")
        nd = max(x.ndim, 1)
        start = self.start_dim + nd if self.start_dim < 0 else self.start_dim
        end = self.end_dim + nd if self.end_dim < 0 else self.end_dim
        if not (0 <= start < nd and 0 <= end < nd) or start > end:
            raise ValueError(
                f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) is out of range for x of shape {x.shape}"
            )
        if x.ndim == 0:
            return x.reshape(1)
        return x.flatten(start, end)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
