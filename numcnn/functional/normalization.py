"""Normalisation layers, forward and backward: batch norm (PyTorch's exact train/eval
semantics), layer norm and group norm.

All three normalise ``x`` over some axes to zero mean and unit (biased) variance, then apply a
per-channel (or per-feature) affine map; they share one backward formula
(:func:`_normalized_input_grad`).

Batch norm is a pure function although it has running statistics: :func:`batch_norm_forward`
never writes to ``running_mean``/``running_var``; the updated statistics come back as
``cache.running_mean`` and ``cache.running_var`` (new arrays), and the caller (``nn.BatchNorm2d``)
stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
import numbers
from typing import Callable

import numpy as np

from ._checks import check_array, check_cache, check_same_dtype
from ._window import check_dout

__all__ = [
    "batch_norm_forward",
    "batch_norm_backward",
    "batch_norm_values",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm_forward",
    "group_norm_backward",
]


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batch_norm_backward` needs, and the running statistics after the forward pass
    (updated in training mode, the given arrays in eval mode, None without running statistics)."""

    centred: np.ndarray  # (N, C, L): x minus the mean used for normalising
    inv_std: np.ndarray  # (C,): 1 / sqrt(var + eps)
    training: bool  # batch statistics (differentiated through) or running ones (constants)
    weight: np.ndarray | None
    has_bias: bool
    x_shape: tuple
    running_mean: np.ndarray | None = None
    running_var: np.ndarray | None = None
    count: int = 0  # values per channel behind the statistics (over every process's shard)
    reduce: Callable | None = None  # sums per-channel arrays over the processes (see forward)


@dataclass(frozen=True)
class NormCache:
    """What the backward pass of a layer or group normalisation needs."""

    x_hat: np.ndarray  # normalised input, in the layout the statistics were taken over
    inv_std: np.ndarray  # 1 / sqrt(var + eps), broadcastable against x_hat
    axes: tuple  # axes of x_hat reduced by the statistics
    batch_stats: bool  # False: the statistics were constants (eval mode), not functions of x
    weight: np.ndarray | None
    has_bias: bool
    param_shape: tuple  # broadcast shape of weight/bias against the output
    param_axes: tuple  # axes of the output summed for dweight/dbias
    x_shape: tuple


def _check_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _check_param(arr, name, shape, x):
    if arr is None:
        return
    check_array(arr, name)
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape} to match x {x.shape}, got {arr.shape}")
    check_same_dtype(x, arr, name)


def _normalized_input_grad(dx_hat, x_hat, inv_std, axes):
    """dL/dx of ``x_hat = (x - mean(x)) * inv_std`` with biased batch statistics over ``axes``:
    ``inv_std * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))``."""
    mean_d = dx_hat.mean(axis=axes, keepdims=True)
    mean_dx = (dx_hat * x_hat).mean(axis=axes, keepdims=True)
    return inv_std * (dx_hat - mean_d - x_hat * mean_dx)


def _affine(x_hat, weight, bias, shape):
    out = x_hat if weight is None else x_hat * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


def _affine_backward(dout, cache):
    """dx_hat, dweight, dbias from the upstream gradient."""
    dweight = dbias = None
    if cache.weight is not None:
        dweight = (dout * cache.x_hat.reshape(dout.shape)).sum(axis=cache.param_axes)
        dx_hat = dout * cache.weight.reshape(cache.param_shape)
    else:
        dx_hat = dout
    if cache.has_bias:
        dbias = dout.sum(axis=cache.param_axes)
    return dx_hat, dweight, dbias


def _reduced(reduce, array):
    """``array`` summed over the processes by ``reduce`` (itself without one); never in place on a
    caller's array: ``reduce`` gets a fresh float64 copy, which also keeps counts exact."""
    if reduce is None:
        return array
    return np.asarray(reduce(np.array(array, dtype=np.float64)))


