"""The "stacked" convolution: the first kernel axis joins the GEMM's rows.

The forward GEMM is (C_out) x (C_in * prod(kernel)); with few output channels BLAS runs it far
below its peak (32 x 432: 71 GFLOP/s on one core, against 125 for 96 x 144).  The "stacked"
passes move the first kernel axis from the GEMM's inner dimension to its rows: one GEMM of
(k0 * C_out) x (C_in * prod(other kernel axes)) over an im2col of the other axes only, taken at
every input slice along the first axis, then k0 shifted adds.  The im2col is k0 times smaller.
With a stride s0 along the first axis (the input gradient only), kernel slice j reads padded
slices o * s0 + j * d0: the slices fall into s0 residue classes, and each class is one such
GEMM for the kernel slices that read it.

Every input slice is independent of the others until the shifted adds, so the passes run in
blocks of a few slices (about ``Chunking.block_bytes`` of columns); slices of padding along the
first axis are never built (they only ever meet zeros).  Measured against whole-sample chunks
(conv3d (4, 16, 16, 32, 32) x (32, 16, 3, 3, 3), notes/perf.md): one core 80 -> 63 ms
fwd+bwd, 2 threads 40 -> 33 ms.  Blocks of 2, 3, 4 or 6 MB ran within noise of each other
(conv3d 32.5-33.8 ms; (32, 64, 32, 32) 37.0-39.1; conv1d 7.6-7.8); 2 MB keeps the scratch of
(16, 128, 16, 16) x (128, 128, 3, 3) at 0.9 of its im2col, against 1.4 with 6 MB.

Groups 1 only; every pass (the planner's rules say where it pays: rules.use_stacked).
"""

from __future__ import annotations

import math

import numpy as np

from .._scratch import scratch
from .._window import _inside, kernel_offsets
from .columns import _Columns, _col2im

