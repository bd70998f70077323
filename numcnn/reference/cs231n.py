"""CS231n's four naive layer passes, with the assignment's signatures and dict parameters, built on
the loop twins :func:`.conv.conv2d_forward` and :func:`.pool.max_pool2d_forward`.

The usual defects of the copies that circulate are fixed: integer output sizes (``//``), a
backward that derives every shape from its cache, a max-pool backward that accumulates so
overlapping windows are right, and PyTorch's rules in a window: among tied maxima the FIRST in
row-major scan order gets the gradient, and a NaN is the maximum (of several, the last).
"""

from __future__ import annotations

import numpy as np

from .conv import conv2d_backward, conv2d_forward
from .pool import max_pool2d_backward, max_pool2d_forward

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
]


class _Cache(tuple):
    """The assignment's cache tuple, also carrying the loop twin's cache for the backward pass."""

    twin = None


def _with_twin(items, twin) -> _Cache:
    cache = _Cache(items)
    cache.twin = twin
    return cache


def _output_size(size: int, window: int, stride: int, pad: int, what: str) -> int:
    numerator = size + 2 * pad - window
    if stride <= 0:
        raise ValueError(f"{what}: stride must be positive, got {stride}")
    if numerator < 0:
        raise ValueError(f"{what}: window {window} is larger than the padded input {size + 2 * pad}")
    return numerator // stride + 1


def _conv(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"w has {w.shape[1]} input channels (shape {w.shape}) but x has {x.shape[1]} (shape {x.shape})")
    for size, k in zip(x.shape[2:], w.shape[2:]):
        _output_size(size, k, stride, pad, "conv_forward_naive")
    if np.issubdtype(x.dtype, np.floating):  # the assignment mixes float32 weights with float64 data
        w, b = w.astype(x.dtype, copy=False), b.astype(x.dtype, copy=False)
    return conv2d_forward(x, w, b, stride=stride, padding=pad)


def conv_forward_naive(x, w, b, conv_param):
    """Convolution forward pass by loops.

    Inputs:
    - x: input data, shape (N, C, H, W)
    - w: filter weights, shape (F, C, HH, WW)
    - b: biases, shape (F,)
    - conv_param: dict with 'stride' (int) and 'pad' (int, zeros on every side)

    Returns (out, cache): out has shape (N, F, H', W') with
    H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride;
    cache is the tuple (x, w, b, conv_param).
    """
    out, twin = _conv(x, w, b, conv_param)
    return out, _with_twin((x, w, b, conv_param), twin)


def conv_backward_naive(dout, cache):
    """Convolution backward pass by loops.

    Inputs:
    - dout: upstream derivatives, shape (N, F, H', W')
    - cache: (x, w, b, conv_param) as from conv_forward_naive

    Returns (dx, dw, db), gradients with respect to x, w and b.
    """
    twin = getattr(cache, "twin", None) or _conv(*cache)[1]
    return conv2d_backward(dout, twin)


def _pool(x, pool_param):
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if ph <= 0 or pw <= 0:
        raise ValueError(f"max_pool_forward_naive: pool size must be positive, got {(ph, pw)}")
    _output_size(x.shape[2], ph, stride, 0, "max_pool_forward_naive")
    _output_size(x.shape[3], pw, stride, 0, "max_pool_forward_naive")
    return max_pool2d_forward(x, (ph, pw), stride=stride)


def max_pool_forward_naive(x, pool_param):
    """Max-pooling forward pass by loops.

    Inputs:
    - x: input data, shape (N, C, H, W)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride'

    Returns (out, cache): out has shape (N, C, H', W') with
    H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride;
    cache is the tuple (x, pool_param).
    """
    out, twin = _pool(x, pool_param)
    return out, _with_twin((x, pool_param), twin)


def max_pool_backward_naive(dout, cache):
    """Max-pooling backward pass by loops.

    Inputs:
    - dout: upstream derivatives, shape (N, C, H', W')
    - cache: (x, pool_param) as from max_pool_forward_naive

    Returns dx.  Each window's gradient goes to its first maximum in row-major scan order, or to
    its last NaN (PyTorch's rules), and overlapping windows add up.
    """
    twin = getattr(cache, "twin", None) or _pool(*cache)[1]
    return max_pool2d_backward(dout, twin)
