"""Convolution, forward and backward, for 1, 2 and 3 spatial dimensions (one code path).

The fast path is im2col + one GEMM per pass: the columns of the padded input, laid out
(C * prod(kernel), N * prod(out)), are multiplied by the (C_out, C_in/groups * prod(kernel))
weight matrix; grouped (and depthwise) convolutions are one batched matmul over the groups.
The backward pass reuses the forward's columns for ``dw`` and folds ``dcols`` back with col2im.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import numbers

import numpy as np

from ._window import (
    as_tuple,
    check_dout,
    check_input,
    col2im,
    conv_output_shape,
    conv_padding,
    im2col,
    pad_constant,
)
from .padding import check_mode_pads, check_padding_mode, pad_mode, pad_mode_adjoint

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv3d_forward",
    "conv3d_backward",
]

_WEIGHT_LAYOUT = {1: "(C_out, C_in/groups, kL)", 2: "(C_out, C_in/groups, kH, kW)", 3: "(C_out, C_in/groups, kD, kH, kW)"}


@dataclass(frozen=True)
class ConvCache:
    """What the backward pass of a convolution needs; produced by ``conv*_forward``."""

    x_shape: tuple
    weight: np.ndarray
    cols: np.ndarray  # (groups, C_in/groups * prod(kernel), N * prod(out))
    has_bias: bool
    stride: tuple
    dilation: tuple
    pads: tuple
    groups: int
    out_shape: tuple  # full output shape (N, C_out, *spatial)
    # padding_mode other than 'zeros': the input was padded explicitly by mode_pads (then x_shape
    # is the padded shape and pads are zero); backward folds the gradient back with the adjoint.
    padding_mode: str = "zeros"
    mode_pads: tuple = ()


def _check_conv_args(x, weight, bias, stride, padding, dilation, groups, nd):
    check_input(x, nd, "x")
    if not isinstance(weight, np.ndarray):
        raise TypeError(f"weight must be a numpy.ndarray, got {type(weight).__name__}")
    if weight.ndim != nd + 2:
        raise ValueError(
            f"weight must be {nd + 2}-D {_WEIGHT_LAYOUT[nd]}, got shape {weight.shape} ({weight.ndim}-D)"
        )
    if weight.dtype != x.dtype:
        raise TypeError(f"weight dtype {weight.dtype} does not match x dtype {x.dtype}")
    if isinstance(groups, (bool, np.bool_)) or not isinstance(groups, numbers.Integral) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    groups = int(groups)
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels (x.shape[1]={c_in}) and "
            f"out_channels (weight.shape[0]={c_out})"
        )
    if weight.shape[1] * groups != c_in:
        raise ValueError(
            f"x has {c_in} channels (shape {x.shape}) but weight {weight.shape} with groups={groups} "
            f"expects {weight.shape[1] * groups}"
        )
    if bias is not None:
        if not isinstance(bias, np.ndarray):
            raise TypeError(f"bias must be a numpy.ndarray or None, got {type(bias).__name__}")
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},) to match weight {weight.shape}, got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"bias dtype {bias.dtype} does not match x dtype {x.dtype}")
    kernel = weight.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight must have a non-empty kernel, got shape {weight.shape}")
    stride = as_tuple(stride, nd, "stride", minimum=1)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    pads = conv_padding(padding, nd, kernel, stride, dilation)
    return kernel, stride, dilation, pads, groups


def conv_nd(x, weight, stride, pads, dilation, groups):
    """Convolution without bias of an unpadded ``x``: returns ``(out, cols)``.

    ``cols`` (groups, C_in/groups * prod(kernel), N * prod(out)) is what :func:`conv_nd_weight_grad`
    needs.  Arguments are already checked and normalised (tuples, (before, after) pads).
    """
    nd = x.ndim - 2
    n = x.shape[0]
    c_out = weight.shape[0]
    kernel = weight.shape[2:]
    out_spatial = conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)
    xp = pad_constant(x, pads)
    positions = n * math.prod(out_spatial)
    cols = im2col(xp, kernel, stride, dilation, out_spatial).reshape(groups, -1, positions)
    w_mat = weight.reshape(groups, c_out // groups, -1)
    out = np.matmul(w_mat, cols)  # (groups, C_out/groups, N * prod(out))
    out = out.reshape((c_out, n) + out_spatial).swapaxes(0, 1)
    assert out.ndim == nd + 2
    return np.ascontiguousarray(out), cols


def _dout_matrix(dout, groups):
    """(N, C_out, *out) -> (groups, C_out/groups, N * prod(out)), the GEMM layout of dout."""
    return np.ascontiguousarray(dout.swapaxes(0, 1)).reshape(groups, dout.shape[1] // groups, -1)


def conv_nd_weight_grad(dout, cols, weight_shape, groups):
    """Gradient of the weight from ``dout`` (N, C_out, *out) and the forward's ``cols``."""
    return np.matmul(_dout_matrix(dout, groups), cols.transpose(0, 2, 1)).reshape(weight_shape)


