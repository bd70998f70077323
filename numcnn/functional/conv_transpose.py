"""Transposed convolution ("deconvolution"), forward and backward, for 1, 2 and 3 spatial dimensions.

A transposed convolution is the input-gradient of a convolution with the same weight, so it is
built from the convolution's three seams in :mod:`numcnn.functional.conv` and shares their speed:

- forward:  ``out = conv_nd_input_grad(x, weight, ...)`` (x plays the convolution's ``dout``);
- backward: ``dx = conv_nd(dout, weight, ...)`` (a plain convolution of ``dout``) and
  ``dw = conv_nd_weight_grad(x, cols(dout), ...)`` (the weight-gradient with roles swapped);
  on the plain im2col path both come from one pass over dout's columns
  (``conv_nd_and_weight_grad``).

Sizes: ``out = (in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1``.
Seen as a convolution of ``out`` back to ``in``, the padding is ``padding`` before and
``padding - output_padding`` after; where that is negative, the last output rows receive no tap
at all and are cropped from (and zero-padded back onto) the seam's arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._batch import accepts_unbatched, unbatched_backward
from ._window import as_tuple, check_cache, check_dout, check_groups, check_input, check_weight
from .conv import bias_grad, check_bias, conv_nd, conv_nd_and_weight_grad, conv_nd_input_grad, conv_nd_weight_grad

__all__ = [
    "conv_transpose1d_forward",
    "conv_transpose1d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose3d_forward",
    "conv_transpose3d_backward",
]

_WEIGHT_LAYOUT = {
    1: "(C_in, C_out/groups, kL)",
    2: "(C_in, C_out/groups, kH, kW)",
    3: "(C_in, C_out/groups, kD, kH, kW)",
}


@dataclass(frozen=True)
class ConvTransposeCache:
    """What the backward pass of a transposed convolution needs."""

    x: np.ndarray
    weight: np.ndarray
    has_bias: bool
    stride: tuple
    dilation: tuple
    seam_pads: tuple  # (before, after) pads of the equivalent convolution of the (cropped) output
    crop: tuple  # trailing output rows, per dimension, that no tap reaches
    groups: int
    out_shape: tuple  # full output shape (N, C_out, *spatial)


def _check_args(x, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    check_input(x, nd, "x")
    check_weight(weight, x, nd, _WEIGHT_LAYOUT[nd])
    groups = check_groups(groups)
    c_in = x.shape[1]
    if weight.shape[0] != c_in:
        raise ValueError(
            f"x has {c_in} channels (shape {x.shape}) but weight {weight.shape} {_WEIGHT_LAYOUT[nd]} "
            f"expects {weight.shape[0]}"
        )
    if c_in % groups:
        raise ValueError(f"groups={groups} must divide in_channels (x.shape[1]={c_in})")
    c_out = weight.shape[1] * groups
    check_bias(bias, c_out, x, f"weight {weight.shape} with groups={groups}")
    kernel = weight.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight must have a non-empty kernel, got shape {weight.shape}")
    if isinstance(padding, str):
        raise ValueError(
            f"padding must be an int or a tuple of {nd} ints for a transposed convolution, got {padding!r}"
        )
    stride = as_tuple(stride, nd, "stride", minimum=1)
    padding = as_tuple(padding, nd, "padding", minimum=0)
    output_padding = as_tuple(output_padding, nd, "output_padding", minimum=0)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    if any(op >= s and op >= d for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(
            f"output_padding must be smaller than either stride or dilation in each dimension, got "
            f"output_padding={output_padding}, stride={stride}, dilation={dilation}"
        )
    out_spatial = tuple(
        (n - 1) * s - 2 * p + d * (k - 1) + op + 1
        for n, s, p, d, k, op in zip(x.shape[2:], stride, padding, dilation, kernel, output_padding)
    )
    if any(o < 1 for o in out_spatial):
        raise ValueError(
            f"transposed convolution: the output size {out_spatial} is not positive for input "
            f"{x.shape[2:]}, kernel {tuple(kernel)}, stride {stride}, padding {padding}, dilation "
            f"{dilation}, output_padding {output_padding}"
        )
    return kernel, stride, padding, output_padding, dilation, groups, c_out, out_spatial


def _conv_transpose_forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd):
    kernel, stride, padding, output_padding, dilation, groups, c_out, out_spatial = _check_args(
        x, weight, bias, stride, padding, output_padding, groups, dilation, nd
    )
    # The equivalent convolution maps the output (padding p before, p - op after) back to x exactly.
    seam_pads = tuple((p, max(p - op, 0)) for p, op in zip(padding, output_padding))
    crop = tuple(max(op - p, 0) for p, op in zip(padding, output_padding))
    seam_spatial = tuple(o - c for o, c in zip(out_spatial, crop))
    n = x.shape[0]
    out = conv_nd_input_grad(x, weight, (n, c_out) + seam_spatial, stride, seam_pads, dilation, groups,
                             bias=None if any(crop) else bias)
    if any(crop):
        full = np.zeros((n, c_out) + out_spatial, dtype=x.dtype)
        full[(slice(None), slice(None)) + tuple(slice(0, s) for s in seam_spatial)] = out
        out = full
        if bias is not None:
            out += bias.reshape((1, -1) + (1,) * nd)
    cache = ConvTransposeCache(
        x=x,
        weight=weight,
        has_bias=bias is not None,
        stride=stride,
        dilation=dilation,
        seam_pads=seam_pads,
        crop=crop,
        groups=groups,
        out_shape=out.shape,
    )
    return out, cache


@unbatched_backward
def _conv_transpose_backward(dout, cache: ConvTransposeCache, input_grad=True):
    check_cache(cache, ConvTransposeCache, "a conv_transpose forward")
    dout = check_dout(dout, cache.out_shape, cache.weight.dtype)
    cropped = dout
    if any(cache.crop):
        cropped = dout[(slice(None), slice(None)) + tuple(slice(0, o - c) for o, c in zip(dout.shape[2:], cache.crop))]
    fused = conv_nd_and_weight_grad(cropped, cache.weight, cache.stride, cache.seam_pads, cache.dilation, cache.groups,
                                    cache.x, sum_x=cache.has_bias and cropped is dout)
    if fused is not None:
        dx, dw, db = fused
    else:
        dx, cols = conv_nd(cropped, cache.weight, cache.stride, cache.seam_pads, cache.dilation, cache.groups)
        dw, _ = conv_nd_weight_grad(cache.x, cols, cache.weight.shape, cache.groups)
        db = None
    if cache.has_bias and db is None:
        db = bias_grad(dout)
    # dx comes with the columns dw needs, so input_grad=False saves nothing here but the result
    return (dx if input_grad else None), dw, db


@accepts_unbatched(2)
def conv_transpose2d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, forward pass (``torch.nn.functional.conv_transpose2d``).

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), or (C_in, H, W) unbatched, floating
    weight : ndarray, shape (C_in, C_out / groups, kH, kW), same dtype as ``x``
    bias : ndarray, shape (C_out,), or None
    stride, dilation : int or (int, int), >= 1
    padding : int or (int, int), >= 0
        ``dilation * (k - 1) - padding`` zeros are added on both sides of the (stride-dilated)
        input; i.e. ``padding`` rows are removed from both sides of the full output.
    output_padding : int or (int, int)
        Extra rows added to one side (bottom/right) of the output, to pick among the input sizes
        a strided convolution maps to the same output size.  Must be smaller than either stride
        or dilation, as in PyTorch.
    groups : int
        Divides C_in; C_out = groups * weight.shape[1].

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out) (no N for an unbatched ``x``), dtype of ``x``
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.
    cache : ConvTransposeCache

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import conv_transpose2d_forward
    >>> out, cache = conv_transpose2d_forward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)), stride=2)
    >>> out.shape
    (1, 1, 4, 4)
    >>> out, _ = conv_transpose2d_forward(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2, padding=1,
    ...                                   output_padding=1)
    >>> out.shape
    (1, 1, 4, 4)
    """
    return _conv_transpose_forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=2)


def conv_transpose2d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
    cache : ConvTransposeCache

    Returns
    -------
    dx : ndarray, shape of ``x``
    dw : ndarray, shape of ``weight``
    db : ndarray, shape (C_out,), or None when the forward had no bias
    """
    return _conv_transpose_backward(dout, cache, input_grad)


@accepts_unbatched(1)
def conv_transpose1d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution: x (N, C_in, L) or (C_in, L), weight (C_in, C_out / groups, kL); see
    :func:`conv_transpose2d_forward`."""
    return _conv_transpose_forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=1)


def conv_transpose1d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose1d_forward`: returns ``(dx, dw, db)``."""
    return _conv_transpose_backward(dout, cache, input_grad)


@accepts_unbatched(3)
def conv_transpose3d_forward(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution: x (N, C_in, D, H, W) or (C_in, D, H, W), weight (C_in, C_out / groups, kD, kH, kW);
    see :func:`conv_transpose2d_forward`."""
    return _conv_transpose_forward(x, weight, bias, stride, padding, output_padding, groups, dilation, nd=3)


def conv_transpose3d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv_transpose3d_forward`: returns ``(dx, dw, db)``."""
    return _conv_transpose_backward(dout, cache, input_grad)
