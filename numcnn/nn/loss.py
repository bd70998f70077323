"""``CrossEntropyLoss``: the loss as a module; ``backward()`` returns dlogits."""

from __future__ import annotations

import numbers

import numpy as np

from ..functional.loss import cross_entropy
from .module import Module

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(Module):
    """Mean cross-entropy of softmax(logits) against class indices, as ``torch.nn.CrossEntropyLoss``.

    ``loss = criterion(logits, y)`` returns a float; ``criterion.backward()`` returns
    d loss / d logits (times ``dout``, default 1), to pass to ``model.backward``.

    Parameters
    ----------
    label_smoothing : float in [0, 1]
    """

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing
        self._dlogits = None

    def forward(self, logits, y):
        loss, self._dlogits = cross_entropy(logits, y, self.label_smoothing)
        return loss

    def __call__(self, logits, y):
        return self.forward(logits, y)

    def backward(self, dout=1.0):
        dlogits = self._cached(self._dlogits)
        if isinstance(dout, bool) or not isinstance(dout, (numbers.Real, np.ndarray)) or np.ndim(dout) != 0:
            raise ValueError(f"dout of a scalar loss must be a scalar, got {dout!r}")
        return dlogits if dout == 1 else dlogits * dlogits.dtype.type(dout)

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
