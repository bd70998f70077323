"""Depthwise convolutions (one input channel per group) by sums of shifted slices; no im2col.

out[n, c*m + j] = sum_k weight[c*m + j, 0, k] * xp[n, c, window_k] (+ bias).  (An im2col would
be prod(kernel) times the input, for one matrix-vector product per channel.)  Any number of
dimensions, stride, dilation and channel multiplier; every pass.  The planner sends 2-D layers to
the banded GEMMs or the flat taps where they apply (depthwise_banded.py, depthwise_flat.py).
"""

from __future__ import annotations

import math

import numpy as np

from .._window import kernel_offsets, unpad, window_slices
from .columns import _Columns, _add_bias, _into


def forward(x, weight, geom, plan, out, bias):
    cols = _Columns(x, geom.pads, geom.kernel, geom.stride, geom.dilation, geom.out_spatial, geom.groups, plan.chunking)
    stride, dilation, out_spatial = geom.stride, geom.dilation, geom.out_spatial
    xp = cols.padded()
    n, c = xp.shape[:2]
    kernel = weight.shape[2:]
    nd = len(kernel)
    mult = weight.shape[0] // c
    w = weight.reshape(c, mult, -1)
    lead = (slice(None), slice(None))
    result = np.empty((n, c, mult) + tuple(out_spatial), dtype=xp.dtype)
    tmp = np.empty_like(result)
    bshape = (1, c, mult) + (1,) * nd
    for j, offset in enumerate(kernel_offsets(kernel)):
        v = xp[lead + window_slices(offset, out_spatial, stride, dilation)][:, :, None]
        if j == 0:
            np.multiply(v, w[:, :, j].reshape(bshape), out=result)
        else:
            np.multiply(v, w[:, :, j].reshape(bshape), out=tmp)
            result += tmp
    return _into(out, _add_bias(result.reshape((n, c * mult) + tuple(out_spatial)), bias)), cols


def weight_grad(dout, cols, geom, plan):
    weight_shape = geom.weight_shape
    xp = cols.padded()
    n, c = xp.shape[:2]
    nd = len(cols.kernel)
    mult = weight_shape[0] // c
    d = dout.reshape((n, c, mult) + tuple(cols.out_spatial))
    lead = (slice(None), slice(None))
    reduce_axes = (0,) + tuple(range(3, 3 + nd))
    dw = np.empty((c, mult, math.prod(cols.kernel)), dtype=dout.dtype)
    tmp = np.empty_like(d)
    for j, offset in enumerate(kernel_offsets(cols.kernel)):
        v = xp[lead + window_slices(offset, cols.out_spatial, cols.stride, cols.dilation)][:, :, None]
        np.multiply(d, v, out=tmp)
        tmp.sum(axis=reduce_axes, out=dw[:, :, j])
    return dw.reshape(weight_shape)


def input_grad(dout, weight, geom, plan, out):
    padded_shape, stride, dilation = geom.padded_shape, geom.stride, geom.dilation
    n, c = padded_shape[:2]
    kernel = weight.shape[2:]
    nd = len(kernel)
    mult = weight.shape[0] // c
    out_spatial = dout.shape[2:]
    w = weight.reshape(c, mult, -1)
    d = dout.reshape((n, c, mult) + tuple(out_spatial))
    dxp = np.zeros(padded_shape, dtype=dout.dtype)
    lead = (slice(None), slice(None))
    tmp = np.empty((n, c, mult) + tuple(out_spatial), dtype=dout.dtype)
    bshape = (1, c, mult) + (1,) * nd
    for j, offset in enumerate(kernel_offsets(kernel)):
        target = dxp[lead + window_slices(offset, out_spatial, stride, dilation)]
        np.multiply(d, w[:, :, j].reshape(bshape), out=tmp)
        contribution = tmp[:, :, 0] if mult == 1 else tmp.sum(axis=2)
        np.add(target, contribution, out=target)
    return unpad(dxp, geom.pads, out)
