"""``CrossEntropyLoss``: :func:`numcnn.nn.functional.cross_entropy` as a module."""

from __future__ import annotations

import numbers

import numpy as np

from . import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(Module):
    """Mean cross-entropy of softmax(logits) against class indices, as ``torch.nn.CrossEntropyLoss``.

    On Tensors, ``criterion(logits, y)`` returns a scalar Tensor (``loss.backward()``).  On
    ndarrays (the explicit API) it returns the loss as a 0-d array, and ``criterion.backward()``
    returns d loss / d logits (times ``dout``, default 1), to pass to ``model.backward``.

    Parameters
    ----------
    label_smoothing : float in [0, 1]
    """

    _explicit_backward = True  # backward() below is the explicit API's, not a legacy module's

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        self.label_smoothing = label_smoothing

    def forward(self, logits, y):
        return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)

    def backward(self, dout=1.0, input_grad=True):
        if isinstance(dout, bool) or not isinstance(dout, (numbers.Real, np.ndarray)) or np.ndim(dout) != 0:
            raise ValueError(f"dout of a scalar loss must be a scalar, got {dout!r}")
        kept = self._explicit
        dtype = kept[1].dtype if kept is not None else np.float64
        dlogits = super().backward(np.asarray(dout, dtype=dtype), input_grad)
        return dlogits[0] if isinstance(dlogits, tuple) else dlogits

    def extra_repr(self):
        return f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
