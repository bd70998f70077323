"""Loop twin of ``linear_forward/backward``: ``out[r, j] = sum_i x[r, i] * w[j, i] + b[j]`` for
every row ``r`` of x's leading dimensions."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._loops import check_array, check_bias, check_cache, check_dout

__all__ = ["linear_forward", "linear_backward"]


@dataclass(frozen=True)
class LinearCache:
    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    out_shape: tuple


def linear_forward(x, weight, bias=None):
    """``x @ weight.T + bias`` by loops, the spec of :func:`numcnn.functional.linear_forward`.

    Parameters
    ----------
    x : ndarray, shape (*, in_features), floating
    weight : ndarray, shape (out_features, in_features), dtype of ``x``
    bias : ndarray, shape (out_features,), or None

    Returns
    -------
    out : ndarray, shape (*, out_features)
    cache : LinearCache
    """
    check_array(x, "x", min_ndim=1)
    check_array(weight, "weight")
    if weight.shape != (weight.shape[0], x.shape[-1]) or weight.dtype != x.dtype:
        raise ValueError(f"weight must be (out_features, {x.shape[-1]}) of dtype {x.dtype}, got {weight.shape} {weight.dtype}")
    check_bias(bias, x, weight.shape[0])
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty((rows.shape[0], weight.shape[0]), dtype=x.dtype)
    for r in range(rows.shape[0]):
        for j in range(weight.shape[0]):
            out[r, j] = np.dot(rows[r], weight[j]) + (0 if bias is None else bias[j])
    out = out.reshape(x.shape[:-1] + (weight.shape[0],))
    return out, LinearCache(x=x, weight=weight, has_bias=bias is not None, out_shape=out.shape)


def linear_backward(dout, cache):
    """Backward pass of :func:`linear_forward`: ``(dx, dw, db)`` (db None without a bias)::

        dx[r, i] = sum_j dout[r, j] w[j, i]    dw[j, i] = sum_r dout[r, j] x[r, i]    db[j] = sum_r dout[r, j]
    """
    check_cache(cache, LinearCache, "reference linear_forward")
    dout = check_dout(dout, cache.out_shape, cache.x.dtype)
    x, weight = cache.x, cache.weight
    rows, d = x.reshape(-1, x.shape[-1]), dout.reshape(-1, weight.shape[0])
    dx = np.zeros(rows.shape, dtype=x.dtype)
    dw = np.zeros_like(weight)
    db = np.zeros(weight.shape[0], dtype=x.dtype)
    for r in range(rows.shape[0]):
        for j in range(weight.shape[0]):
            dx[r] += d[r, j] * weight[j]
            dw[j] += d[r, j] * rows[r]
            db[j] += d[r, j]
    return dx.reshape(x.shape), dw, (db if cache.has_bias else None)
