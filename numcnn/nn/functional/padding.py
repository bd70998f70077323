"""``pad`` on Tensors, as ``torch.nn.functional.pad``, bound to :func:`numcnn.functional.pad_forward`."""

from __future__ import annotations

from ... import functional as _pairs
from ._bind import unary

__all__ = ["pad"]


def pad(input, pad, mode: str = "constant", value=None):
    """Pad (or, with negative entries, crop) the last ``len(pad) // 2`` dimensions.

    ``pad`` lists (before, after) pairs starting from the last dimension: ``(left, right, top,
    bottom, ...)``.  ``mode`` is 'constant' (fill ``value``, default 0), 'reflect', 'replicate' or
    'circular'.  Returns a Tensor.
    """
    return unary(_pairs.pad_forward, _pairs.pad_backward, input, pad, mode, 0.0 if value is None else value,
                 name="pad")
