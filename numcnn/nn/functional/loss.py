"""``cross_entropy`` on Tensors, bound to :func:`numcnn.functional.cross_entropy`, which returns the
loss and its gradient together: the recorded backward scales that gradient by the incoming one."""

from __future__ import annotations

import numpy as np

from ... import functional as _pairs
from ...autograd import Tensor, record
from ._bind import data, parent

__all__ = ["cross_entropy"]


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0) -> Tensor:
    """Mean cross-entropy of softmax(input) against ``target``, as ``torch.nn.functional.cross_entropy``.

    Parameters
    ----------
    input : Tensor or ndarray, shape (N, C) or (N, C, *d)
        Logits.
    target : ndarray or Tensor of int, shape (N,) or (N, *d), values in [0, C)
        Class indices (a constant); or class probabilities of ``input``'s shape.
    label_smoothing : float in [0, 1]
    weight, size_average, ignore_index, reduce, reduction
        PyTorch's signature; only the defaults (no class weights, mean reduction) are supported.

    Returns
    -------
    Tensor, shape (), input's dtype
    """
    if weight is not None or size_average is not None or reduce is not None or reduction != "mean":
        raise ValueError("cross_entropy supports only weight=None and reduction='mean'")
    logits = data(input)
    loss, dlogits = _pairs.cross_entropy(logits, data(target), label_smoothing)

    def backward(g):
        return (dlogits if g == 1 else dlogits * g,)

    return record(np.asarray(loss, dtype=logits.dtype), (parent(input),), backward, "cross_entropy")
