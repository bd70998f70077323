"""Drop-in for CS231n assignment 2's ``fast_layers.py`` (and its naive layers), no Cython build.

A compatibility façade only: it translates the assignment's dict parameters and calls
``numcnn.functional`` (fast) or ``numcnn.reference`` (naive).
"""

from __future__ import annotations

import numpy as np

from ..functional import conv2d_backward, conv2d_forward, max_pool2d_backward, max_pool2d_forward
from ..reference import (
    conv_backward_naive,
    conv_forward_naive,
    max_pool_backward_naive,
    max_pool_forward_naive,
)

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
    "conv_forward_fast",
    "conv_backward_fast",
    "max_pool_forward_fast",
    "max_pool_backward_fast",
    "conv_forward_im2col",
    "conv_backward_im2col",
    "conv_forward_strides",
    "conv_backward_strides",
    "max_pool_forward_reshape",
    "max_pool_backward_reshape",
    "max_pool_forward_im2col",
    "max_pool_backward_im2col",
]


def as_dtype_of(x, *params):
    """The assignment mixes float32 parameters with float64 data (NumPy upcasts silently); the
    numcnn ops insist on one dtype, so the façade casts parameters to ``x``'s floating dtype."""
    if isinstance(x, np.ndarray) and np.issubdtype(x.dtype, np.floating):
        return tuple(p.astype(x.dtype, copy=False) if isinstance(p, np.ndarray) else p for p in params)
    return params


def _param(params: dict, key: str, what: str):
    try:
        return params[key]
    except (KeyError, TypeError):
        raise KeyError(f"{what} must be a dict with key {key!r}, got {params!r}") from None


def conv_forward_fast(x, w, b, conv_param):
    """Convolution forward: x (N, C, H, W), w (F, C, HH, WW), b (F,), conv_param {'stride', 'pad'}.

    Returns ``(out, cache)`` like the assignment's fast layer; the output size is floored.
    """
    stride = _param(conv_param, "stride", "conv_param")
    pad = _param(conv_param, "pad", "conv_param")
    w, b = as_dtype_of(x, w, b)
    return conv2d_forward(x, w, b, stride=stride, padding=pad)


def conv_backward_fast(dout, cache):
    """Convolution backward: returns ``(dx, dw, db)``."""
    return conv2d_backward(dout, cache)


def max_pool_forward_fast(x, pool_param):
    """Max pool forward: pool_param {'pool_height', 'pool_width', 'stride'}; returns ``(out, cache)``."""
    kernel = (_param(pool_param, "pool_height", "pool_param"), _param(pool_param, "pool_width", "pool_param"))
    stride = _param(pool_param, "stride", "pool_param")
    return max_pool2d_forward(x, kernel, stride=stride)


def max_pool_backward_fast(dout, cache):
    """Max pool backward: returns ``dx``."""
    return max_pool2d_backward(dout, cache)


# The assignment's fast_layers.py also exposes its individual strategies; all are the one fast path.
conv_forward_im2col = conv_forward_strides = conv_forward_fast
conv_backward_im2col = conv_backward_strides = conv_backward_fast
max_pool_forward_reshape = max_pool_forward_im2col = max_pool_forward_fast
max_pool_backward_reshape = max_pool_backward_im2col = max_pool_backward_fast
