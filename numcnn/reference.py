"""The executable spec: CS231n's four naive layer passes as plain loops that read like the math.

Same signatures and dict keys as the assignment's ``layers.py``, with the usual defects of the
copies that circulate fixed: integer output sizes (``//``), a backward that derives every shape from
its cache, Python 3 ``range``, a max-pool backward that ACCUMULATES (``+=``) so overlapping windows
are right, and tied maxima where only the FIRST in row-major scan order gets the gradient (PyTorch's
rule).  Slow on purpose; ``numcnn.functional`` is the fast path and never imports this module.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
]


def _output_size(size: int, window: int, stride: int, pad: int, what: str) -> int:
    numerator = size + 2 * pad - window
    if stride <= 0:
        raise ValueError(f"{what}: stride must be positive, got {stride}")
    if numerator < 0:
        raise ValueError(f"{what}: window {window} is larger than the padded input {size + 2 * pad}")
    return numerator // stride + 1


def conv_forward_naive(x, w, b, conv_param):
    """Convolution forward pass, four loops.

    Inputs:
    - x: input data, shape (N, C, H, W)
    - w: filter weights, shape (F, C, HH, WW)
    - b: biases, shape (F,)
    - conv_param: dict with 'stride' (int) and 'pad' (int, zeros on every side)

    Returns (out, cache): out has shape (N, F, H', W') with
    H' = 1 + (H + 2 * pad - HH) // stride and W' = 1 + (W + 2 * pad - WW) // stride;
    cache is (x, w, b, conv_param).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, Cw, HH, WW = w.shape
    if Cw != C:
        raise ValueError(f"w has {Cw} input channels (shape {w.shape}) but x has {C} (shape {x.shape})")
    H_out = _output_size(H, HH, stride, pad, "conv_forward_naive")
    W_out = _output_size(W, WW, stride, pad, "conv_forward_naive")
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride : i * stride + HH, j * stride : j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Convolution backward pass, four loops.

    Inputs:
    - dout: upstream derivatives, shape (N, F, H', W')
    - cache: (x, w, b, conv_param) as from conv_forward_naive

    Returns (dx, dw, db), gradients with respect to x, w and b.
    """
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    H_out = _output_size(H, HH, stride, pad, "conv_backward_naive")
    W_out = _output_size(W, WW, stride, pad, "conv_backward_naive")
    if dout.shape != (N, F, H_out, W_out):
        raise ValueError(f"dout must have the forward output's shape {(N, F, H_out, W_out)}, got {dout.shape}")
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3)).astype(b.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    dx = dxp[:, :, pad : pad + H, pad : pad + W]
    return dx, dw, db


def max_pool_forward_naive(x, pool_param):
    """Max-pooling forward pass, four loops.

    Inputs:
    - x: input data, shape (N, C, H, W)
    - pool_param: dict with 'pool_height', 'pool_width' and 'stride'

    Returns (out, cache): out has shape (N, C, H', W') with
    H' = 1 + (H - pool_height) // stride and W' = 1 + (W - pool_width) // stride;
    cache is (x, pool_param).
    """
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    if ph <= 0 or pw <= 0:
        raise ValueError(f"max_pool_forward_naive: pool size must be positive, got {(ph, pw)}")
    H_out = _output_size(H, ph, stride, 0, "max_pool_forward_naive")
    W_out = _output_size(W, pw, stride, 0, "max_pool_forward_naive")
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    out[n, c, i, j] = np.max(window)
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    """Max-pooling backward pass, four loops.

    Inputs:
    - dout: upstream derivatives, shape (N, C, H', W')
    - cache: (x, pool_param) as from max_pool_forward_naive

    Returns dx.  Each window's gradient goes to its first maximum in row-major scan order
    (``np.argmax`` of the flattened window, PyTorch's tie rule), and overlapping windows add up.
    """
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    H_out = _output_size(H, ph, stride, 0, "max_pool_backward_naive")
    W_out = _output_size(W, pw, stride, 0, "max_pool_backward_naive")
    if dout.shape != (N, C, H_out, W_out):
        raise ValueError(f"dout must have the forward output's shape {(N, C, H_out, W_out)}, got {dout.shape}")
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    a, b = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * stride + a, j * stride + b] += dout[n, c, i, j]
    return dx
