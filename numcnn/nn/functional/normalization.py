"""Normalisation on Tensors: ``batch_norm``, ``layer_norm``, ``group_norm`` with
``torch.nn.functional``'s signatures, bound to their pairs in :mod:`numcnn.functional`."""

from __future__ import annotations

from ... import functional as _pairs
from ...autograd import Tensor, record
from ._bind import data, parent, records, with_params

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1,
               eps=1e-5, *, reduce=None) -> Tensor:
    """Batch normalisation per channel, as ``torch.nn.functional.batch_norm``.

    Parameters
    ----------
    input : Tensor or ndarray, shape (N, C) or (N, C, *spatial)
    running_mean, running_var : ndarray (or Tensor), shape (C,), or None
        In training they are UPDATED IN PLACE, as PyTorch does (``momentum`` and the unbiased
        batch variance); in eval mode they normalise.
    weight, bias : Tensor or ndarray, shape (C,), or None
    training : bool
    momentum, eps : float
    reduce : callable, optional (keyword only)
        Synchronised batch norm over processes (see :func:`numcnn.functional.batch_norm_forward`);
        ``numcnn.distributed.batch_norm_reducer()`` gives the process group's.

    Returns
    -------
    Tensor, the input's shape and dtype
    """
    running_mean, running_var = data(running_mean), data(running_var)
    if not training and not any(records(t) for t in (input, weight, bias)):  # no_grad inference
        return Tensor(_pairs.batch_norm_values(data(input), running_mean, running_var, data(weight), data(bias), eps))
    out, cache = _pairs.batch_norm_forward(data(input), running_mean, running_var, data(weight), data(bias),
                                           training=training, momentum=momentum, eps=eps, reduce=reduce)
    if training and running_mean is not None:
        running_mean[...] = cache.running_mean
        running_var[...] = cache.running_var
    parents = (parent(input), parent(weight), parent(bias))
    return record(out, parents, lambda g: _pairs.batch_norm_backward(g, cache), "batch_norm")


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dimensions, as
    ``torch.nn.functional.layer_norm``; ``weight``/``bias`` have shape ``normalized_shape``."""
    normalized_shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    return with_params(lambda x, w, b: _pairs.layer_norm_forward(x, normalized_shape, w, b, eps),
                       _pairs.layer_norm_backward, input, (weight, bias), name="layer_norm")


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5) -> Tensor:
    """Normalise groups of channels per sample, as ``torch.nn.functional.group_norm``;
    input (N, C, *), ``weight``/``bias`` shape (C,)."""
    return with_params(lambda x, w, b: _pairs.group_norm_forward(x, num_groups, w, b, eps),
                       _pairs.group_norm_backward, input, (weight, bias), name="group_norm")
