"""The speed rules of the conv planner: the measured thresholds, and where each path pays.

Measured on the 2-core machine of notes/perf.md; planner.py applies them in order (see
notes/conv-planner.md for the whole set of rules).  ``geom`` arguments are planner.Geometry.
"""

from __future__ import annotations

import math

from ... import _threads
from .stacked import stacked_classes

# OpenBLAS runs a GEMM with m * n * k at most 4 * 65536 on one thread.  When one sample's GEMM is
# that small, numcnn issues one GEMM per sample (a single np.matmul over a stack of strided views,
# no transposed copies) instead of one per chunk: a multi-threaded call on tiny matrices spends
# its time synchronising threads, badly so when the cores are shared.
_PER_SAMPLE_MNK = 4 * 65536
# The weight gradient's per-sample products are (C_out, P) @ (P, CK) GEMMs summed over the batch;
# past about this many weight entries one chunk GEMM with a long inner dimension beats them
# (LeNet's 16x6x5x5: 0.45 vs 0.70 ms; its 6x1x5x5 and (25, 3, 3, 3) stay per sample: 0.27 vs 0.89,
# 0.43 vs 1.04 ms).
_DW_PER_SAMPLE_MAX_WEIGHTS = 1024
# Weight gradients of at most this many entries are computed transposed (chunk @ dout.T): OpenBLAS
# runs that orientation faster than dout @ chunk.T, one core, (C_out, CK, positions) (64, 320,
# 4096) 141 against 115 GFLOP/s, (128, 1152, 2048) 172 against 147, (64, 288, 6272) 144 against
# 119; but the final transposing copy grows worse than linearly: (256, 2304) 2.1 ms, for a gain of
# 4 % (186 against 180) (notes/perf.md).
_DW_TRANSPOSED_MAX = 1 << 18
# The stacked passes (stacked.py) pay for these channel counts; see _stacked_shape.
_STACKED_MAX_ROWS = 64  # C_out up to this many (twice that with a long inner size, see below)
_STACKED_MIN_INNER = 64  # C_in * prod(kernel[1:]) at least this: a shorter inner dimension is worse
_STACKED_MIN_INNER_FEW_ROWS = 48  # ... but this is enough when C_out is at most half the inner size
_STACKED_MIN_DX_INNER = 96  # the input gradient's inner size, len(js) * C_out, at least this
# The banded 2-D path (band2d.py) costs Wp / kW times the useful multiply-adds: measured,
# im2col -> banded: (64, 6, 14, 14) x (16, 6, 5, 5) forward 0.91 -> 0.57 ms, backward 1.72 -> 1.25
# ms; but (64, 16, 8, 8) x (32, 16, 3, 3) p1 (waste 3.3) 2.32 -> 2.49 ms fwd+bwd, LeNet's first
# conv (waste 6.4) forward 0.70 -> 0.70 and weight gradient 0.33 -> 0.68 ms, wide layers 2-3x
# slower (notes/perf.md).
_BAND2D_MAX_WASTE = 3.0  # Wp / kW: the band's multiply-adds per useful one
_BAND2D_MAX_COST = 1 << 18  # band elements (C_in * kH * Wp * C_out * W_out) times the waste
# Depthwise 2-D convolutions whose padded width is at most this go through banded GEMMs
# (depthwise_banded.py); the band costs Wp / kW times the useful FLOPs, so wide inputs use the
# flat or shifted-slice sums.
_BANDED_MAX_WIDTH = 80
# Passes of at least this many multiply-adds split their batch over threads (numcnn._threads):
# below it the hand-off costs more than the second core gives (LeNet's layers stay whole).
_PARALLEL_MIN_MACS = 40e6
# ... but from this many when the pass's GEMMs are one per sample: OpenBLAS runs such small
# GEMMs on one thread, so a whole pass uses one core.  Measured fwd+bwd at 2 threads, whole vs
# split: (100, 3, 31, 31) x (25, 3, 3, 3) s2 (17M) 4.8 vs 2.5 ms, (50, 3, 31, 31) (8.6M) 2.5
# vs 2.1-2.2; (25, 3, 31, 31) (4.3M) 1.2 vs 1.3-1.5 and LeNet's conv1 (5.5M) 1.8 vs 2.3-2.4.
_PARALLEL_MIN_MACS_PER_SAMPLE = 8e6


def per_sample(m, k, positions) -> bool:
    """Whether a GEMM of m x k by k x positions per sample is small enough to run one per sample."""
    return m * k * positions <= _PER_SAMPLE_MNK


def is_depthwise(c_in, groups) -> bool:
    """One input channel per group (and more than one group)."""
    return groups > 1 and c_in == groups


def is_pointwise(kernel, stride, pads) -> bool:
    """A 1x1 kernel, stride 1, no padding: no im2col, and dx needs no col2im."""
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(a or b for a, b in pads)


