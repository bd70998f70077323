"""``linear`` on Tensors, bound to :func:`numcnn.functional.linear_forward` / ``linear_backward``."""

from __future__ import annotations

from ... import functional as _pairs
from ...autograd import Tensor
from ._bind import with_params

__all__ = ["linear"]


def linear(input, weight, bias=None) -> Tensor:
    """``input @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Parameters
    ----------
    input : Tensor or ndarray, shape (N, *, in_features)
    weight : Tensor or ndarray, shape (out_features, in_features)
    bias : Tensor or ndarray, shape (out_features,), or None

    Returns
    -------
    Tensor, shape (N, *, out_features)
    """
    return with_params(_pairs.linear_forward, _pairs.linear_backward, input, (weight, bias), name="linear")