def batch_norm_forward(
    x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5, *, reduce=None
):
    """Batch normalisation over the batch and spatial axes, per channel, as ``torch.nn.functional.batch_norm``.

    Training mode normalises with the batch mean and the BIASED batch variance, and updates the
    running statistics with ``momentum`` using the UNBIASED variance::

        running_mean' = (1 - momentum) * running_mean + momentum * mean
        running_var'  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

    where ``m = N * prod(spatial)``.  Eval mode normalises with the running statistics.

    Parameters
    ----------
    x : ndarray, shape (N, C) or (N, C, *spatial), floating
    running_mean, running_var : ndarray, shape (C,), or None
        Not modified.  Required in eval mode; None in training mode means no running statistics.
    weight, bias : ndarray, shape (C,), or None
        The affine map ``gamma``, ``beta`` (None: identity).
    training : bool
    momentum : float
        Weight of the new batch statistic in the running average.
    eps : float
        Added to the variance.
    reduce : callable, optional (keyword only)
        Synchronised batch norm (PyTorch's SyncBatchNorm) for data parallelism: ``x`` is this
        process's shard of a global batch, and ``reduce(a)`` returns the element-wise sum of a small
        float64 array ``a`` over every process holding a shard (an allreduce; every process must
        call it the same number of times).  Training mode then normalises with the statistics of
        the global batch (two reductions: the sums with the count, then the squared deviations),
        and :func:`batch_norm_backward` reduces its two per-channel sums with the same ``reduce``.
        A shard may be empty.  Ignored in eval mode.

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : BatchNormCache
        ``cache.running_mean`` and ``cache.running_var`` are the updated statistics (new arrays in
        training mode, the given arrays in eval mode).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(8.0).reshape(4, 2)
    >>> out, cache = batch_norm_forward(x, np.zeros(2), np.ones(2), training=True)
    >>> np.round(out[:, 0], 4).tolist(), cache.running_mean.tolist()
    ([-1.3416, -0.4472, 0.4472, 1.3416], [0.30000000000000004, 0.4])
    """
    return _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, keep_centred=True)


def batch_norm_values(x, running_mean, running_var, weight=None, bias=None, eps=1e-5):
    """The eval-mode output of :func:`batch_norm_forward` alone, for a caller that records nothing
    (no_grad inference): the same values, written into the buffer of ``x - running_mean``, which
    no cache keeps (one fresh array instead of two).  Returns ``out``, shape and dtype of ``x``."""
    return _batch_norm(x, running_mean, running_var, weight, bias, False, 0.1, eps, None, keep_centred=False)[0]


