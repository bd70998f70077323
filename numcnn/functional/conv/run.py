"""Running a conv plan: each pass by its planned path, on the plan's batch parts.

These are also the seams :mod:`numcnn.functional.conv_transpose` builds on (``conv_nd``,
``conv_nd_weight_grad``, ``conv_nd_input_grad``, ``conv_nd_and_weight_grad``); their arguments are
already checked and normalised (tuples, (before, after) zero pads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import _threads
from . import (
    band2d,
    correlation,
    depthwise_banded,
    depthwise_flat,
    depthwise_shifted,
    flat,
    gemm,
    pointwise,
    stacked,
)
from .columns import _add_bias, bias_grad
from .planner import ConvPlan, Geometry, Operands, plan_backward, plan_conv

# path -> the function running it, per pass (planner.PASSES names them)
FORWARD = {
    "pointwise": pointwise.forward,
    "gemm": gemm.forward,
    "stacked": stacked.forward,
    "band2d": band2d.forward,
    "depthwise-banded": depthwise_banded.forward,
    "depthwise-flat": depthwise_flat.forward,
    "depthwise-shifted": depthwise_shifted.forward,
}
WEIGHT_GRAD = {
    "pointwise": pointwise.weight_grad,
    "gemm": gemm.weight_grad,
    "stacked": stacked.weight_grad,
    "band2d": band2d.weight_grad,
    "depthwise-banded": depthwise_banded.weight_grad,
    "depthwise-flat": depthwise_flat.weight_grad,
    "depthwise-shifted": depthwise_shifted.weight_grad,
}
INPUT_GRAD = {
    "pointwise": pointwise.input_grad,
    "col2im": gemm.input_grad,
    "correlation": correlation.input_grad,
    "correlation-stacked": correlation.input_grad,
    "flat": flat.input_grad,
    "stacked": stacked.input_grad,
    "band2d": band2d.input_grad,
    "depthwise-banded": depthwise_banded.input_grad,
    "depthwise-banded-correlation": depthwise_banded.correlation_input_grad,
    "depthwise-flat-correlation": depthwise_flat.correlation_input_grad,
    "depthwise-shifted": depthwise_shifted.input_grad,
}


@dataclass(frozen=True)
class ConvColumns:
    """The ``cols`` of :func:`conv_nd`: its plan, its operands, and for each batch part (one per
    thread) what the forward path keeps for the weight gradient (the input and its padding, the
    kept im2col columns, a band path's rows...)."""

    plan: ConvPlan
    operands: Operands
    parts: dict  # (start, stop) -> that part's columns


def geometry(x_shape, weight_shape, stride, pads, dilation, groups) -> Geometry:
    return Geometry(tuple(x_shape), tuple(weight_shape), tuple(stride), tuple(tuple(p) for p in pads),
                    tuple(dilation), groups)


def conv_nd(x, weight, stride, pads, dilation, groups, bias=None):
    """Convolution of an unpadded ``x`` by zero ``pads``, plus ``bias`` when given: returns
    ``(out, cols)``, ``cols`` a :class:`ConvColumns` (read by :func:`conv_nd_weight_grad`)."""
    operands = Operands(x, weight)
    plan = plan_conv(geometry(x.shape, weight.shape, stride, pads, dilation, groups), x.dtype, operands)
    return run_forward(x, weight, plan, operands, bias)


def run_forward(x, weight, plan: ConvPlan, operands: Operands, bias=None):
    """:func:`conv_nd` by ``plan``.  The bias is added where each path writes its result (or
    right after), so that it costs no pass of its own over ``out`` and, in a split pass, runs on
    the part's thread."""
    geom = plan.geometry
    n = x.shape[0]
    if n == 0:  # an empty batch, as PyTorch allows: nothing to compute (and no chunk to size)
        return np.empty((0, geom.c_out) + geom.out_spatial, dtype=x.dtype), ConvColumns(plan, operands, {})
    forward = FORWARD[plan.forward]
    if len(plan.parts) == 1:
        out, cols = forward(x, weight, geom, plan, None, bias)
        return out, ConvColumns(plan, operands, {plan.parts[0]: cols})
    out = np.empty((n, geom.c_out) + geom.out_spatial, dtype=x.dtype)

    def part(start, stop):
        return forward(x[start:stop], weight, geom, plan, out[start:stop], bias)[1]  # (n from x)

    cols = _threads.run(part, list(plan.parts), uses_blas=True)
    return out, ConvColumns(plan, operands, dict(zip(plan.parts, cols)))


def conv_nd_weight_grad(dout, cols: ConvColumns, weight_shape, groups, bias=False):
    """``(dw, db)``: the weight's gradient from ``dout`` (N, C_out, *out) and the forward's
    ``cols``, and with ``bias`` the bias's (else None)."""
    plan = plan_backward(cols.plan, cols.operands.with_dout(dout))
    return weight_and_bias_grad(dout, cols, plan, bias)


def weight_and_bias_grad(dout, cols: ConvColumns, plan: ConvPlan, bias):
    """``(dw, db)`` by ``plan``, in the forward's batch parts, on the same threads; one partial
    sum per part (db beside dw, so that a split pass sums its own part of dout on its thread)."""
    geom = plan.geometry
    if dout.shape[0] == 0:
        return np.zeros(geom.weight_shape, dtype=dout.dtype), (bias_grad(dout) if bias else None)
    weight_grad = WEIGHT_GRAD[plan.weight_grad]

    def part(start, stop):
        d = dout[start:stop]
        return weight_grad(d, cols.parts[start, stop], geom, plan), (bias_grad(d) if bias else None)  # (n from dout)

    return _sum_parts(_threads.run(part, list(cols.parts), uses_blas=True))


def both_grads(dout, cols: ConvColumns, weight, plan: ConvPlan, bias):
    """``(dx, dw, db)`` of a plan whose ``one_pass`` computes the stacked gradients together, in
    the forward's batch parts."""
    if len(cols.parts) == 1:
        (part_cols,) = cols.parts.values()
        dx, dw = stacked.both_grads(dout, part_cols, weight, plan)
        return dx, dw, (bias_grad(dout) if bias else None)
    dx = np.empty(plan.geometry.in_shape, dtype=dout.dtype)

    def part(start, stop):
        _, dw = stacked.both_grads(dout[start:stop], cols.parts[start, stop], weight, plan, dx[start:stop])
        return dw, (bias_grad(dout[start:stop]) if bias else None)

    return (dx,) + _sum_parts(_threads.run(part, list(cols.parts), uses_blas=True))


def conv_nd_input_grad(dout, weight, x_shape, stride, pads, dilation, groups, bias=None):
    """Gradient of the (unpadded) input of shape ``x_shape`` from ``dout`` (N, C_out, *out),
    plus ``bias`` (C_in,) along the channels when given.

    This is also the forward pass of the transposed convolution (whose bias is then added on
    each part's thread, not in a pass of its own on the caller's).
    """
    geom = geometry(x_shape, weight.shape, stride, pads, dilation, groups)
    plan = plan_conv(geom, dout.dtype, Operands(weight=weight, dout=dout), one_pass=False)
    return run_input_grad(dout, weight, plan, bias)


def run_input_grad(dout, weight, plan: ConvPlan, bias=None):
    """dx by ``plan``'s input-gradient path, on its batch parts, plus ``bias`` when given."""
    geom = plan.geometry
    if geom.in_shape[0] == 0:
        return np.empty(geom.in_shape, dtype=dout.dtype)
    input_grad = INPUT_GRAD[plan.input_grad]
    if len(plan.parts) == 1:
        return _add_bias(input_grad(dout, weight, geom, plan, None), bias)
    dx = np.empty(geom.in_shape, dtype=dout.dtype)

    def part(start, stop):
        input_grad(dout[start:stop], weight, geom.part(stop - start), plan, dx[start:stop])
        _add_bias(dx[start:stop], bias)

    _threads.run(part, list(plan.parts), uses_blas=True)
    return dx


def conv_nd_and_weight_grad(x, weight, stride, pads, dilation, groups, grad, sum_x=False):
    """``(out, dw, x_sum)`` from one im2col of ``x``, or None where the plan's passes are not
    im2col + chunk GEMMs (the caller then calls :func:`conv_nd` and :func:`conv_nd_weight_grad`).

    ``out`` is ``conv_nd(x, weight, ...)``; ``dw`` is the weight gradient of that convolution for
    the output gradient ``grad`` (shape of ``out``); ``x_sum`` is ``bias_grad(x)`` with
    ``sum_x``, else None.  The transposed convolution's backward is exactly this (``x`` its
    dout, ``grad`` its input): both products read the same columns, so each chunk is built once,
    not once per product (conv_transpose2d (32, 64, 16, 16) x (64, 32, 4, 4) s2: two im2cols of
    1.8 ms each on one core).
    """
    geom = geometry(x.shape, weight.shape, stride, pads, dilation, groups)
    if x.shape[0] == 0:
        return None
    plan = plan_conv(geom, x.dtype)  # the shapes' plan: a GEMM path needs no finite operand
    if (plan.forward, plan.forward_gemm, plan.weight_grad) != ("gemm", "chunk", "gemm"):
        return None
    out = np.empty((x.shape[0], geom.c_out) + geom.out_spatial, dtype=x.dtype)

    def part(start, stop):
        return gemm.conv_and_weight_grad(x[start:stop], weight, geom, plan, grad[start:stop],
                                         out[start:stop], sum_x)

    return (out,) + _sum_parts(_threads.run(part, list(plan.parts), uses_blas=True))


def _sum_parts(partial):
    """Add up the batch parts' ``(dw, db)`` pairs (db None throughout, or an array in each)."""
    dw, db = partial[0]
    for part_dw, part_db in partial[1:]:
        dw += part_dw
        if db is not None:
            db += part_db
    return dw, db
