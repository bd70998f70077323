"""Convolution, forward and backward, for 1, 2 and 3 spatial dimensions: the public functions.

Arguments are checked here, once, before any work; ``padding`` becomes ``pads``, the explicit
zero pads per side ((before, after) per spatial axis), which is all the layers below see.  A
``padding_mode`` other than 'zeros' pads ``x`` itself here (as torch.nn.Conv*d does) and the
convolution then runs with zero ``pads`` of 0.  The planner (planner.py) picks each pass's
algorithm once, the forward keeps its plan in the cache (``cache.plan``), and run.py runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._batch import accepts_unbatched, unbatched_backward
from .._window import (
    as_tuple,
    check_cache,
    check_dout,
    check_groups,
    check_input,
    check_weight,
    conv_output_shape,
    conv_padding,
)
from ..padding import check_mode_pads, check_padding_mode, pad_mode, pad_mode_adjoint
from . import band2d
from .planner import ConvPlan, Operands, plan_backward, plan_conv
from .columns import bias_grad
from .run import ConvColumns, both_grads, geometry, run_forward, run_input_grad, weight_and_bias_grad

__all__ = [
    "ConvCache",
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
    """What the backward pass of a convolution needs; produced by ``conv*_forward``.

    ``x_shape`` is the caller's input shape.  With a ``padding_mode`` other than 'zeros', the
    convolution read ``x`` padded by ``mode_pads`` (its shape is ``geometry.in_shape``) with no
    zero padding, and the backward folds that padding's gradient back onto ``x``.
    """

    x_shape: tuple
    weight: np.ndarray
    cols: ConvColumns  # the plan, and what its forward path keeps for the weight gradient
    has_bias: bool
    out_shape: tuple  # full output shape (N, C_out, *spatial)
    padding_mode: str = "zeros"
    mode_pads: tuple = ()

    @property
    def plan(self) -> ConvPlan:
        """The plan the forward ran (the backward runs it too; see planner.py)."""
        return self.cols.plan

    @property
    def geometry(self):
        return self.cols.plan.geometry


def check_bias(bias, c_out, x, matching):
    """``bias`` is None or a (C_out,) array of ``x``'s dtype; ``matching`` names what fixes C_out
    (for the message)."""
    if bias is None:
        return
    if not isinstance(bias, np.ndarray):
        raise TypeError(f"bias must be a numpy.ndarray or None, got {type(bias).__name__}")
    if bias.shape != (c_out,):
        raise ValueError(f"bias must have shape ({c_out},) to match {matching}, got {bias.shape}")
    if bias.dtype != x.dtype:
        raise TypeError(f"bias dtype {bias.dtype} does not match x dtype {x.dtype}")


def _check_conv_args(x, weight, bias, stride, padding, dilation, groups, nd):
    check_input(x, nd, "x")
    check_weight(weight, x, nd, _WEIGHT_LAYOUT[nd])
    groups = check_groups(groups)
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
    check_bias(bias, c_out, x, f"weight {weight.shape}")
    kernel = weight.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight must have a non-empty kernel, got shape {weight.shape}")
    stride = as_tuple(stride, nd, "stride", minimum=1)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    pads = conv_padding(padding, nd, kernel, stride, dilation)
    return kernel, stride, dilation, pads, groups


def _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd, padding_mode="zeros"):
    padding_mode = check_padding_mode(padding_mode)
    kernel, stride, dilation, pads, groups = _check_conv_args(
        x, weight, bias, stride, padding, dilation, groups, nd
    )
    conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)  # raises if no output
    x_shape, mode_pads = x.shape, ()
    if padding_mode != "zeros" and any(lo or hi for lo, hi in pads):
        # As torch.nn.Conv*d: pad explicitly with the mode, then convolve without padding.
        check_mode_pads(x.shape[2:], pads, padding_mode)
        x, mode_pads, pads = pad_mode(x, pads, padding_mode), pads, ((0, 0),) * nd
    operands = Operands(x, weight)
    plan = plan_conv(geometry(x.shape, weight.shape, stride, pads, dilation, groups), x.dtype, operands)
    out, cols = run_forward(x, weight, plan, operands, bias)
    cache = ConvCache(
        x_shape=x_shape,
        weight=weight,
        cols=cols,
        has_bias=bias is not None,
        out_shape=out.shape,
        padding_mode=padding_mode if mode_pads else "zeros",
        mode_pads=mode_pads,
    )
    return out, cache


def _conv_backward(dout, cache: ConvCache, input_grad=True):
    check_cache(cache, ConvCache, "a conv forward")
    dout = check_dout(dout, cache.out_shape, cache.weight.dtype)
    cols, weight = cache.cols, cache.weight
    # the forward's plan, with the gradients' paths for this dout (an inf or NaN in it keeps
    # some paths off; see planner.py)
    plan = plan_backward(cols.plan, cols.operands.with_dout(dout))
    if plan.forward == "band2d" and len(cols.parts) == 1 and dout.shape[0]:
        # one dout layout and the forward's band matrix for both gradients
        (band_cols,) = cols.parts.values()
        db = bias_grad(dout) if cache.has_bias else None
        d_rows = band2d._dout_rows(dout)
        dw = band2d.weight_grad(dout, band_cols, plan.geometry, plan, d_rows)
        if not input_grad:
            return None, dw, db
        if plan.input_grad == "band2d":
            dx = band2d.input_grad(dout, weight, plan.geometry, plan, None, d_rows, band_cols.band)
        else:
            dx = run_input_grad(dout, weight, plan)
    elif input_grad and plan.one_pass and dout.shape[0]:
        dx, dw, db = both_grads(dout, cols, weight, plan, cache.has_bias)
    else:
        dw, db = weight_and_bias_grad(dout, cols, plan, cache.has_bias)
        if not input_grad:
            return None, dw, db
        dx = run_input_grad(dout, weight, plan)
    if cache.mode_pads:
        dx = pad_mode_adjoint(dx, cache.mode_pads, cache.padding_mode)
    return dx, dw, db


@accepts_unbatched(2)
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


@unbatched_backward
def conv2d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to the forward output.
    cache : ConvCache
        From :func:`conv2d_forward`.
    input_grad : bool
        False skips ``dx`` (returned as None), as PyTorch does for an input that does not require
        grad, e.g. the images going into a network's first layer.

    Returns
    -------
    dx : ndarray, shape of ``x``, or None when ``input_grad`` is False
    dw : ndarray, shape of ``weight``
    db : ndarray, shape (C_out,), or None when the forward had no bias
    """
    return _conv_backward(dout, cache, input_grad)


@accepts_unbatched(1)
def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-D convolution: x (N, C_in, L), weight (C_out, C_in / groups, kL); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=1, padding_mode=padding_mode)


@unbatched_backward
def conv1d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv1d_forward`: returns ``(dx, dw, db)``; see :func:`conv2d_backward`."""
    return _conv_backward(dout, cache, input_grad)


@accepts_unbatched(3)
def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-D convolution: x (N, C_in, D, H, W), weight (C_out, C_in / groups, kD, kH, kW); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=3, padding_mode=padding_mode)


@unbatched_backward
def conv3d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv3d_forward`: returns ``(dx, dw, db)``; see :func:`conv2d_backward`."""
    return _conv_backward(dout, cache, input_grad)
