"""Depthwise 2-D convolutions as banded GEMMs per (channel, sample), read from the unpadded input.

Each channel's output rows are ``row_windows @ band``: kH input rows laid side by side times a
(kH * W) x W_out band matrix holding the horizontal taps.  The band costs Wp / kW times the
useful multiply-adds, so the planner sends only narrow images here (rules._BANDED_MAX_WIDTH);
its zeros meet every entry of the other operand, so the operands must be finite.  2-D only;
every pass, and a second input gradient for stride 1, multiplier 1: the banded forward of the
padded dout with the flipped kernel (:func:`correlation_input_grad`).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._scratch import scratch
from .._window import unpad
from .band2d import _add_kernel_rows
from .columns import _Columns, _into

def _row_windows(x, top, kh, stride_h, dil_h, out_h, ones=False):
    """(C, 1, N * H_out, kH * W) copy, in scratch: row (n, ho) holds the kH input rows output row
    ho sees, ho * s + i * d - top for kernel row i (zeros where that row is padding; ``top`` may
    be negative, a crop).  ``x`` is not padded along W: the band matrix leaves out the taps that
    fall on padding.  With ``ones``, each row ends in an extra 1 (for a bias row in the band)."""
    n, c, h, w = x.shape
    width = kh * w + ones
    rows = scratch("im2col", c * n * out_h * width, x.dtype).reshape(c, n, out_h, width)
    st = x.strides
    lo = hi = 0
    if dil_h == 1 and st[3] == x.itemsize and st[2] == w * x.itemsize:
        # windows whose kH rows all lie inside x are each one contiguous run of a plane: one copy
        # of rows kH * W long (kernel row by kernel row, the runs are W long: 2.1 against 0.7 ms
        # for (16, 64, 32, 32))
        lo = min(out_h, max(0, -(-top // stride_h)))
        hi = max(lo, min(out_h, (h - kh + top) // stride_h + 1))
        if hi > lo:
            runs = as_strided(x[:, :, lo * stride_h - top :], (c, n, hi - lo, kh * w),
                              (st[1], st[0], st[2] * stride_h, st[3]), writeable=False)
            np.copyto(rows[:, :, lo:hi, : kh * w], runs)
    for i in range(kh):  # the other windows, kernel row by kernel row
        shift = i * dil_h - top  # input row of output row 0
        first = min(out_h, max(0, -(shift // stride_h)))  # first output row whose input row is >= 0
        last = max(first, min(out_h, (h - 1 - shift) // stride_h + 1))  # past the last one inside x
        block = rows[:, :, :, i * w : (i + 1) * w]
        for a, b in ((first, min(last, lo)), (max(first, hi), last)) if hi > lo else ((first, last),):
            if b > a:
                src = x[:, :, a * stride_h + shift : (b - 1) * stride_h + shift + 1 : stride_h]
                np.copyto(block[:, :, a:b], src.transpose(1, 0, 2, 3))
        block[:, :, :first] = 0
        block[:, :, last:] = 0
    if ones:
        rows[..., -1] = 1
    return rows.reshape(c, 1, n * out_h, width)


def _band_matrix(weight, c, width, out_w, stride_w, dil_w, left=0):
    """(C, mult, kH * width, W_out): row kh * width + wo * s + kw * d - left of column wo holds
    weight[c*mult + j, 0, kh, kw], for the taps inside the ``width`` columns (``left`` columns of
    padding before them: taps on padding, or on ``-left`` cropped columns, are left out)."""
    mult = weight.shape[0] // c
    kh, kw = weight.shape[2:]
    band = np.zeros((c, mult, kh, width, out_w), dtype=weight.dtype)
    wo = np.arange(out_w)
    w = weight.reshape(c, mult, kh, kw)
    for b in range(kw):
        col = wo * stride_w + b * dil_w - left
        inside = (col >= 0) & (col < width)
        band[:, :, :, col[inside], wo[inside]] = w[:, :, :, b, None]
    return band.reshape(c, mult, kh * width, out_w)


def _dout_by_channel(dout, c):
    """(N, C * mult, Ho, Wo) -> (C, mult, N * Ho, Wo), the banded GEMMs' layout of dout."""
    n, _, ho, wo = dout.shape
    d = dout.reshape(n, c, -1, ho, wo).transpose(1, 2, 0, 3, 4)
    buf = scratch("dout", d.size, dout.dtype).reshape(d.shape)  # a copy, in scratch
    np.copyto(buf, d)
    return buf.reshape(c, d.shape[1], n * ho, wo)


