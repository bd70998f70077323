"""Loop twins of batch, layer and group normalisation.

Each lays the values that share statistics out as the rows of a matrix (batch norm: one row per
channel; layer norm: one per leading index; group norm: one per (sample, group)) and loops over
the rows::

    x_hat = (v - mean(v)) / sqrt(var(v) + eps)           (biased variance)
    dv    = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var(v) + eps)

then applies ``out = x_hat * weight + bias`` per channel (per feature for layer norm).  Batch
norm in eval mode uses the running statistics, constants whose gradient is ``dx_hat / std``; in
training mode it returns the running statistics updated with the UNBIASED variance.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

import numpy as np

from ._loops import check_array, check_cache, check_dout

__all__ = [
    "batch_norm_forward",
    "batch_norm_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm_forward",
    "group_norm_backward",
]


@dataclass(frozen=True)
class NormCache:
    """What a normalisation's backward needs; ``running_mean``/``running_var`` are batch norm's
    statistics after the forward (None otherwise)."""

    x_hat_rows: np.ndarray  # (rows, values per row)
    inv_std: np.ndarray  # (rows,)
    batch_stats: bool  # the statistics are functions of x (differentiated through)
    layout: str  # 'channels', 'trailing' or 'groups'
    weight: np.ndarray | None
    has_bias: bool
    param_shape: tuple  # weight/bias broadcast against x
    param_axes: tuple  # the axes of x that dweight and dbias sum over
    x_shape: tuple
    running_mean: np.ndarray | None = None
    running_var: np.ndarray | None = None


def _rows(a, layout, count):
    """``a`` as a (count, -1) matrix, one row per set of values that share statistics."""
    if layout == "channels":
        return np.moveaxis(a, 1, 0).reshape(count, -1)
    return a.reshape(count, -1)


def _unrows(rows, layout, shape):
    if layout == "channels":
        return np.moveaxis(rows.reshape((shape[1], shape[0]) + tuple(shape[2:])), 0, 1)
    return rows.reshape(shape)


def _check_params(x, weight, bias, shape):
    for name, arr in (("weight", weight), ("bias", bias)):
        if arr is not None:
            check_array(arr, name)
            if arr.shape != shape or arr.dtype != x.dtype:
                raise ValueError(f"{name} must have shape {shape} and dtype {x.dtype}, got {arr.shape} {arr.dtype}")


def _standardize(rows, eps, mean=None, var=None):
    """Each row minus its mean over its standard deviation (given ``mean``/``var``: those)."""
    dt = rows.dtype.type
    x_hat = np.empty_like(rows)
    inv_std = np.empty(rows.shape[0], dtype=rows.dtype)
    for r in range(rows.shape[0]):
        v = rows[r]
        m = np.sum(v) / dt(v.size) if mean is None else mean[r]
        s2 = np.sum((v - m) * (v - m)) / dt(v.size) if var is None else var[r]
        inv_std[r] = dt(1) / np.sqrt(s2 + dt(eps))
        x_hat[r] = (v - m) * inv_std[r]
    return x_hat, inv_std


def _forward(x, rows, layout, weight, bias, param_shape, eps, batch_stats=True, mean=None, var=None, **running):
    x_hat, inv_std = _standardize(rows, eps, mean, var)
    out = _unrows(x_hat, layout, x.shape)
    if weight is not None:
        out = out * weight.reshape(param_shape)
    if bias is not None:
        out = out + bias.reshape(param_shape)
    axes = range(x.ndim - len(param_shape)) if layout == "trailing" else [0, *range(2, x.ndim)]
    cache = NormCache(x_hat, inv_std, batch_stats, layout, weight, bias is not None, param_shape, tuple(axes), x.shape,
                      **running)
    return np.ascontiguousarray(out, dtype=x.dtype), cache


def _backward(dout, cache: NormCache):
    check_cache(cache, NormCache, "a reference normalisation forward")
    dout = check_dout(dout, cache.x_shape, cache.x_hat_rows.dtype)
    x_hat = _unrows(cache.x_hat_rows, cache.layout, cache.x_shape)
    summed = cache.param_axes
    dweight = np.sum(dout * x_hat, axis=summed) if cache.weight is not None else None
    dbias = np.sum(dout, axis=summed) if cache.has_bias else None
    dx_hat = dout if cache.weight is None else dout * cache.weight.reshape(cache.param_shape)
    d_rows = _rows(dx_hat, cache.layout, cache.x_hat_rows.shape[0])
    dx = np.empty_like(d_rows)
    for r in range(d_rows.shape[0]):
        d, xh = d_rows[r], cache.x_hat_rows[r]
        if cache.batch_stats:
            dx[r] = cache.inv_std[r] * (d - np.mean(d) - xh * np.mean(d * xh))
        else:
            dx[r] = cache.inv_std[r] * d
    return np.ascontiguousarray(_unrows(dx, cache.layout, cache.x_shape)), dweight, dbias


def batch_norm_forward(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Batch normalisation by loops over the channels, the spec of
    :func:`numcnn.functional.batch_norm_forward` (same arguments, same ``cache.running_mean`` /
    ``cache.running_var``).

    x : (N, C) or (N, C, *spatial); running_mean, running_var, weight, bias : (C,) or None.
    """
    check_array(x, "x", min_ndim=2)
    c = x.shape[1]
    _check_params(x, weight, bias, (c,))
    if (running_mean is None) != (running_var is None) or (not training and running_mean is None):
        raise ValueError("running_mean and running_var must both be arrays (or both None in training mode)")
    rows = _rows(x, "channels", c)
    shape = (1, c) + (1,) * (x.ndim - 2)
    if not training:
        mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        return _forward(x, rows, "channels", weight, bias, shape, eps, False, mean, var,
                        running_mean=running_mean, running_var=running_var)
    m = rows.shape[1]
    if m <= 1:
        raise ValueError(f"batch_norm expects more than 1 value per channel when training, got input shape {x.shape}")
    new_mean = new_var = None
    if running_mean is not None:
        rdt = running_mean.dtype.type
        new_mean, new_var = np.empty_like(running_mean), np.empty_like(running_var)
        for ch in range(c):
            v = rows[ch]
            mean = np.sum(v) / x.dtype.type(m)
            var = np.sum((v - mean) * (v - mean)) / x.dtype.type(m)
            new_mean[ch] = (1 - rdt(momentum)) * running_mean[ch] + rdt(momentum) * rdt(mean)
            new_var[ch] = (1 - rdt(momentum)) * running_var[ch] + rdt(momentum) * rdt(var) * rdt(m / (m - 1))
    return _forward(x, rows, "channels", weight, bias, shape, eps, running_mean=new_mean, running_var=new_var)