def _stacked_blocks(n, slices, per_slice_bytes, chunking):
    """``(start, stop, a, b)``: samples start:stop and slices a:b (of ``slices`` along the first
    axis) per block, evenly sized and at most ``chunking.block_bytes`` of columns each where a
    slice fits: whole samples while one sample's columns fit, else runs of one sample's slices.
    ``chunking.block``, when set, fixes the blocks instead: ("samples", k) or ("slices", k)."""
    if slices == 0 or n == 0:
        return []
    if chunking.block is not None:
        kind, k = chunking.block
        if kind == "samples":
            return [(s, min(n, s + k), 0, slices) for s in range(0, n, k)]
        return [(s, s + 1, a, min(slices, a + k)) for s in range(n) for a in range(0, slices, k)]
    per_sample = per_slice_bytes * slices
    if per_sample <= chunking.block_bytes:
        nb = -(-n // -(-n * per_sample // chunking.block_bytes))  # n split evenly
        return [(s, min(n, s + nb), 0, slices) for s in range(0, n, nb)]
    step = -(-slices // -(-per_sample // chunking.block_bytes))
    return [(s, s + 1, a, min(slices, a + step)) for s in range(n) for a in range(0, slices, step)]



def stacked_classes(k0, s0, d0):
    """Kernel slice j reads padded slices (o + t) * s0 + r along the first axis, r, t = the
    remainder and quotient of j * d0 by s0.  Returns [(r, [(j, t), ...])] by residue r."""
    classes = {}
    for j in range(k0):
        t, r = divmod(j * d0, s0)
        classes.setdefault(r, []).append((j, t))
    return sorted(classes.items())


def _block_columns(x, pads, kernel, stride, dilation, out_rest, buf):
    """im2col over every axis but the first of the block ``x`` (N, C, B, *rest), unpadded, with
    ``pads`` for the other axes: (C * prod(kernel[1:]), N * B * prod(out_rest)) in the scratch
    ``buf``, one column per (sample, slice, output position).

    Copied straight from ``x``, one box per kernel offset, with zeros written only where an
    offset reads padding: no padded copy of the block first (one thread, forward: ResNet-20's
    16-channel layers 5.7 -> 5.2 ms, 32-channel 4.2 -> 4.0, 64-channel 3.7 -> 3.4; the step
    264 -> 253 ms)."""
    n, c, b = x.shape[:3]
    rest = tuple(kernel[1:])
    shape = (c,) + rest + (n, b) + tuple(out_rest)
    cols = buf[: math.prod(shape)].reshape(shape)
    src = x.swapaxes(0, 1)  # (C, N, B, *spatial rest)
    lead = (slice(None),) * 3
    for offset in kernel_offsets(rest):
        dst = cols[(slice(None),) + offset]  # (C, N, B, *out_rest)
        dst_box, src_box = [], []
        axes = zip(offset, x.shape[3:], pads[1:], stride[1:], dilation[1:], out_rest)
        for axis, (k, size, (before, _), st, d, n_out) in enumerate(axes):
            lo, hi, first = _inside(size, before, k * d, st, n_out)
            dst_box.append(slice(lo, hi))
            src_box.append(slice(first, first + (hi - lo - 1) * st + 1, st) if hi > lo else slice(0, 0))
            around = lead + (slice(None),) * axis
            if lo > 0:
                dst[around + (slice(0, lo),)] = 0
            if hi < n_out:
                dst[around + (slice(hi, None),)] = 0
        np.copyto(dst[lead + tuple(dst_box)], src[lead + tuple(src_box)])
    return cols.reshape(c * math.prod(rest), -1)


def _stacked_rows(weight, js=None):
    """(len(js) * C_out, C_in * prod(kernel[1:])): the kernel slices ``js`` (all by default)
    stacked as GEMM rows."""
    c_out, c_in, k0 = weight.shape[:3]
    w = weight.reshape(c_out, c_in, k0, -1)[:, :, list(range(k0)) if js is None else js]
    return np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(w.shape[2] * c_out, -1)


def _stacked_forward(x, pads, weight, stride, dilation, out, bias=None, chunking=None):
    """Convolution of the unpadded ``x`` (padded by ``pads``) into ``out`` by stacked GEMMs (see
    above); groups 1.

    Per residue class and block, Y[j] = W[:, :, j] @ columns holds every block slice's
    contribution through kernel slice j: class slice m adds Y[j][m] to output m - t_j.  With
    stride 1 (one class), kernel slice 0 gives each output its first term (the blocks run in
    slice order), so out is assigned there rather than zeroed and added to.
    """
    n, c, size0 = x.shape[:3]
    c_out = weight.shape[0]
    o0, out_rest = out.shape[2], tuple(out.shape[3:])
    lo0, s0 = pads[0][0], stride[0]
    q = math.prod(out_rest)
    cr = c * math.prod(weight.shape[3:])
    dest = out.reshape(n, c_out, o0, q)
    bias_col = None if bias is None else bias.reshape(c_out, 1, 1)
    if s0 == 1:  # outputs whose kernel slice 0 reads padding get no first term below
        fill = [(0, min(lo0, o0)), (max(0, lo0 + size0), o0)]
    else:
        fill = [(0, o0)]
    for lo, hi in fill:
        if lo < hi:
            dest[:, :, lo:hi] = 0 if bias is None else bias_col
    for res, js in stacked_classes(weight.shape[2], s0, dilation[0]):
        first = (res - lo0) % s0  # the class's first input slice, class slice m0:
        m0 = (first + lo0) // s0
        blocks = _stacked_blocks(n, len(range(first, size0, s0)), cr * q * x.itemsize, chunking)
        if not blocks:
            continue
        w_rows = _stacked_rows(weight, [j for j, _ in js])
        width = max((e - s) * (b - a) for s, e, a, b in blocks) * q
        cols_buf = scratch("im2col", cr * width, x.dtype)
        y_buf = scratch("gemm", w_rows.shape[0] * width, x.dtype)
        for s, e, a, b in blocks:
            sl = slice(first + a * s0, first + (b - 1) * s0 + 1, s0)
            cols = _block_columns(x[s:e, :, sl], pads, weight.shape[2:], stride, dilation, out_rest, cols_buf)
            y = np.matmul(w_rows, cols, out=y_buf[: w_rows.shape[0] * cols.shape[1]].reshape(w_rows.shape[0], -1))
            y = y.reshape(len(js), c_out, e - s, b - a, q)
            for i, (j, t) in enumerate(js):
                lo, hi = max(0, m0 + a - t), min(o0, m0 + b - t)  # the outputs block slices reach
                if lo >= hi:
                    continue
                src = y[i][:, :, lo + t - m0 - a : hi + t - m0 - a].swapaxes(0, 1)
                target = dest[s:e, :, lo:hi]
                if j > 0 or s0 > 1:
                    np.add(target, src, out=target)
                elif bias is None:
                    np.copyto(target, src)
                else:
                    np.add(src, bias_col, out=target)
    return out


def _shifted_dout(dout, ts, first, count, buf):
    """dY (len(ts) * C_out, N * count * prod(out[1:])): for each i, row block i holds dout's
    slice m - ts[i] at class slices m = first .. first + count - 1, zero where there is none;
    the transpose of the stacked forward's shifted adds.  ``buf``: scratch, large enough."""
    n, c_out, o0 = dout.shape[:3]
    q = dout[0, 0, 0].size
    dy = buf[: len(ts) * c_out * n * count * q].reshape(len(ts), c_out, n, count, q)
    src = dout.reshape(n, c_out, o0, q).swapaxes(0, 1)
    for i, t in enumerate(ts):
        lo, hi = max(0, first - t), min(o0, first + count - t)  # dout slices inside the block
        if lo >= hi:
            dy[i] = 0
            continue
        dy[i][:, :, : lo + t - first] = 0  # zero only what the copy leaves (reused scratch)
        dy[i][:, :, hi + t - first :] = 0
        np.copyto(dy[i][:, :, lo + t - first : hi + t - first], src[:, :, lo:hi])
    return dy.reshape(len(ts) * c_out, -1)


def _add_padding_terms(dw, dout, size0, lo0, s0, d0):
    """Add to dw (C_out, C_in, k0, prod(kernel[1:])) the terms the stacked weight gradient
    skips: dout's output slices whose kernel slice j reads padding along the first axis, times
    those zeros.  They are zero, or NaN where such a dout slice holds an inf or NaN (as in the
    direct sums and the im2col path); only those edge slices are read."""
    o0 = dout.shape[2]
    for j in range(dw.shape[2]):
        # outputs [lo, hi) read input slices; the others read padding through kernel slice j
        lo, hi, _ = _inside(size0, lo0, j * d0, s0, o0)
        edges = [sl for sl in (slice(0, lo), slice(hi, o0)) if sl.stop > sl.start]
        if edges and not all(np.isfinite(dout[:, :, sl].sum()) for sl in edges):
            finite = np.logical_and.reduce([np.isfinite(dout[:, :, sl]).reshape(dout.shape[0], dout.shape[1], -1).all(axis=(0, 2))
                                            for sl in edges])
            dw[~finite, :, j] = np.nan



def _stacked_backward(dout, x_shape, pads, kernel, stride, dilation, x=None, weight=None, dx=None, chunking=None):
    """``(dx, dw)`` of a stacked convolution, each None unless asked for: dw given the input
    ``x``, dx (into ``dx`` when given) given the ``weight``.  Both in one pass: per block and
    residue class, dout is placed at each kernel slice's shift once (dY) and serves both GEMMs
    (as two passes they built dY twice: 2 x 2.5 ms of conv3d's 76 ms on one core).

    Input slice i is padded slice i + pad, read by the kernel slices of its class (i + pad) % s0
    at class slice m = (i + pad) // s0, for output m - t.
    """
    n, c, size0 = x_shape[:3]
    c_out, k0 = dout.shape[1], kernel[0]
    out_rest = tuple(dout.shape[3:])
    lo0, s0 = pads[0][0], stride[0]
    cr, q = c * math.prod(kernel[1:]), math.prod(out_rest)
    classes = stacked_classes(k0, s0, dilation[0])
    if weight is not None:
        dx = np.empty(x_shape, dtype=dout.dtype) if dx is None else dx
        w_all = _stacked_rows(weight)  # (k0 * C_out, C_in * prod(kernel[1:]))
        read = {(res - lo0) % s0 for res, _ in classes}
        for first in set(range(min(s0, size0))) - read:
            dx[:, :, first::s0] = 0  # slices no kernel slice reads
    # dw's GEMM with the taller operand first: OpenBLAS runs it faster (one core, conv1d's
    # (64, 8320) x (8320, 320) 118 GFLOP/s against 143 the other way round; conv3d's 144 x 96
    # output 129 against 123 transposed)
    transposed = cr >= k0 * c_out
    dw = None if x is None else np.zeros((cr, k0 * c_out) if transposed else (k0 * c_out, cr), dtype=dout.dtype)
    per_slice = cr * q * dout.itemsize
    for res, js in classes:
        first = (res - lo0) % s0  # the class's first input slice
        count = len(range(first, size0, s0))
        blocks = _stacked_blocks(n, count, per_slice, chunking)
        if not blocks:
            continue
        positions = max((e - s) * (b - a) for s, e, a, b in blocks) * q
        dy_buf = scratch("dout", len(js) * c_out * positions, dout.dtype)
        cols_buf = scratch("im2col", cr * positions, dout.dtype)
        rows = np.array([j * c_out + o for j, _ in js for o in range(c_out)])
        if weight is not None:
            w_cols = np.ascontiguousarray(w_all[rows].T)  # (C_in * prod(kernel[1:]), len(js) * C_out)
        for s, e, a, b in blocks:
            sl = slice(first + a * s0, first + (b - 1) * s0 + 1, s0)
            dy = _shifted_dout(dout[s:e], [t for _, t in js], (first + lo0) // s0 + a, b - a, dy_buf)
            if x is not None:
                cols = _block_columns(x[s:e, :, sl], pads, kernel, stride, dilation, out_rest, cols_buf)
                if transposed:
                    prod, into = np.matmul(cols, dy.T), (slice(None), rows)
                else:
                    prod, into = np.matmul(dy, cols.T), rows
                if len(classes) == 1:  # every kernel slice, in order
                    dw += prod
                else:
                    dw[into] += prod
            if weight is not None:
                dcols = np.matmul(w_cols, dy, out=cols_buf[: cr * dy.shape[1]].reshape(cr, -1))
                rest = tuple(kernel[1:])
                _col2im(
                    dx[s:e, :, sl], dcols.reshape((c, 1) + rest + (e - s, b - a) + out_rest), ((0, 0),) + tuple(pads[1:]),
                    (1,) + rest, (1,) + tuple(stride[1:]), (1,) + tuple(dilation[1:]), (b - a,) + out_rest,
                )
    if dw is not None:
        r = math.prod(kernel[1:])
        if transposed:
            dw = dw.reshape(c, r, k0, c_out).transpose(3, 0, 2, 1)  # (C_out, C_in, k0, r)
        else:
            dw = dw.reshape(k0, c_out, c, r).transpose(1, 2, 0, 3)
        _add_padding_terms(dw, dout, size0, lo0, s0, dilation[0])
        dw = np.ascontiguousarray(dw).reshape((c_out, c) + tuple(kernel))
    return dx, dw


# --- the three passes, as the planner runs them ---------------------------------------------


def forward(x, weight, geom, plan, out, bias):
    """``(out, cols)``: the stacked forward of the unpadded ``x`` (into ``out`` when given)."""
    if out is None:
        out = np.empty((x.shape[0], geom.c_out) + geom.out_spatial, dtype=x.dtype)
    _stacked_forward(x, geom.pads, weight, geom.stride, geom.dilation, out, bias, plan.chunking)
    return out, _Columns(x, geom.pads, geom.kernel, geom.stride, geom.dilation, geom.out_spatial, geom.groups, plan.chunking)


def weight_grad(dout, cols, geom, plan):
    """dw of the stacked forward: per residue class and block, columns @ dY.T, one
    (C_in * prod(kernel[1:])) x (len(js) * C_out) GEMM (dY is zero where a slice is not read),
    rather than k0 GEMMs with C_out rows (116 against 69 GFLOP/s for conv3d's 96 x 144 and
    32 x 144)."""
    return _stacked_backward(dout, cols.x.shape, cols.pads, cols.kernel, cols.stride, cols.dilation, x=cols.x,
                             chunking=plan.chunking)[1]


def input_grad(dout, weight, geom, plan, out):
    """dx into ``out`` by the adjoint of :func:`_stacked_forward`: per residue class and block,
    dout is placed at each kernel slice's shift (dY, zero elsewhere), W_rows.T @ dY gives the
    columns of every block slice, and a col2im over the other kernel axes sums them onto dx."""
    return _stacked_backward(dout, geom.in_shape, geom.pads, geom.kernel, geom.stride, geom.dilation, weight=weight,
                             dx=out, chunking=plan.chunking)[0]


def both_grads(dout, cols, weight, plan, dx=None):
    """``(dx, dw)``: :func:`input_grad` (into ``dx`` when given) and :func:`weight_grad` in one
    pass: per block and residue class, dout is placed at each kernel slice's shift once (dY) and
    serves both GEMMs."""
    return _stacked_backward(dout, cols.x.shape, cols.pads, cols.kernel, cols.stride, cols.dilation, cols.x, weight,
                             dx, plan.chunking)
