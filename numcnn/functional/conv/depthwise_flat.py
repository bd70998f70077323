"""Stride-1 2-D depthwise convolutions (multiplier 1) on the flat padded plane.

Output position l = h * Wp + w reads input l + i * dh * Wp + j * dw for kernel tap (i, j), so for
each kernel column j the kH taps are one overlapping strided view (N, C, kH, L), and one einsum
per column sums them with no temporaries.  The output comes out "wide" (rows of Wp, the extra
columns discarded).  The banded GEMMs (which copy whole windows as runs of the unpadded input)
take every pass they apply to; the flat path takes wider images.  Measured on (32, 64, 32, 32) x
(64, 1, 3, 3), forward then backward as in training, one core: banded everywhere 24.6-25.5 ms
(forward 7.7-7.9, dw 10.6, dx 6.4-6.9); with the flat weight gradient 28.2-28.8 (its dw alone
is faster, 8.6-9.0, but the passes around it then run slower: forward 10.5-10.8, dx
8.5-9.4).  And two einsums on these overlapping views on two threads run no faster than one
after the other (two 16-sample forwards 5.7 ms, one 2.9), where the banded GEMMs run in
parallel (2 threads: 12.4-12.8 ms fwd+bwd).

Every pass; the input gradient is the flat forward of the padded dout with the flipped kernel
(where dout is not cropped).  The wide dout's zero columns meet every input in the weight
gradient, so it needs x finite.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .._scratch import pad_into_scratch, scratch
from .columns import _Columns, _copy_plus_bias
from .depthwise_banded import correlation_operands

input_grad = None  # (dx only as the correlation below: stride 1, multiplier 1)

def _flat_taps(xp, kernel, dilation, length):
    """For each kernel column j: the (N, C, kH, length) view of the flat padded planes whose
    [n, c, i, l] is xp[n, c] flattened at l + i * dh * Wp + j * dw (in bounds: see above)."""
    xp = np.ascontiguousarray(xp)
    n, c, _, wp = xp.shape
    s = xp.strides
    flat = xp.reshape(n, c, -1)
    return [
        as_strided(flat[:, :, j * dilation[1] :], (n, c, kernel[0], length), (s[0], s[1], s[2] * dilation[0], s[3]),
                   writeable=False)
        for j in range(kernel[1])
    ]



def _flat_depthwise_chunks(n, per_sample_bytes, chunking):
    """Samples per chunk: about ``chunking.flat_depthwise_bytes`` of wide output, so that the
    einsum's running sums stay in cache."""
    step = max(1, chunking.flat_depthwise_bytes // per_sample_bytes)
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _depthwise_flat_forward(xp, weight, dilation, out_spatial, out=None, bias=None, chunking=None):
    """Stride-1 depthwise (multiplier 1) convolution of the padded ``xp`` by flat taps."""
    n, c, _, wp = xp.shape
    kh, kw = weight.shape[2:]
    ho, wo = out_spatial
    length = (ho - 1) * wp + wo  # the last wide row stops at the last real output
    w = weight.reshape(c, kh, kw)
    if out is None:
        out = np.empty((n, c, ho, wo), dtype=xp.dtype)
    chunks = _flat_depthwise_chunks(n, c * ho * wp * xp.itemsize, chunking)
    step = chunks[0][1] - chunks[0][0]
    wide_buf = scratch("gemm", step * c * ho * wp, xp.dtype)
    tmp_buf = scratch("im2col", step * c * length, xp.dtype)
    for start, stop in chunks:
        m = stop - start
        wide = wide_buf[: m * c * ho * wp].reshape(m, c, ho * wp)
        tmp = tmp_buf[: m * c * length].reshape(m, c, length)
        for j, taps in enumerate(_flat_taps(xp[start:stop], (kh, kw), dilation, length)):
            if j == 0:
                np.einsum("ci,ncil->ncl", w[:, :, 0], taps, out=wide[:, :, :length])
            else:
                np.einsum("ci,ncil->ncl", w[:, :, j], taps, out=tmp)
                np.add(wide[:, :, :length], tmp, out=wide[:, :, :length])
        _copy_plus_bias(out[start:stop], wide.reshape(m, c, ho, wp)[:, :, :, :wo], bias)
    return out


def _depthwise_flat_weight_grad(dout, cols: _Columns, weight_shape):
    """dw[c, 0, i, j] = sum over n, l of the wide dout (zero in the extra columns) times the taps."""
    xp = cols.padded()
    n, c, _, wp = xp.shape
    ho, wo = cols.out_spatial
    length = (ho - 1) * wp + wo
    chunks = _flat_depthwise_chunks(n, c * ho * wp * dout.itemsize, cols.chunking)
    step = chunks[0][1] - chunks[0][0]
    wide_buf = scratch("dout", step * c * ho * wp, dout.dtype)
    dw = np.zeros((c, 1) + tuple(weight_shape[2:]), dtype=dout.dtype)
    for start, stop in chunks:
        m = stop - start
        wide = wide_buf[: m * c * ho * wp].reshape(m, c, ho, wp)
        wide[:, :, :, wo:] = 0
        wide[:, :, :, :wo] = dout[start:stop]
        d = wide.reshape(m, c, -1)[:, :, :length]
        for j, taps in enumerate(_flat_taps(xp[start:stop], cols.kernel, cols.dilation, length)):
            dw[:, 0, :, j] += np.einsum("ncl,ncil->ci", d, taps)
    return dw



# --- the passes, as the planner runs them -----------------------------------------------------


def forward(x, weight, geom, plan, out, bias):
    xp = pad_into_scratch(x, geom.pads, "xpad")
    out = _depthwise_flat_forward(xp, weight, geom.dilation, geom.out_spatial, out, bias, plan.chunking)
    return out, _Columns(x, geom.pads, geom.kernel, geom.stride, geom.dilation, geom.out_spatial, geom.groups, plan.chunking)


def weight_grad(dout, cols, geom, plan):
    return _depthwise_flat_weight_grad(dout, cols, geom.weight_shape)


def correlation_input_grad(dout, weight, geom, plan, out):
    """dx as the flat forward of the padded dout with the flipped kernel."""
    flipped, dpads = correlation_operands(weight, geom)
    dpad = pad_into_scratch(dout, dpads, "pad")
    return _depthwise_flat_forward(dpad, flipped, geom.dilation, tuple(geom.in_shape[2:]), out, None, plan.chunking)
