"""Small narrow 2-D convolutions as ONE GEMM of kernel-row windows by a banded weight matrix.

Instead of im2col, the rows of kH padded input rows per output row are copied (kW * W_out / Wp
times smaller than the im2col matrix, in runs of kH * Wp elements) and multiplied by a band
matrix holding the weight, at the price of Wp / kW times the multiply-adds (the band's zeros);
the planner's rule (rules.use_band2d) says where that pays.  2-D, groups 1; every pass.  The
band's zeros meet every entry of the other operand, so the operands must be finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._scratch import pad_into_scratch
from .._window import unpad
from .columns import _copy_plus_bias

@dataclass(frozen=True)
class _BandColumns:
    """The ``cols`` of the banded 2-D path: the kernel-row windows of the padded input."""

    rows: np.ndarray  # (N * H_out, C_in * kH * Wp), row (n, ho) = xp[n, :, ho*s + i*d, :] for each i
    band: np.ndarray  # the forward's band matrix, reused by the backward
    padded_w: int
    stride: tuple
    dilation: tuple
    out_spatial: tuple


def _band2d_matrix(weight, padded_w, out_w, stride_w, dil_w):
    """(C_in * kH * Wp, C_out * W_out): entry ((c, i, q * s + j * d), (o, q)) = weight[o, c, i, j]."""
    c_out, c_in, kh, kw = weight.shape
    band = np.zeros((c_in, kh, padded_w, c_out, out_w), dtype=weight.dtype)
    q = np.arange(out_w)
    for j in range(kw):
        # the two index arrays put the W_out axis first: (W_out, C_in, kH, C_out)
        band[:, :, q * stride_w + j * dil_w, :, q] = weight[:, :, :, j].transpose(1, 2, 0)
    return band.reshape(c_in * kh * padded_w, c_out * out_w)


def _band2d_forward(xp, weight, stride, dilation, out_spatial, out, bias=None):
    n, c_in, _, wp = xp.shape
    c_out, _, kh, _ = weight.shape
    ho, wo = out_spatial
    st = xp.strides
    windows = as_strided(
        xp, (n, ho, c_in, kh, wp), (st[0], st[2] * stride[0], st[1], st[2] * dilation[0], st[3]), writeable=False
    )
    # a copy even when the windows happen to be contiguous (one channel, kH = 1): xp is scratch
    rows = np.array(windows, order="C").reshape(n * ho, c_in * kh * wp)
    band = _band2d_matrix(weight, wp, wo, stride[1], dilation[1])
    prod = rows @ band  # (N * H_out, C_out * W_out)
    _copy_plus_bias(out, prod.reshape(n, ho, c_out, wo).transpose(0, 2, 1, 3), bias)
    return out, _BandColumns(rows, band, wp, tuple(stride), tuple(dilation), tuple(out_spatial))


def _dout_rows(dout):
    """(N, C_out, H_out, W_out) -> (N * H_out, C_out * W_out), the banded GEMMs' layout."""
    n, c_out, ho, wo = dout.shape
    return np.ascontiguousarray(dout.transpose(0, 2, 1, 3)).reshape(n * ho, c_out * wo)


def _band2d_weight_grad(dout, cols: _BandColumns, weight_shape, d_rows=None):
    c_out, c_in, kh, kw = weight_shape
    wo = cols.out_spatial[1]
    d_rows = _dout_rows(dout) if d_rows is None else d_rows
    dband = (cols.rows.T @ d_rows).reshape(c_in, kh, cols.padded_w, c_out, wo)
    q = np.arange(wo)
    dw = np.empty(weight_shape, dtype=dout.dtype)
    for j in range(kw):
        # dw[o, c, i, j] = sum over q of the band's gradient at ((c, i, q * s + j * d), (o, q))
        taps = dband[:, :, q * cols.stride[1] + j * cols.dilation[1], :, q]  # (W_out, C_in, kH, C_out)
        dw[:, :, :, j] = taps.sum(axis=0).transpose(2, 0, 1)
    return dw


def _band2d_input_grad(dout, weight, padded_shape, stride, dilation, d_rows=None, band=None):
    n, c_in, _, wp = padded_shape
    kh = weight.shape[2]
    ho, wo = dout.shape[2:]
    band = _band2d_matrix(weight, wp, wo, stride[1], dilation[1]) if band is None else band
    d_rows = _dout_rows(dout) if d_rows is None else d_rows
    drows = (d_rows @ band.T).reshape(n, ho, c_in, kh, wp)
    return _add_kernel_rows(drows.transpose(0, 2, 1, 3, 4), padded_shape, stride[0], dilation[0])


def _add_kernel_rows(rows, padded_shape, stride_h, dil_h):
    """Adjoint of taking kernel-row windows: a zero (N, C, Hp, Wp) array with ``rows[n, c, ho, i]``
    added onto padded row ``ho * stride_h + i * dil_h``; ``rows`` is (N, C, H_out, kH, Wp)."""
    ho, kh = rows.shape[2:4]
    dxp = np.zeros(padded_shape, dtype=rows.dtype)
    for i in range(kh):
        start = i * dil_h
        target = dxp[:, :, start : start + (ho - 1) * stride_h + 1 : stride_h, :]
        np.add(target, rows[:, :, :, i, :], out=target)
    return dxp


# --- the three passes, as the planner runs them ---------------------------------------------


def forward(x, weight, geom, plan, out, bias):
    if out is None:
        out = np.empty((x.shape[0], geom.c_out) + geom.out_spatial, dtype=x.dtype)
    xp = pad_into_scratch(x, geom.pads, "xpad")
    return _band2d_forward(xp, weight, geom.stride, geom.dilation, geom.out_spatial, out, bias)


def weight_grad(dout, cols, geom, plan, d_rows=None):
    return _band2d_weight_grad(dout, cols, geom.weight_shape, d_rows)


def input_grad(dout, weight, geom, plan, out, d_rows=None, band=None):
    dxp = _band2d_input_grad(dout, weight, geom.padded_shape, geom.stride, geom.dilation, d_rows, band)
    return unpad(dxp, geom.pads, out)
