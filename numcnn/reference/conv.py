"""Loop twins of ``conv{1,2,3}d_forward/backward``: one loop over output positions, the window
read as a (dilated) slice.

    out[n, o, p] = bias[o] + sum_{c, k} xp[n, g(o) * C_g + c, p * stride + k * dilation] * w[o, c, k]

where ``xp`` is the input padded by ``padding`` with ``padding_mode`` (:mod:`.pad`), ``C_g =
C_in / groups`` and ``g(o) = o // (C_out / groups)`` is the group of output channel ``o``.  The
backward pass reads the same sum the other way: each ``dout[n, o, p]`` adds ``dout * w[o]`` onto
the window it came from (then the padding's adjoint folds it back onto x) and ``dout * window``
onto ``dw[o]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._loops import (
    as_tuple,
    check_bias,
    check_cache,
    check_dout,
    check_groups,
    check_input,
    check_weight,
    conv_output_shape,
    conv_padding,
    positions,
    window,
)
from .pad import PadCache, pad_backward, pad_forward

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv3d_forward",
    "conv3d_backward",
    "torch_pad",
]

_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


@dataclass(frozen=True)
class ConvCache:
    """What the loop twin's conv backward needs."""

    xp: np.ndarray  # the padded input
    pad_cache: PadCache
    weight: np.ndarray
    has_bias: bool
    stride: tuple
    dilation: tuple
    groups: int
    out_shape: tuple


def torch_pad(pads) -> tuple[int, ...]:
    """Spatial (before, after) pairs as ``torch.nn.functional.pad``'s list: last dimension first."""
    return tuple(v for lo_hi in reversed(pads) for v in lo_hi)


def _conv_forward(x, weight, bias, stride, padding, dilation, groups, padding_mode, nd):
    check_input(x, nd, "x")
    check_weight(weight, x, nd, "(C_out, C_in/groups, *kernel)")
    groups = check_groups(groups)
    c_out, kernel = weight.shape[0], weight.shape[2:]
    if x.shape[1] % groups or c_out % groups or weight.shape[1] * groups != x.shape[1]:
        raise ValueError(f"groups={groups}: x {x.shape} and weight {weight.shape} do not match")
    check_bias(bias, x, c_out)
    if padding_mode not in _MODES:
        raise ValueError(f"padding_mode must be one of {list(_MODES)}, but got padding_mode={padding_mode!r}")
    stride = as_tuple(stride, nd, "stride", minimum=1)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    pads = conv_padding(padding, nd, kernel, stride, dilation)
    out_spatial = conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)
    xp, pad_cache = pad_forward(x, torch_pad(pads), _MODES[padding_mode])

    in_group, out_group = x.shape[1] // groups, c_out // groups
    out = np.zeros((x.shape[0], c_out) + out_spatial, dtype=x.dtype)
    for n in range(x.shape[0]):
        for o in range(c_out):
            g = o // out_group
            channels = slice(g * in_group, (g + 1) * in_group)
            for p in positions(out_spatial):
                patch = xp[(n, channels) + window([i * s for i, s in zip(p, stride)], kernel, dilation)]
                out[(n, o) + p] = np.sum(patch * weight[o]) + (0 if bias is None else bias[o])
    cache = ConvCache(xp, pad_cache, weight, bias is not None, stride, dilation, groups, out.shape)
    return out, cache


def _conv_backward(dout, cache: ConvCache, input_grad=True):
    check_cache(cache, ConvCache, "a reference conv forward")
    dout = check_dout(dout, cache.out_shape, cache.weight.dtype)
    xp, weight = cache.xp, cache.weight
    kernel = weight.shape[2:]
    c_out = weight.shape[0]
    in_group, out_group = xp.shape[1] // cache.groups, c_out // cache.groups
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(weight)
    db = np.zeros(c_out, dtype=weight.dtype)
    for n in range(xp.shape[0]):
        for o in range(c_out):
            g = o // out_group
            channels = slice(g * in_group, (g + 1) * in_group)
            for p in positions(cache.out_shape[2:]):
                sl = (n, channels) + window([i * s for i, s in zip(p, cache.stride)], kernel, cache.dilation)
                d = dout[(n, o) + p]
                dxp[sl] += d * weight[o]
                dw[o] += d * xp[sl]
                db[o] += d
    dx = pad_backward(dxp, cache.pad_cache) if input_grad else None
    return dx, dw, (db if cache.has_bias else None)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """2-D convolution by loops, the spec of :func:`numcnn.functional.conv2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), floating
    weight : ndarray, shape (C_out, C_in / groups, kH, kW), dtype of ``x``
    bias : ndarray, shape (C_out,), or None
    stride, dilation : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
    groups : int
    padding_mode : 'zeros', 'reflect', 'replicate' or 'circular'

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out),
        ``H_out = floor((H + 2 * padding - dilation * (kH - 1) - 1) / stride) + 1``
    cache : ConvCache
    """
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, padding_mode, nd=2)


def conv2d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv2d_forward`: ``(dx, dw, db)`` (dx None without ``input_grad``,
    db None without a bias)."""
    return _conv_backward(dout, cache, input_grad)


def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-D convolution by loops: x (N, C_in, L); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, padding_mode, nd=1)


def conv1d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv1d_forward`."""
    return _conv_backward(dout, cache, input_grad)


def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-D convolution by loops: x (N, C_in, D, H, W); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, padding_mode, nd=3)


def conv3d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv3d_forward`."""
    return _conv_backward(dout, cache, input_grad)
