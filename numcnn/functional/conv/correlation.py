"""Stride-1 dx as the full correlation of dout with the flipped weight (an input gradient only).

dxp[y] = sum_k dout[y - d k] w[k]; padding dout by d (k - 1) on both sides turns it into a plain
stride-1 correlation with w[::-1], evaluated only over the unpadded input region: im2col + a
GEMM whose inner size is C_out * prod(kernel), no col2im.  The planner takes it where
C_out <= C_in, and runs that correlation itself by the stacked forward where the stacked rule
takes it ('correlation-stacked').  The zeros dout is padded with meet every weight, so the
weight must be finite.  No forward or weight gradient of its own.
"""

from __future__ import annotations

import math

import numpy as np

from .._scratch import pad_into_scratch, scratch
from .columns import _Columns, _chunk_samples, _from_gemm_layout, _samples
from .stacked import _stacked_forward

forward = weight_grad = None  # (an input gradient only)


def input_grad(dout, weight, geom, plan, out):
    """dx (into ``out`` when given) of a stride-1 convolution as a correlation of dout."""
    x_shape, pads, dilation, groups = geom.in_shape, geom.pads, geom.dilation, geom.groups
    nd = len(x_shape) - 2
    n, c_in = x_shape[:2]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    in_spatial = tuple(x_shape[2:])
    spans = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    dpad = pad_into_scratch(dout, tuple((sp, sp) for sp in spans), "pad")
    region = dpad[(slice(None), slice(None)) + tuple(
        slice(lo, lo + size + sp) for (lo, _), size, sp in zip(pads, in_spatial, spans)
    )]
    flipped = weight[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
    kk = math.prod(kernel)
    cog, cig = c_out // groups, c_in // groups
    w_t = np.ascontiguousarray(flipped.reshape(groups, cog, cig, kk).transpose(0, 2, 1, 3)).reshape(
        groups, cig, cog * kk
    )
    dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
    if plan.input_grad == "correlation-stacked":
        return _stacked_forward(region, ((0, 0),) * nd, np.ascontiguousarray(flipped.swapaxes(0, 1)), (1,) * nd, dilation, dx,
                                chunking=plan.chunking)
    grid = _Columns(region, ((0, 0),) * nd, kernel, (1,) * nd, tuple(dilation), in_spatial, groups, plan.chunking,
                    cacheable=False)
    per_sample = plan.input_grad_gemm == "per-sample"
    out_buf = None
    for start, stop, cols in grid.chunks():
        if per_sample:
            np.matmul(w_t[:, None], _chunk_samples(cols, stop - start), out=_samples(dx[start:stop], groups))
            continue
        if out_buf is None:
            out_buf = scratch("gemm", groups * cig * cols.shape[-1], dout.dtype).reshape(groups, cig, -1)
        prod = np.matmul(w_t, cols, out=out_buf[:, :, : cols.shape[-1]])
        _from_gemm_layout(dx[start:stop], prod)
    return dx