def _stacked_shape(c_in, c_out, kernel) -> bool:
    """The channel counts for which the stacked passes pay: the GEMM's inner size C_in *
    prod(kernel[1:]) at least ``_STACKED_MIN_INNER``, and C_out up to ``_STACKED_MAX_ROWS``, or
    up to twice that when the inner size is at least 3 C_out (the stacked product, k0 times the
    output, then costs little beside its GEMM).  Measured at 2 threads, fwd + both gradients,
    stacked against plain (notes/perf.md): (4, 8, 16, 32, 32) x (16, 8, 3, 3, 3) 0.71x,
    (32, 64, 32, 32) x (64, 64, 3, 3) 0.91x, (32, 64, 256) x (64, 64, 5) 0.94x,
    (16, 128, 16, 16) x (128, 128, 3, 3) 0.90x (one thread 0.83x), (32, 128, 16, 16) 0.94x;
    about even for (32, 24, 32, 32) x (48, 24, 3, 3) and (32, 64, 28, 28) x (128, 64, 3, 3);
    slower for (64, 48, 64) x (48, 48, 5) (inner 48: 1.09x), (32, 32, 32, 32) x (128, 32, 3, 3)
    (inner 96 < 3 x 128: 1.24x) and (8, 256, 14, 14) x (256, 256, 3, 3) (1.12x).

    An inner size down to ``_STACKED_MIN_INNER_FEW_ROWS`` pays when C_out is at most half of it
    (fwd + both gradients, plain against stacked, 1 / 2 threads: (64, 16, 32, 32) x (16, 16, 3,
    3), ResNet-20's 16-channel layers, 21.1 -> 15.5 / 16.9 -> 14.1 ms; (64, 16, 16, 16) x (24,
    16, 3, 3) 6.9 -> 5.4 / 6.9 -> 6.2), not when it is not: (64, 48, 64) x (48, 48, 5) 3.8 ->
    4.7 / 4.2 -> 4.7 ms."""
    inner = c_in * math.prod(kernel[1:])
    rows_ok = c_out <= _STACKED_MAX_ROWS or (c_out <= 2 * _STACKED_MAX_ROWS and inner >= 3 * c_out)
    inner_ok = inner >= _STACKED_MIN_INNER or (inner >= _STACKED_MIN_INNER_FEW_ROWS and inner >= 2 * c_out)
    return inner_ok and rows_ok


def use_stacked(c_in, c_out, kernel, stride, dilation, groups) -> bool:
    """The stacked forward and weight gradient (:func:`_stacked_shape`).  Stride 1 along the
    first axis only: (32, 32, 56, 56) x (64, 32, 3, 3) stride 2 (residue classes {0, 2} and {1})
    took 1.06x; (32, 32, 32, 32) x (64, 32, 4, 4) stride 2 ({0, 2}, {1, 3}) 0.92x for the forward
    but 1.3x for its weight gradient, and the plain forward keeps a small im2col that the plain
    weight gradient reuses."""
    return groups == 1 and stride[0] == 1 and kernel[0] > 1 and _stacked_shape(c_in, c_out, kernel)


def use_stacked_input_grad(c_in, c_out, kernel, stride, dilation, groups) -> bool:
    """dx by the adjoint of the stacked forward: (C_in * prod(kernel[1:])) x (len(js) * C_out)
    GEMMs (for (4, 16, 16, 32, 32) x (32, 16, 3, 3, 3): 144 x 96, 138 GFLOP/s on one core,
    against 96 for the plain 432 x 32) and a col2im over the other kernel axes only."""
    classes = stacked_classes(kernel[0], stride[0], dilation[0])
    return (
        groups == 1
        and max(len(js) for _, js in classes) > 1
        # its GEMMs' inner size: (32, 32, 56, 56) x (64, 32, 3, 3) stride 2 has a class of one
        # kernel slice (64) and stays plain
        and min(len(js) for _, js in classes) * c_out >= _STACKED_MIN_DX_INNER
        and _stacked_shape(c_in, c_out, kernel)
    )


def use_band2d(geom) -> bool:
    """The banded 2-D GEMM pays (see ``_BAND2D_MAX_WASTE``)."""
    if geom.nd != 2 or geom.groups != 1:
        return False
    padded_w, kernel = geom.padded_shape[-1], geom.kernel
    waste = padded_w / kernel[1]
    cost = geom.c_in * kernel[0] * padded_w * geom.c_out * geom.out_spatial[-1] * waste
    return waste <= _BAND2D_MAX_WASTE and cost <= _BAND2D_MAX_COST


def work(geom) -> float:
    """Multiply-adds of a pass, counted 10x for depthwise convolutions (shifted slices and
    banded GEMMs, several times slower per multiply-add than a full GEMM)."""
    macs = geom.in_shape[0] * geom.c_out * math.prod(geom.out_spatial) * math.prod(geom.weight_shape[1:])
    return macs * 10 if is_depthwise(geom.c_in, geom.groups) else macs


def split(geom, min_work: float) -> tuple:
    """The batch ranges, one per thread, of a pass from ``min_work`` multiply-adds on."""
    return tuple(_threads.parts(geom.in_shape[0], work(geom), min_work, uses_blas=True))
