"""Stride-1 dx by flat shifts: W.T @ the wide dout, then one contiguous add per kernel offset.

An input gradient only.  The strided col2im adds runs of W_out elements (10 for LeNet's second
conv); on the flat padded grid each kernel offset is one shifted add of the whole wide plane.
The wide columns cost prod(padded[1:]) / prod(out[1:]) times the GEMM work; measured faster for
every stride-1 shape tried (notes/perf.md).  The wide dout's extra positions are zeros, so their
columns are exact zeros and add nothing; a non-finite weight would turn them into NaNs, so the
weight must be finite.
"""

from __future__ import annotations

import math

import numpy as np

from .._scratch import scratch
from .._window import kernel_offsets
from .columns import _chunk_samples, batch_chunks

forward = weight_grad = None  # (an input gradient only)


def flat_geometry(padded, kernel, dilation):
    """Flat shifts of a stride-1 convolution on the row-major padded grid.

    Output position ``o`` of a stride-1 convolution reads padded input ``o + shift(k)`` for every
    kernel offset ``k`` when both are flattened on the padded grid, with the output laid out
    "wide" (the output's extent along the first axis, the padded extent along the others; the
    extra positions are discarded).  Returns the shifts (kernel offsets in row-major order), the
    wide output's flat length, and the slack past the padded grid that the last shift reads.
    """
    strides = [math.prod(padded[i + 1 :]) for i in range(len(padded))]
    shifts = [sum(o * d * s for o, d, s in zip(offset, dilation, strides)) for offset in kernel_offsets(kernel)]
    wide = (padded[0] - dilation[0] * (kernel[0] - 1)) * strides[0]
    slack = sum((k - 1) * d * s for k, d, s in zip(kernel[1:], dilation[1:], strides[1:]))
    return shifts, wide, slack


def input_grad(dout, weight, geom, plan, out):
    """dx (into ``out`` when given) of a stride-1 convolution by flat shifts."""
    x_shape, pads, dilation, groups = geom.in_shape, geom.pads, geom.dilation, geom.groups
    n, c_in = x_shape[:2]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    out_spatial = tuple(dout.shape[2:])
    padded = tuple(geom.padded_shape[2:])
    shifts, wide, slack = flat_geometry(padded, kernel, dilation)
    plane = math.prod(padded) + slack
    cog, ckg = c_out // groups, c_in // groups * len(shifts)
    w_t = weight.reshape(groups, cog, ckg).swapaxes(1, 2)  # (groups, CK/groups, C_out/groups)
    dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
    chunks = _flat_chunks(n, c_in * len(shifts) * wide * dout.itemsize, plan.chunking)
    step = chunks[0][1] - chunks[0][0]
    d_buf = scratch("dout", step * c_out * wide, dout.dtype)
    d_buf[:] = 0  # the wide positions stay zero
    cols_buf = scratch("im2col", step * c_in * len(shifts) * wide, dout.dtype)
    p_buf = scratch("dx", step * c_in * plane, dout.dtype)
    per_sample = plan.input_grad_gemm == "per-sample"
    valid = (slice(None),) * 3 + tuple(slice(0, size) for size in out_spatial[1:])
    inner = (slice(None),) * 2 + tuple(slice(lo, lo + size) for size, (lo, _) in zip(x_shape[2:], pads))
    for start, stop in chunks:
        nb = stop - start
        if nb != step:
            d_buf[:] = 0  # the last, shorter chunk lays its wide positions out differently
        d_wide = d_buf[: c_out * nb * wide]
        np.copyto(d_wide.reshape((c_out, nb, out_spatial[0]) + padded[1:])[valid], dout[start:stop].swapaxes(0, 1))
        d_mat = d_wide.reshape(groups, cog, nb * wide)
        dcols = cols_buf[: ckg * groups * nb * wide].reshape(groups, ckg, nb * wide)
        if per_sample:
            np.matmul(w_t[:, None], _chunk_samples(d_mat, nb), out=_chunk_samples(dcols, nb))
        else:
            np.matmul(w_t, d_mat, out=dcols)
        dcols = dcols.reshape(c_in, len(shifts), nb, wide)
        dxp = p_buf[: c_in * nb * plane].reshape(c_in, nb, plane)
        dxp[...] = 0
        for k, shift in enumerate(shifts):
            target = dxp[:, :, shift : shift + wide]
            np.add(target, dcols[:, k], out=target)
        grid = dxp[:, :, : math.prod(padded)].reshape((c_in, nb) + padded)
        np.copyto(dx[start:stop], grid[inner].swapaxes(0, 1))
    return dx


def _flat_chunks(n, per_sample_bytes, chunking):
    """One chunk while the wide columns fit in ``chunking.chunk_bytes`` (each extra chunk costs
    more in thread synchronisation and per-call overhead than it saves in cache at these sizes)."""
    if chunking.samples is None and n * per_sample_bytes <= chunking.chunk_bytes:
        return [(0, n)]
    return batch_chunks(n, per_sample_bytes, chunking)