def _banded_forward(x, pads, weight, stride, dilation, out_spatial, out=None, bias=None):
    """Depthwise 2-D conv as one small GEMM per channel: rows of kH input rows times a band matrix.

    Each channel's output rows are ``row_windows @ band``: the window's horizontal taps live in
    the (W x W_out) band, the vertical ones in the kH rows laid side by side.  BLAS does the
    multiply-adds (for the 9 shifted-slice passes NumPy would make 18 passes over the data), and
    the bias too: a column of ones in the rows times a bias row in the band.  ``x`` is not
    padded: ``pads`` ((top, bottom), (left, right), negative for a crop) go into the row copy
    and the band, so no padded copy is made.
    """
    n, c, _, w = x.shape
    ho, wo = out_spatial
    rows = _row_windows(x, pads[0][0], weight.shape[2], stride[0], dilation[0], ho, ones=bias is not None)
    band = _band_matrix(weight, c, w, wo, stride[1], dilation[1], left=pads[1][0])
    mult = band.shape[1]
    if bias is not None:
        bias_row = np.broadcast_to(bias.reshape(c, mult, 1, 1), (c, mult, 1, wo)).astype(band.dtype)
        band = np.concatenate([band, bias_row], axis=2)
    if out is None:
        out = np.empty((n, c * mult, ho, wo), dtype=x.dtype)
    # one (Ho x kH*W) @ (kH*W x Wo) GEMM per (channel, sample), written straight into NCHW:
    # small enough for OpenBLAS to run each on one thread (no thread synchronisation per call)
    np.matmul(
        rows.reshape(c, n, 1, ho, -1),
        band[:, None],
        out=out.reshape(n, c, mult, ho, wo).transpose(1, 0, 2, 3, 4),
    )
    return out


def _banded_weight_grad(dout, cols, weight_shape):
    n, c, _, w = cols.x.shape
    kh, kw = cols.kernel
    ho, wo = cols.out_spatial
    rows = _row_windows(cols.x, cols.pads[0][0], kh, cols.stride[0], cols.dilation[0], ho)
    d = _dout_by_channel(dout, c)
    g = np.matmul(rows.swapaxes(-1, -2), d).reshape(c, d.shape[1], kh, w, wo)
    # dw[c, j, a, b] = sum over wo of g[c, j, a, wo * s + b * d - left, wo]: the band's
    # diagonals, where they fall inside x (a tap on padding contributes nothing)
    dw = np.zeros((c, d.shape[1], kh, kw), dtype=dout.dtype)
    outs = np.arange(wo)
    for b in range(kw):
        col = outs * cols.stride[1] + b * cols.dilation[1] - cols.pads[1][0]
        inside = (col >= 0) & (col < w)
        dw[:, :, :, b] = g[:, :, :, col[inside], outs[inside]].sum(axis=-1)
    return dw.reshape(weight_shape)


def _banded_input_grad(dout, weight, padded_shape, stride, dilation):
    n, c, _, wp = padded_shape
    kh = weight.shape[2]
    ho, wo = dout.shape[2:]
    band = _band_matrix(weight, c, wp, wo, stride[1], dilation[1])
    d = dout.reshape(n, c, -1, ho, wo).transpose(1, 0, 2, 3, 4)  # (C, N, mult, Ho, Wo) view
    dr = np.matmul(d, band[:, None].swapaxes(-1, -2))  # (C, N, mult, Ho, kH * Wp), per (c, n)
    dr = (dr[:, :, 0] if dr.shape[2] == 1 else dr.sum(axis=2)).reshape(c, n, ho, kh, wp)
    return _add_kernel_rows(dr.transpose(1, 0, 2, 3, 4), padded_shape, stride[0], dilation[0])


def correlation_operands(weight, geom):
    """For the stride-1 depthwise dx as a correlation of dout: the flipped kernel and the pads of
    dout, span - pad on each side (negative: cropped)."""
    spans = tuple(d * (k - 1) for k, d in zip(geom.kernel, geom.dilation))
    flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1])
    return flipped, tuple((sp - lo, sp - hi) for (lo, hi), sp in zip(geom.pads, spans))


# --- the passes, as the planner runs them -----------------------------------------------------


def forward(x, weight, geom, plan, out, bias):
    out = _banded_forward(x, geom.pads, weight, geom.stride, geom.dilation, geom.out_spatial, out, bias)
    return out, _Columns(x, geom.pads, geom.kernel, geom.stride, geom.dilation, geom.out_spatial, geom.groups, plan.chunking)


def weight_grad(dout, cols, geom, plan):
    return _banded_weight_grad(dout, cols, geom.weight_shape)


def input_grad(dout, weight, geom, plan, out):
    dxp = _banded_input_grad(dout, weight, geom.padded_shape, geom.stride, geom.dilation)
    return unpad(dxp, geom.pads, out)


def correlation_input_grad(dout, weight, geom, plan, out):
    """Stride 1, multiplier 1: dx is the banded forward of dout (without a padded copy of it)."""
    flipped, dpads = correlation_operands(weight, geom)
    return _into(out, _banded_forward(dout, dpads, flipped, (1, 1), geom.dilation, tuple(geom.in_shape[2:]), out))
