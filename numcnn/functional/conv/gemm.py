"""The im2col + GEMM convolution: the general path, for every shape.

The columns of the padded input, laid out (C * prod(kernel), N * prod(out)), are multiplied by
the (C_out, C_in/groups * prod(kernel)) weight matrix; grouped convolutions are one batched
matmul over the groups.  The columns are rebuilt a batch chunk at a time into one reused buffer
(kept whole from forward to backward only when small: columns.py), so no pass allocates a whole
im2col matrix; when one sample's GEMM is tiny, one GEMM per sample (a stack in a single
np.matmul; the plan's ``*_gemm``).  dx is W.T @ dout and a col2im, by phases (contiguous shifted
adds, then one interleaving copy; _col2im.py) where padding is 'same'-like, else by strided
slice-adds straight onto dx (entries on padding dropped).  Every pass.
"""

from __future__ import annotations

import math

import numpy as np

from .._scratch import scratch
from .columns import (
    _Columns,
    _add_bias,
    bias_grad,
    _chunk_samples,
    _col2im,
    _from_gemm_layout,
    _samples,
    _to_gemm_layout,
    batch_chunks,
)


def forward(x, weight, geom, plan, out, bias):
    """``(out, cols)``: the convolution of the unpadded ``x`` by im2col chunks and GEMMs."""
    n, c_out, groups = x.shape[0], geom.c_out, geom.groups
    out_spatial = geom.out_spatial
    cols = _Columns(x, geom.pads, geom.kernel, geom.stride, geom.dilation, out_spatial, groups, plan.chunking)
    xp = cols.padded()  # in scratch: the cache keeps x (see _Columns)
    w_mat = weight.reshape(groups, c_out // groups, -1)
    if out is None:
        out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)
    per_sample = plan.forward_gemm == "per-sample"
    out_buf = None
    for start, stop, chunk in cols.chunks(xp):
        if per_sample:
            np.matmul(w_mat[:, None], _chunk_samples(chunk, stop - start), out=_samples(out[start:stop], groups))
            _add_bias(out[start:stop], bias)
            continue
        if out_buf is None:
            out_buf = scratch("gemm", groups * (c_out // groups) * chunk.shape[-1], x.dtype).reshape(groups, c_out // groups, -1)
        prod = np.matmul(w_mat, chunk, out=out_buf[:, :, : chunk.shape[-1]])
        _from_gemm_layout(out[start:stop], prod, bias)
    return out, cols


def weight_grad(dout, cols, geom, plan):
    """dw from the forward's columns: per-sample GEMMs summed, or one GEMM per chunk (transposed
    for small weights: see rules._DW_TRANSPOSED_MAX)."""
    weight_shape, groups = geom.weight_shape, geom.groups
    dw = d_buf = None
    cog, ckg = weight_shape[0] // groups, math.prod(weight_shape[1:])
    if plan.weight_grad_gemm == "per-sample":
        dw = np.zeros((groups, cog, ckg), dtype=dout.dtype)
        for start, stop, chunk in cols.chunks():
            per = np.matmul(_samples(dout[start:stop], groups), _chunk_samples(chunk, stop - start).swapaxes(-1, -2))
            dw += per.sum(axis=1)
        return dw.reshape(weight_shape)
    transposed = plan.weight_grad_gemm == "chunk-transposed"
    for start, stop, chunk in cols.chunks():
        if d_buf is None:
            d_buf = scratch("dout", dout[start:stop].size, dout.dtype)
        dw = _add_chunk_weight_grad(dw, _to_gemm_layout(dout[start:stop], groups, d_buf), chunk, transposed)
    return _weight_from(dw, weight_shape, transposed)


def _add_chunk_weight_grad(acc, d_mat, chunk, transposed):
    """``acc`` plus one chunk's share of the weight gradient, (groups, C_out/groups, CK/groups), or
    with ``transposed`` its transpose (see rules._DW_TRANSPOSED_MAX); the product alone while
    ``acc`` is None.  :func:`_weight_from` turns the sum into the weight's layout."""
    if transposed:
        prod = np.matmul(chunk, d_mat.swapaxes(-1, -2))
    else:
        prod = np.matmul(d_mat, chunk.swapaxes(-1, -2))
    if acc is None:
        return prod
    acc += prod
    return acc


def _weight_from(acc, weight_shape, transposed):
    """The weight gradient in the weight's layout from :func:`_add_chunk_weight_grad`'s sum."""
    if transposed:
        acc = np.ascontiguousarray(acc.swapaxes(-1, -2))
    return acc.reshape(weight_shape)


def input_grad(dout, weight, geom, plan, out):
    """dx = col2im(W.T @ dout), straight onto the unpadded dx (no padded buffer to zero, nor a
    crop to copy out)."""
    x_shape, groups, kernel = geom.in_shape, geom.groups, geom.kernel
    stride, pads, dilation = geom.stride, geom.pads, geom.dilation
    n, c_in = x_shape[:2]
    c_out = weight.shape[0]
    out_spatial = tuple(dout.shape[2:])
    w_t = weight.reshape(groups, c_out // groups, -1).swapaxes(1, 2)  # (groups, CK/groups, C_out/groups)
    ck = c_in * math.prod(kernel)
    positions = math.prod(out_spatial)
    dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
    chunks = batch_chunks(n, ck * positions * dout.itemsize, plan.chunking)
    step = chunks[0][1] - chunks[0][0]
    d_buf = scratch("dout", step * c_out * positions, dout.dtype)
    cols_buf = scratch("im2col", step * ck * positions, dout.dtype)
    per_sample = plan.input_grad_gemm == "per-sample"
    for start, stop in chunks:
        nb = stop - start
        dcols = cols_buf[: ck * nb * positions].reshape(groups, -1, nb * positions)
        if per_sample:
            np.matmul(w_t[:, None], _samples(dout[start:stop], groups), out=_chunk_samples(dcols, nb))
        else:
            d_mat = _to_gemm_layout(dout[start:stop], groups, d_buf)
            np.matmul(w_t, d_mat, out=dcols)
        dcols = dcols.reshape((c_in,) + kernel + (stop - start,) + out_spatial)
        _col2im(dx[start:stop], dcols, pads, kernel, stride, dilation, out_spatial)
    return dx


def conv_and_weight_grad(x, weight, geom, plan, grad, out, sum_x):
    """``(dw, x_sum)`` and ``out`` = the convolution of ``x``, from one im2col of ``x``: ``dw`` is
    the weight gradient of that convolution for the output gradient ``grad``, ``x_sum`` the sum
    of ``x`` over all but its channels (with ``sum_x``, else None).  Chunk GEMMs only."""
    stride, pads, dilation, groups = geom.stride, geom.pads, geom.dilation, geom.groups
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    cols = _Columns(x, tuple(pads), kernel, tuple(stride), tuple(dilation), tuple(out.shape[2:]), groups, plan.chunking,
                    cacheable=False)
    w_mat = weight.reshape(groups, c_out // groups, -1)
    transposed = plan.weight_grad_gemm == "chunk-transposed"
    dw = out_buf = g_buf = None
    for start, stop, chunk in cols.chunks(cols.padded()):
        if out_buf is None:
            out_buf = scratch("gemm", c_out * chunk.shape[-1], x.dtype).reshape(groups, c_out // groups, -1)
            g_buf = scratch("dout", grad[start:stop].size, x.dtype)
        _from_gemm_layout(out[start:stop], np.matmul(w_mat, chunk, out=out_buf[:, :, : chunk.shape[-1]]))
        dw = _add_chunk_weight_grad(dw, _to_gemm_layout(grad[start:stop], groups, g_buf), chunk, transposed)
    return _weight_from(dw, weight.shape, transposed), (bias_grad(x) if sum_x else None)