def _batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, reduce, keep_centred):
    """batch_norm_forward; ``keep_centred`` False: the output overwrites ``centred`` (the cache is
    then unusable, for :func:`batch_norm_values`)."""
    check_array(x, "x", min_ndim=2)
    c = x.shape[1]
    for name, arr in (("running_mean", running_mean), ("running_var", running_var)):
        if arr is not None:
            check_array(arr, name)
            if arr.shape != (c,):
                raise ValueError(f"{name} must have shape ({c},) to match x {x.shape} (C = x.shape[1]), got {arr.shape}")
    _check_param(weight, "weight", (c,), x)
    _check_param(bias, "bias", (c,), x)
    momentum = _check_real(momentum, "momentum")
    eps = _check_real(eps, "eps")
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean and running_var must both be arrays or both be None")
    if not training and running_mean is None:
        raise ValueError("batch_norm in eval mode (training=False) needs running_mean and running_var")
    reduce = reduce if training else None
    m = x.size // c if c else 0
    x3 = x.reshape(x.shape[0], c, int(np.prod(x.shape[2:])))  # not -1: a shard may be empty
    dt = x.dtype.type
    if reduce is not None:  # the sums and the count of the global batch
        sums_count = _reduced(reduce, np.append(x3.sum(axis=(0, 2)), m))
        m = int(sums_count[-1])
    if training and m <= 1:
        raise ValueError(f"batch_norm expects more than 1 value per channel when training, got input shape {x.shape}")

    # Work on an (N, C, L) view: per-channel sums are a contiguous reduction plus a short one,
    # and every element-wise step is one pass with per-channel (1, C, 1) coefficients.
    new_mean, new_var = running_mean, running_var
    if training:
        sums = x3.sum(axis=(0, 2)) if reduce is None else sums_count[:-1].astype(x.dtype)
        mean = sums / dt(m)
        centred = x3 - mean[:, None]
        squares = np.einsum("ncl,ncl->c", centred, centred)
        var = _reduced(reduce, squares).astype(x.dtype, copy=False) / dt(m)  # biased, for normalising
        inv_std = dt(1) / np.sqrt(var + dt(eps))
        if running_mean is not None:
            rdt = running_mean.dtype.type
            new_mean = (1 - rdt(momentum)) * running_mean + rdt(momentum) * mean.astype(running_mean.dtype)
            unbiased = var.astype(running_var.dtype) * running_var.dtype.type(m / (m - 1))
            new_var = (1 - running_var.dtype.type(momentum)) * running_var + running_var.dtype.type(momentum) * unbiased
    else:
        inv_std = dt(1) / np.sqrt(running_var.astype(x.dtype) + dt(eps))
        centred = x3 - running_mean.astype(x.dtype)[:, None]
    scale = inv_std if weight is None else inv_std * weight
    out = np.multiply(centred, scale[:, None], out=None if keep_centred else centred)
    if bias is not None:
        out += bias[:, None]
    cache = BatchNormCache(
        centred=centred,
        inv_std=inv_std,
        training=bool(training),
        weight=weight,
        has_bias=bias is not None,
        x_shape=x.shape,
        running_mean=new_mean,
        running_var=new_var,
        count=m,
        reduce=reduce,
    )
    return out.reshape(x.shape), cache


def batch_norm_backward(dout, cache):
    """Backward pass of :func:`batch_norm_forward`.

    In training mode the batch statistics are functions of ``x`` and are differentiated through;
    in eval mode the running statistics are constants.  With ``x_hat = (x - mean) * inv_std``
    and ``m`` values per channel::

        dbias   = sum(dout)                 dweight = sum(dout * x_hat)
        dx      = weight * inv_std * (dout - dbias / m - x_hat * dweight / m)    (training)
        dx      = weight * inv_std * dout                                          (eval)

    With the forward's ``reduce`` (synchronised batch norm), ``m`` and the two sums in ``dx`` are
    those of the global batch (one reduction); ``dweight`` and ``dbias`` stay this shard's, so
    that the usual allreduce of the parameters' gradients counts them once.

    Returns
    -------
    dx : ndarray, shape of ``x``
    dweight, dbias : ndarray, shape (C,), or None where the forward had no weight / bias
    """
    check_cache(cache, BatchNormCache, "batch_norm_forward")
    centred, inv_std = cache.centred, cache.inv_std
    dout = check_dout(dout, cache.x_shape, centred.dtype)
    d3 = dout.reshape(centred.shape)
    dt = centred.dtype.type
    m = dt(cache.count)
    sum_dy = d3.sum(axis=(0, 2))
    sum_dy_xhat = np.einsum("ncl,ncl->c", d3, centred) * inv_std
    dweight = sum_dy_xhat if cache.weight is not None else None
    dbias = sum_dy if cache.has_bias else None
    k = inv_std if cache.weight is None else inv_std * cache.weight
    if cache.training and cache.reduce is not None:
        sum_dy, sum_dy_xhat = _reduced(cache.reduce, np.stack([sum_dy, sum_dy_xhat])).astype(centred.dtype, copy=False)
    if cache.training:
        dx = d3 - (sum_dy / m)[:, None]
        dx *= k[:, None]
        dx -= centred * (k * inv_std * sum_dy_xhat / m)[:, None]
    else:
        dx = d3 * k[:, None]
    return dx.reshape(cache.x_shape), dweight, dbias