def conv_nd_input_grad(dout, weight, x_shape, stride, pads, dilation, groups):
    """Gradient of the (unpadded) input of shape ``x_shape`` from ``dout`` (N, C_out, *out).

    This is also the forward pass of the transposed convolution.
    """
    nd = len(x_shape) - 2
    c_out = weight.shape[0]
    kernel = weight.shape[2:]
    out_spatial = dout.shape[2:]
    w_mat = weight.reshape(groups, c_out // groups, -1)
    dcols = np.matmul(w_mat.transpose(0, 2, 1), _dout_matrix(dout, groups))
    dcols = dcols.reshape((x_shape[1],) + kernel + (dout.shape[0],) + out_spatial)
    padded_shape = tuple(x_shape[:2]) + tuple(size + lo + hi for size, (lo, hi) in zip(x_shape[2:], pads))
    dxp = col2im(dcols, padded_shape, kernel, stride, dilation, out_spatial)
    if dxp.shape == tuple(x_shape):
        return dxp
    unpad = (slice(None), slice(None)) + tuple(slice(lo, lo + size) for size, (lo, _) in zip(x_shape[2:], pads))
    assert len(unpad) == nd + 2
    return np.ascontiguousarray(dxp[unpad])


def _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd, padding_mode="zeros"):
    padding_mode = check_padding_mode(padding_mode)
    kernel, stride, dilation, pads, groups = _check_conv_args(
        x, weight, bias, stride, padding, dilation, groups, nd
    )
    conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)  # raises if no output
    mode_pads = ()
    if padding_mode != "zeros" and any(lo or hi for lo, hi in pads):
        # As torch.nn.Conv*d: pad explicitly with the mode, then convolve without padding.
        check_mode_pads(x.shape[2:], pads, padding_mode)
        x, mode_pads, pads = pad_mode(x, pads, padding_mode), pads, ((0, 0),) * nd
    out, cols = conv_nd(x, weight, stride, pads, dilation, groups)
    if bias is not None:
        out += bias.reshape((1, -1) + (1,) * nd)
    cache = ConvCache(
        x_shape=x.shape,
        weight=weight,
        cols=cols,
        has_bias=bias is not None,
        stride=stride,
        dilation=dilation,
        pads=pads,
        groups=groups,
        out_shape=out.shape,
        padding_mode=padding_mode if mode_pads else "zeros",
        mode_pads=mode_pads,
    )
    return out, cache


def _conv_backward(dout, cache: ConvCache):
    if not isinstance(cache, ConvCache):
        raise TypeError(f"cache must be the ConvCache returned by a conv forward, got {type(cache).__name__}")
    dout = check_dout(dout, cache.out_shape, cache.weight.dtype)
    nd = len(cache.x_shape) - 2
    db = dout.sum(axis=(0,) + tuple(range(2, 2 + nd))) if cache.has_bias else None
    dw = conv_nd_weight_grad(dout, cache.cols, cache.weight.shape, cache.groups)
    dx = conv_nd_input_grad(
        dout, cache.weight, cache.x_shape, cache.stride, cache.pads, cache.dilation, cache.groups
    )
    if cache.mode_pads:
        dx = pad_mode_adjoint(dx, cache.mode_pads, cache.padding_mode)
    return dx, dw, db


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """2-D convolution (cross-correlation, as in PyTorch), forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), floating
    weight : ndarray, shape (C_out, C_in / groups, kH, kW), same dtype as ``x``
    bias : ndarray, shape (C_out,), or None
    stride, dilation : int or (int, int), >= 1
    padding : int, (int, int), ``'valid'`` or ``'same'``
        Zero padding on both sides of each dimension.  ``'same'`` keeps H and W (stride 1 only);
        an odd total goes to the bottom/right, as in PyTorch.
    groups : int
        Split channels into ``groups`` independent convolutions (``groups == C_in`` is depthwise).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds, as ``torch.nn.Conv2d(padding_mode=...)``: the input is padded with
        the mode, then convolved without padding; the backward pass folds the padding's gradient
        back onto the input.  'reflect' needs padding < the input size, 'circular' <= it.

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out), dtype of ``x``
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``, likewise W.
    cache : ConvCache
        Everything :func:`conv2d_backward` needs.

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import conv2d_forward
    >>> x = np.ones((1, 1, 4, 4)); w = np.ones((2, 1, 3, 3))
    >>> out, cache = conv2d_forward(x, w, padding=1)
    >>> out.shape
    (1, 2, 4, 4)
    >>> float(out[0, 0, 1, 1]), float(out[0, 0, 0, 0])
    (9.0, 4.0)
    """
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=2, padding_mode=padding_mode)


def conv2d_backward(dout, cache):
    """Backward pass of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to the forward output.
    cache : ConvCache
        From :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray, shape of ``x``
    dw : ndarray, shape of ``weight``
    db : ndarray, shape (C_out,), or None when the forward had no bias
    """
    return _conv_backward(dout, cache)


def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-D convolution: x (N, C_in, L), weight (C_out, C_in / groups, kL); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=1, padding_mode=padding_mode)


def conv1d_backward(dout, cache):
    """Backward pass of :func:`conv1d_forward`: returns ``(dx, dw, db)``."""
    return _conv_backward(dout, cache)


def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-D convolution: x (N, C_in, D, H, W), weight (C_out, C_in / groups, kD, kH, kW); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=3, padding_mode=padding_mode)


def conv3d_backward(dout, cache):
    """Backward pass of :func:`conv3d_forward`: returns ``(dx, dw, db)``."""
    return _conv_backward(dout, cache)
