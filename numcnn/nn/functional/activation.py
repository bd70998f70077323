"""Element-wise layers on Tensors: ``relu``, ``leaky_relu`` and ``dropout``, bound to their pairs
in :mod:`numcnn.functional`."""

from __future__ import annotations

from ... import functional as _pairs
from ... import distributed
from ...autograd import Tensor
from ..init import get_rng
from ._bind import data, records, unary

__all__ = ["relu", "leaky_relu", "dropout"]


def relu(input, inplace: bool = False) -> Tensor:
    """``max(input, 0)`` element-wise, as ``torch.nn.functional.relu`` (gradient 0 at 0).
    ``inplace`` is accepted for PyTorch's signature; a new Tensor is always returned."""
    if not records(input):  # no_grad inference: the values alone, without the backward's mask
        return Tensor(_pairs.relu_values(data(input)))
    return unary(_pairs.relu_forward, _pairs.relu_backward, input, name="relu")


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``input if input > 0 else negative_slope * input``, as ``torch.nn.functional.leaky_relu``."""
    return unary(_pairs.leaky_relu_forward, _pairs.leaky_relu_backward, input, negative_slope, name="leaky_relu")


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False, *, rng=None) -> Tensor:
    """Zero elements with probability ``p`` and scale the rest by ``1/(1-p)`` when ``training``,
    as ``torch.nn.functional.dropout``; the identity otherwise.

    ``rng`` (keyword only, a numcnn extension): the mask's generator; default
    :func:`numcnn.nn.init.get_rng`, so ``numcnn.nn.init.manual_seed`` makes the masks reproducible
    (the same masks as ``nn.Dropout`` and :func:`numcnn.functional.dropout_forward` draw).
    Inside ``numcnn.distributed.global_batch``, ``input`` is this process's shard and gets its rows
    of the global batch's mask.
    """
    return unary(_pairs.dropout_forward, _pairs.dropout_backward, input, p, training,
                 rng if rng is not None else get_rng(), rows=distributed.batch_rows(), name="dropout")