def _norm_backward(dout, cache, op):
    check_cache(cache, NormCache, op)
    dout = check_dout(dout, cache.x_shape, cache.x_hat.dtype)
    dx_hat, dweight, dbias = _affine_backward(dout, cache)
    dx_hat = dx_hat.reshape(cache.x_hat.shape)
    if cache.batch_stats:
        dx = _normalized_input_grad(dx_hat, cache.x_hat, cache.inv_std, cache.axes)
    else:
        dx = dx_hat * cache.inv_std
    return dx.reshape(cache.x_shape), dweight, dbias


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation over the trailing ``normalized_shape`` axes, as ``torch.nn.functional.layer_norm``.

    Parameters
    ----------
    x : ndarray, shape (*, *normalized_shape), floating
    normalized_shape : int or tuple of int
    weight, bias : ndarray, shape ``normalized_shape``, or None
    eps : float

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : NormCache
    """
    check_array(x, "x", min_ndim=1)
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if k == 0 or x.shape[x.ndim - k:] != normalized_shape or k > x.ndim:
        raise ValueError(f"normalized_shape {normalized_shape} must match the trailing dimensions of x {x.shape}")
    _check_param(weight, "weight", normalized_shape, x)
    _check_param(bias, "bias", normalized_shape, x)
    eps = _check_real(eps, "eps")
    axes = tuple(range(x.ndim - k, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    var = (centred * centred).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat = centred * inv_std
    out = _affine(x_hat, weight, bias, normalized_shape)
    cache = NormCache(
        x_hat=x_hat,
        inv_std=inv_std,
        axes=axes,
        batch_stats=True,
        weight=weight,
        has_bias=bias is not None,
        param_shape=normalized_shape,
        param_axes=tuple(range(x.ndim - k)),
        x_shape=x.shape,
    )
    return out, cache


def layer_norm_backward(dout, cache):
    """Backward pass of :func:`layer_norm_forward`: returns ``(dx, dweight, dbias)``."""
    return _norm_backward(dout, cache, "layer_norm_forward")


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation, as ``torch.nn.functional.group_norm``: the channels of each sample are
    split into ``num_groups`` groups, each normalised over its channels and spatial positions.

    Parameters
    ----------
    x : ndarray, shape (N, C, *spatial), floating
    num_groups : int, divides C
    weight, bias : ndarray, shape (C,), or None
    eps : float

    Returns
    -------
    out : ndarray, shape and dtype of ``x``
    cache : NormCache
    """
    check_array(x, "x", min_ndim=2)
    n, c = x.shape[:2]
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1:
        raise ValueError(f"num_groups must be a positive int, got {num_groups!r}")
    if c % num_groups:
        raise ValueError(f"num_groups={num_groups} must divide the number of channels (x.shape[1]={c})")
    _check_param(weight, "weight", (c,), x)
    _check_param(bias, "bias", (c,), x)
    eps = _check_real(eps, "eps")
    grouped = x.reshape(n, int(num_groups), -1)
    mean = grouped.mean(axis=2, keepdims=True)
    centred = grouped - mean
    var = (centred * centred).mean(axis=2, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + x.dtype.type(eps))
    x_hat = centred * inv_std
    shape = (1, c) + (1,) * (x.ndim - 2)
    out = _affine(x_hat.reshape(x.shape), weight, bias, shape)
    cache = NormCache(
        x_hat=x_hat,
        inv_std=inv_std,
        axes=(2,),
        batch_stats=True,
        weight=weight,
        has_bias=bias is not None,
        param_shape=shape,
        param_axes=(0,) + tuple(range(2, x.ndim)),
        x_shape=x.shape,
    )
    return out, cache


def group_norm_backward(dout, cache):
    """Backward pass of :func:`group_norm_forward`: returns ``(dx, dweight, dbias)``."""
    return _norm_backward(dout, cache, "group_norm_forward")
