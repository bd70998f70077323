"""Fully connected (affine) layer, forward and backward, with PyTorch's weight layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_array, check_cache, check_same_dtype
from ._window import check_dout

__all__ = ["linear_forward", "linear_backward"]


@dataclass(frozen=True)
class LinearCache:
    """What :func:`linear_backward` needs."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    out_shape: tuple


def linear_forward(x, weight, bias=None):
    """``out = x @ weight.T + bias``, as ``torch.nn.functional.linear``.

    Parameters
    ----------
    x : ndarray, shape (N, *, in_features), floating
        Any number of leading dimensions; the last one is contracted.
    weight : ndarray, shape (out_features, in_features), dtype of ``x``
    bias : ndarray, shape (out_features,), or None

    Returns
    -------
    out : ndarray, shape (N, *, out_features), dtype of ``x``
    cache : LinearCache

    Examples
    --------
    >>> import numpy as np
    >>> out, _ = linear_forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
    >>> out.shape, float(out[0, 0])
    ((2, 4), 3.0)
    """
    check_array(x, "x", min_ndim=1)
    check_array(weight, "weight")
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"x has {x.shape[-1]} features in its last dimension (shape {x.shape}) but weight "
            f"{weight.shape} expects in_features={weight.shape[1]}"
        )
    check_same_dtype(x, weight, "weight")
    if bias is not None:
        check_array(bias, "bias")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"bias must have shape ({weight.shape[0]},) to match weight {weight.shape}, got {bias.shape}")
        check_same_dtype(x, bias, "bias")
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out, LinearCache(x=x, weight=weight, has_bias=bias is not None, out_shape=out.shape)


def linear_backward(dout, cache):
    """Backward pass of :func:`linear_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, *, out_features)
    cache : LinearCache

    Returns
    -------
    dx : ndarray, shape of ``x``
    dw : ndarray, shape (out_features, in_features)
    db : ndarray, shape (out_features,), or None when the forward had no bias
    """
    check_cache(cache, LinearCache, "linear_forward")
    dout = check_dout(dout, cache.out_shape, cache.x.dtype)
    out_features, in_features = cache.weight.shape
    dx = dout @ cache.weight
    d2 = dout.reshape(-1, out_features)
    dw = d2.T @ cache.x.reshape(-1, in_features)
    db = d2.sum(axis=0) if cache.has_bias else None
    return dx, dw, db