def batch_norm_backward(dout, cache):
    """Backward pass of :func:`batch_norm_forward`: ``(dx, dweight, dbias)``."""
    return _backward(dout, cache)


def layer_norm_forward(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalisation by loops over the leading indices, the spec of
    :func:`numcnn.functional.layer_norm_forward`: x (*, *normalized_shape)."""
    check_array(x, "x", min_ndim=1)
    shape = (int(normalized_shape),) if isinstance(normalized_shape, numbers.Integral) else tuple(normalized_shape)
    if not shape or len(shape) > x.ndim or x.shape[x.ndim - len(shape):] != shape:
        raise ValueError(f"normalized_shape {shape} must match the trailing dimensions of x {x.shape}")
    _check_params(x, weight, bias, shape)
    rows = _rows(x, "trailing", x.size // math.prod(shape))
    return _forward(x, rows, "trailing", weight, bias, shape, eps)


def layer_norm_backward(dout, cache):
    """Backward pass of :func:`layer_norm_forward`: ``(dx, dweight, dbias)``."""
    return _backward(dout, cache)


def group_norm_forward(x, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalisation by loops over (sample, group), the spec of
    :func:`numcnn.functional.group_norm_forward`: x (N, C, *spatial), ``num_groups`` divides C."""
    check_array(x, "x", min_ndim=2)
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) or num_groups < 1 or x.shape[1] % num_groups:
        raise ValueError(f"num_groups must be a positive int dividing C={x.shape[1]}, got {num_groups!r}")
    _check_params(x, weight, bias, (x.shape[1],))
    rows = _rows(x, "groups", x.shape[0] * int(num_groups))
    return _forward(x, rows, "groups", weight, bias, (1, x.shape[1]) + (1,) * (x.ndim - 2), eps)


def group_norm_backward(dout, cache):
    """Backward pass of :func:`group_norm_forward`: ``(dx, dweight, dbias)``."""
    return _backward(dout, cache)
