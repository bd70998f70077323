"""Loop twins of ``conv_transpose{1,2,3}d_forward/backward``: one loop over INPUT positions.

Each input element scatters its weighted kernel onto the output, which is then cropped::

    full[n, g(c) * O_g + o, i * stride + k * dilation] += x[n, c, i] * w[c, o, k]
    out = full[..., padding : padding + out_size] + bias

with ``out_size = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``
and ``O_g = C_out / groups``; ``output_padding`` only lengthens the output (those rows get bias).
The backward pass reads the same scatter as a gather: ``dx[n, c, i] = sum(dfull[window] * w[c])``
and ``dw[c] += x[n, c, i] * dfull[window]``.
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
    positions,
    window,
)

__all__ = [
    "conv_transpose1d_forward",
    "conv_transpose1d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose3d_forward",
    "conv_transpose3d_backward",
]


@dataclass(frozen=True)
class ConvTransposeCache:
    """What the loop twin's transposed-convolution backward needs."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    stride: tuple
    padding: tuple
    dilation: tuple
    groups: int
    full_spatial: tuple  # the uncropped output
    out_shape: tuple


def _crop(padding, out_spatial):
    return tuple(slice(p, p + o) for p, o in zip(padding, out_spatial))


def _forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    check_input(x, nd, "x")
    check_weight(weight, x, nd, "(C_in, C_out/groups, *kernel)")
    groups = check_groups(groups)
    if weight.shape[0] != x.shape[1] or x.shape[1] % groups:
        raise ValueError(f"groups={groups}: x {x.shape} and weight {weight.shape} do not match")
    c_out, kernel = weight.shape[1] * groups, weight.shape[2:]
    check_bias(bias, x, c_out)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int or a tuple of {nd} ints for a transposed convolution, got {padding!r}")
    stride = as_tuple(stride, nd, "stride", minimum=1)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    output_padding = as_tuple(output_padding, nd, "output_padding", minimum=0)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"output_padding {output_padding} must be smaller than either stride {stride} or dilation {dilation}")
    spatial = x.shape[2:]
    out_spatial = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(spatial, stride, padding, dilation, kernel, output_padding)
    )
    if any(o < 1 for o in out_spatial):
        raise ValueError(f"transposed convolution: the output size {out_spatial} is not positive")
    # every tap's target, before the crop: out_size + 2 * padding (the crop's two sides)
    full_spatial = tuple(o + 2 * p for o, p in zip(out_spatial, padding))

    in_group, out_group = x.shape[1] // groups, weight.shape[1]
    full = np.zeros((x.shape[0], c_out) + full_spatial, dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            g = c // in_group
            outs = slice(g * out_group, (g + 1) * out_group)
            for i in positions(spatial):
                start = [j * s for j, s in zip(i, stride)]
                full[(n, outs) + window(start, kernel, dilation)] += x[(n, c) + i] * weight[c]
    out = full[(slice(None), slice(None)) + _crop(padding, out_spatial)].copy()
    if bias is not None:
        for o in range(c_out):
            out[:, o] += bias[o]
    cache = ConvTransposeCache(x, weight, bias is not None, stride, padding, dilation, groups, full_spatial, out.shape)
    return out, cache


def _backward(dout, cache: ConvTransposeCache, input_grad=True):
    check_cache(cache, ConvTransposeCache, "a reference conv_transpose forward")
    x, weight = cache.x, cache.weight
    dout = check_dout(dout, cache.out_shape, weight.dtype)
    dfull = np.zeros(dout.shape[:2] + cache.full_spatial, dtype=dout.dtype)
    dfull[(slice(None), slice(None)) + _crop(cache.padding, cache.out_shape[2:])] = dout
    kernel = weight.shape[2:]
    in_group, out_group = x.shape[1] // cache.groups, weight.shape[1]
    dx = np.zeros_like(x)
    dw = np.zeros_like(weight)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            g = c // in_group
            outs = slice(g * out_group, (g + 1) * out_group)
            for i in positions(x.shape[2:]):
                patch = dfull[(n, outs) + window([j * s for j, s in zip(i, cache.stride)], kernel, cache.dilation)]
                dx[(n, c) + i] = np.sum(patch * weight[c])
                dw[c] += x[(n, c) + i] * patch
    db = None
    if cache.has_bias:
        db = np.array([np.sum(dout[:, o]) for o in range(dout.shape[1])], dtype=dout.dtype)
    return (dx if input_grad else None), dw, db


def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution by loops, the spec of
    :func:`numcnn.functional.conv_transpose2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), floating
    weight : ndarray, shape (C_in, C_out / groups, kH, kW), dtype of ``x``
    bias : ndarray, shape (C_out,), or None
    stride, padding, output_padding, dilation : int or (int, int)
    groups : int

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out),
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``
    cache : ConvTransposeCache
    """
    return _forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=2)


def conv_transpose2d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose2d_forward`: ``(dx, dw, db)``."""
    return _backward(dout, cache, input_grad)


def conv_transpose1d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution by loops: x (N, C_in, L); see :func:`conv_transpose2d_forward`."""
    return _forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=1)


def conv_transpose1d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose1d_forward`."""
    return _backward(dout, cache, input_grad)


def conv_transpose3d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution by loops: x (N, C_in, D, H, W); see :func:`conv_transpose2d_forward`."""
    return _forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=3)


def conv_transpose3d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose3d_forward`."""
    return _backward(dout, cache, input_grad)
