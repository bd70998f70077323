"""Convolution, forward and backward, for 1, 2 and 3 spatial dimensions (one code path).

The fast path is im2col + GEMM: the columns of the padded input, laid out
(C * prod(kernel), N * prod(out)), are multiplied by the (C_out, C_in/groups * prod(kernel))
weight matrix; grouped convolutions are one batched matmul over the groups.  How it is walked,
chosen by shape and measured on a 2-core machine (notes/perf.md):

- the columns are rebuilt a batch chunk at a time into one reused buffer (kept whole from forward
  to backward only when small), so no pass allocates a whole im2col matrix;
- when one sample's GEMM is tiny, one GEMM per sample (a stack in a single np.matmul);
- stride-1 dx is the correlation of the padded dout with the flipped weight (im2col + GEMM, no
  col2im) when C_out <= C_in; otherwise W.T @ dout on the flat padded grid, where each kernel
  offset's col2im add is one contiguous shifted run; strided dx is W.T @ dout and a col2im,
  by phases (contiguous shifted adds, then one interleaving copy; _col2im.py) where padding is
  'same'-like, else by strided slice-adds straight onto dx (entries on padding dropped);
- depthwise 2-D convolutions are banded GEMMs per (channel, sample) read from the unpadded input,
  or, for images wider than the band allows, einsums on the flat padded plane; other depthwise
  shapes sum shifted slices; a pointwise 1x1 is a stack of per-sample GEMMs on the NCHW arrays;
- the bias is added where a path writes its result (or as a ones column of a banded GEMM);
- paths that multiply structural zeros by a whole operand (band matrices, a zero-padded dout,
  a wide layout) require that operand finite, and exact paths take non-finite ones;
- small narrow 2-D layers are one GEMM of kernel-row windows by a banded weight matrix;
- layers with few output channels ("stacked"): the first kernel axis joins the GEMM's rows, over
  an im2col of the other axes only, and shifted adds finish the sum (dw and dx likewise);
- large passes split their batch over threads (numcnn._threads);
- scratch buffers are kept per thread between calls (_scratch.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ._batch import accepts_unbatched, unbatched_backward
from ._window import (
    _inside,
    as_tuple,
    check_cache,
    check_dout,
    check_groups,
    check_input,
    check_weight,
    col2im_unpadded,
    conv_output_shape,
    conv_padding,
    im2col,
    kernel_offsets,
    unpad,
    window_slices,
)
from .. import _threads
from ._col2im import col2im_phased, phased
from ._scratch import pad_into_scratch, scratch
from .padding import check_mode_pads, check_padding_mode, pad_mode, pad_mode_adjoint

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv3d_forward",
    "conv3d_backward",
]

_WEIGHT_LAYOUT = {1: "(C_out, C_in/groups, kL)", 2: "(C_out, C_in/groups, kH, kW)", 3: "(C_out, C_in/groups, kD, kH, kW)"}


@dataclass(frozen=True)
class ConvCache:
    """What the backward pass of a convolution needs; produced by ``conv*_forward``."""

    x_shape: tuple
    weight: np.ndarray
    cols: object  # opaque, from conv_nd; only conv_nd_weight_grad reads it
    has_bias: bool
    stride: tuple
    dilation: tuple
    pads: tuple
    groups: int
    out_shape: tuple  # full output shape (N, C_out, *spatial)
    # padding_mode other than 'zeros': the input was padded explicitly by mode_pads (then x_shape
    # is the padded shape and pads are zero); backward folds the gradient back with the adjoint.
    padding_mode: str = "zeros"
    mode_pads: tuple = ()


def _check_conv_args(x, weight, bias, stride, padding, dilation, groups, nd):
    check_input(x, nd, "x")
    check_weight(weight, x, nd, _WEIGHT_LAYOUT[nd])
    groups = check_groups(groups)
    c_in, c_out = x.shape[1], weight.shape[0]
    if c_in % groups or c_out % groups:
        raise ValueError(
            f"groups={groups} must divide both in_channels (x.shape[1]={c_in}) and "
            f"out_channels (weight.shape[0]={c_out})"
        )
    if weight.shape[1] * groups != c_in:
        raise ValueError(
            f"x has {c_in} channels (shape {x.shape}) but weight {weight.shape} with groups={groups} "
            f"expects {weight.shape[1] * groups}"
        )
    if bias is not None:
        if not isinstance(bias, np.ndarray):
            raise TypeError(f"bias must be a numpy.ndarray or None, got {type(bias).__name__}")
        if bias.shape != (c_out,):
            raise ValueError(f"bias must have shape ({c_out},) to match weight {weight.shape}, got {bias.shape}")
        if bias.dtype != x.dtype:
            raise TypeError(f"bias dtype {bias.dtype} does not match x dtype {x.dtype}")
    kernel = weight.shape[2:]
    if any(k < 1 for k in kernel):
        raise ValueError(f"weight must have a non-empty kernel, got shape {weight.shape}")
    stride = as_tuple(stride, nd, "stride", minimum=1)
    dilation = as_tuple(dilation, nd, "dilation", minimum=1)
    pads = conv_padding(padding, nd, kernel, stride, dilation)
    return kernel, stride, dilation, pads, groups


def _is_depthwise(c_in, groups) -> bool:
    """One input channel per group (and more than one group): the shifted-slice path."""
    return groups > 1 and c_in == groups


def _is_pointwise(kernel, stride, pads) -> bool:
    """A 1x1 kernel, stride 1, no padding: dx needs no col2im."""
    return all(k == 1 for k in kernel) and all(s == 1 for s in stride) and not any(a or b for a, b in pads)


# A pointwise (1x1, stride 1, unpadded) convolution is a stack of per-sample GEMMs on the NCHW
# arrays themselves: no im2col and no layout copies.  (32, 64, 28, 28) x (128, 64, 1, 1), one
# thread: fwd+bwd 11.2 -> 6.4 ms.
@dataclass(frozen=True)
class _PointwiseColumns:
    """The ``cols`` of a pointwise convolution: its input, (N, groups, C_in/groups, positions)."""

    x: np.ndarray


def _grouped(a, groups):
    """(N, C, *spatial) -> (N, groups, C/groups, positions), a view when ``a`` allows it."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, -1)


def _pointwise_weight(weight, groups):
    """(C_out, C_in/groups, 1, ...) -> (groups, C_out/groups, C_in/groups)."""
    return weight.reshape(groups, weight.shape[0] // groups, weight.shape[1])


# Bytes of im2col columns materialised at once.  Every GEMM pass walks the batch in chunks of
# about this size: the chunk buffer is reused (first-touching a fresh im2col-sized array costs
# about as much as filling it) and stays in cache for its GEMM, the peak memory stays well
# under one im2col matrix, and there are few, large GEMM calls (many small multi-threaded BLAS
# calls stall badly when the cores are shared).
_CHUNK_BYTES = 8 << 20
# Column matrices up to this size are built once and kept from the forward to the backward pass
# (below glibc's 32 MiB mmap threshold a freed block is reused without page faults).
_CACHE_BYTES = 8 << 20


def _batch_chunks(n, per_sample_bytes):
    """Batch ranges of about min(_CHUNK_BYTES, max(a quarter of the whole, 2 MiB)) bytes of
    columns each: few GEMM calls (each multi-threaded BLAS call synchronises its threads, which
    is slow when the cores are shared) but never a second whole column matrix."""
    target = min(_CHUNK_BYTES, max(n * per_sample_bytes // 4, 2 << 20))
    step = max(1, min(n, target // max(1, per_sample_bytes)))
    return [(start, min(n, start + step)) for start in range(0, n, step)]


# OpenBLAS runs a GEMM with m * n * k at most 4 * 65536 on one thread.  When one sample's GEMM is
# that small, numcnn issues one GEMM per sample (a single np.matmul over a stack of strided views,
# no transposed copies) instead of one per chunk: a multi-threaded call on tiny matrices spends
# its time synchronising threads, badly so when the cores are shared.
_PER_SAMPLE_MNK = 4 * 65536


def _per_sample(m, k, positions) -> bool:
    return m * k * positions <= _PER_SAMPLE_MNK


# The weight gradient's per-sample products are (C_out, P) @ (P, CK) GEMMs summed over the batch;
# past about this many weight entries one chunk GEMM with a long inner dimension beats them
# (LeNet's 16x6x5x5: 0.45 vs 0.70 ms; its 6x1x5x5 and (25, 3, 3, 3) stay per sample: 0.27 vs 0.89,
# 0.43 vs 1.04 ms).
_DW_PER_SAMPLE_MAX_WEIGHTS = 1024


def _samples(a, groups):
    """(nb, C, *spatial) -> (groups, nb, C/groups, prod(spatial)) view (``a`` C-contiguous per sample)."""
    nb, c = a.shape[:2]
    return a.reshape(nb, groups, c // groups, -1).transpose(1, 0, 2, 3)


def _chunk_samples(cols, nb):
    """(groups, K, nb * P) columns -> (groups, nb, K, P) view: sample n's K x P matrix, row stride nb * P."""
    g, k, total = cols.shape
    return cols.reshape(g, k, nb, total // nb).transpose(0, 2, 1, 3)


def _to_gemm_layout(a, groups, buf):
    """(nb, C, *spatial) -> (groups, C/groups, nb * prod(spatial)) copied into ``buf``."""
    nb, c = a.shape[:2]
    view = buf[: groups * c * a[0, 0].size * nb].reshape(c, nb, -1)
    np.copyto(view, a.reshape(nb, c, -1).swapaxes(0, 1))
    return view.reshape(groups, c // groups, -1)


def _from_gemm_layout(dest, mat, bias=None):
    """Copy ``mat`` (groups, C/groups, nb * P) into ``dest`` (nb, C, *spatial), plus ``bias``."""
    nb, c = dest.shape[:2]
    _copy_plus_bias(dest.reshape(nb, c, -1), mat.reshape(c, nb, -1).swapaxes(0, 1), bias)


def _copy_plus_bias(dest, src, bias):
    """``dest[...] = src``, plus ``bias`` (C,) along axis 1 when given: one pass either way (the
    bias rides on a copy the pass makes anyway, on the part's own thread)."""
    if bias is None:
        np.copyto(dest, src)
    else:
        np.add(src, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def _add_bias(out, bias):
    """``out += bias`` along axis 1 (nothing when ``bias`` is None); returns ``out``."""
    if bias is not None:
        out += bias.reshape((-1,) + (1,) * (out.ndim - 2))
    return out


@dataclass(frozen=True)
class _Columns:
    """The opaque ``cols`` of :func:`conv_nd`: the input, its padding and the window geometry.

    It keeps ``x`` itself (a reference, as PyTorch saves its input), not a padded copy: a
    fresh padded array of a few MB costs more in page faults than padding again into this
    thread's scratch when the weight gradient needs it (:meth:`padded`).
    A column matrix of at most ``_CACHE_BYTES`` is built once, by the forward pass, and kept for
    the weight gradient.  A larger one is never stored whole: each pass rebuilds it a batch chunk
    at a time (see ``_CHUNK_BYTES``), so its peak memory is a chunk, not the matrix.  The
    depthwise path never builds it at all.
    """

    x: np.ndarray  # the unpadded input (N, C, *spatial)
    pads: tuple  # (before, after) zero padding per spatial axis
    kernel: tuple
    stride: tuple
    dilation: tuple
    out_spatial: tuple
    groups: int
    cacheable: bool = True
    _kept: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def depthwise(self) -> bool:
        return _is_depthwise(self.x.shape[1], self.groups)

    @property
    def padded_shape(self) -> tuple:
        return self.x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(self.x.shape[2:], self.pads))

    @property
    def x_finite(self) -> bool:
        """:func:`_all_finite` of ``x``, computed once for the forward and its backward."""
        if "finite" not in self._kept:
            self._kept["finite"] = _all_finite(self.x)
        return self._kept["finite"]

    def padded(self, start=0, stop=None):
        """The padded samples ``start:stop``, in this thread's scratch: valid until the next
        padding on this thread, so never keep it past the pass."""
        return pad_into_scratch(self.x[start:stop], self.pads, "xpad")

    def chunks(self, xp=None):
        """Yield ``(start, stop, cols)``: cols (groups, CK/groups, (stop - start) * P); read only.

        ``xp``: the whole padded input, when the caller has it (else each chunk is padded here).
        """
        n, c = self.x.shape[:2]
        positions = math.prod(self.out_spatial)
        ck = c * math.prod(self.kernel)
        total = n * ck * positions * self.x.itemsize
        chunks = _batch_chunks(n, ck * positions * self.x.itemsize)
        if self.cacheable and total <= _CACHE_BYTES:
            # kept whole, but still handed out in chunks (views) so the GEMM outputs stay small
            if "cols" not in self._kept:
                # into a new array: for some shapes (a 1x1 kernel, one sample) im2col is a mere
                # view, and the padded input is scratch
                cols = np.empty((c,) + self.kernel + (n,) + self.out_spatial, dtype=self.x.dtype)
                im2col(self.padded() if xp is None else xp, self.kernel, self.stride, self.dilation,
                       self.out_spatial, out=cols)
                self._kept["cols"] = cols.reshape(self.groups, ck // self.groups, n, positions)
            full = self._kept["cols"]
            for start, stop in chunks:
                yield start, stop, full[:, :, start:stop].reshape(self.groups, ck // self.groups, -1)
            return
        step = chunks[0][1] - chunks[0][0]
        buf = scratch("im2col", ck * step * positions, self.x.dtype)
        for start, stop in chunks:
            shape = (c,) + self.kernel + (stop - start,) + self.out_spatial
            part = self.padded(start, stop) if xp is None else xp[start:stop]
            cols = im2col(part, self.kernel, self.stride, self.dilation, self.out_spatial,
                          out=buf[: math.prod(shape)].reshape(shape))
            yield start, stop, cols.reshape(self.groups, ck // self.groups, -1)


# The forward GEMM is (C_out) x (C_in * prod(kernel)); with few output channels BLAS runs it far
# below its peak (32 x 432: 71 GFLOP/s on one core, against 125 for 96 x 144).  The "stacked"
# passes move the first kernel axis from the GEMM's inner dimension to its rows: one GEMM of
# (k0 * C_out) x (C_in * prod(other kernel axes)) over an im2col of the other axes only, taken at
# every input slice along the first axis, then k0 shifted adds.  The im2col is k0 times smaller.
# With a stride s0 along the first axis (the input gradient only), kernel slice j reads padded
# slices o * s0 + j * d0: the slices fall into s0 residue classes, and each class is one such
# GEMM for the kernel slices that read it.
#
# Every input slice is independent of the others until the shifted adds, so the passes run in
# blocks of a few slices (about ``_STACKED_BLOCK_BYTES`` of columns); slices of padding along the
# first axis are never built (they only ever meet zeros).  Measured against whole-sample chunks
# (conv3d (4, 16, 16, 32, 32) x (32, 16, 3, 3, 3), notes/perf.md): one core 80 -> 63 ms
# fwd+bwd, 2 threads 40 -> 33 ms.  Blocks of 2, 3, 4 or 6 MB ran within noise of each other
# (conv3d 32.5-33.8 ms; (32, 64, 32, 32) 37.0-39.1; conv1d 7.6-7.8); 2 MB keeps the scratch of
# (16, 128, 16, 16) x (128, 128, 3, 3) at 0.9 of its im2col, against 1.4 with 6 MB.
_STACKED = True  # a switch for the tests
_STACKED_MAX_ROWS = 64  # C_out up to this many (twice that with a long inner size, see below)
_STACKED_MIN_INNER = 64  # C_in * prod(kernel[1:]) at least this: a shorter inner dimension is worse
_STACKED_MIN_DX_INNER = 96  # the input gradient's inner size, len(js) * C_out, at least this
_STACKED_BLOCK_BYTES = 2 << 20


def _all_finite(a) -> bool:
    """The stacked gradients multiply the zeros of dY by every input (or weight) entry, and the
    band matrices' zeros meet every entry of the other operand, so an inf or NaN would reach
    entries the direct sums keep it from: non-finite operands take another path.  (One summing
    pass; a sum that overflows just takes the other path too.)"""
    return bool(np.isfinite(a.sum()))


def _stacked_blocks(n, slices, per_slice_bytes):
    """``(start, stop, a, b)``: samples start:stop and slices a:b (of ``slices`` along the first
    axis) per block, evenly sized and at most ``_STACKED_BLOCK_BYTES`` of columns each where a
    slice fits: whole samples while one sample's columns fit, else runs of one sample's slices."""
    if slices == 0 or n == 0:
        return []
    per_sample = per_slice_bytes * slices
    if per_sample <= _STACKED_BLOCK_BYTES:
        nb = -(-n // -(-n * per_sample // _STACKED_BLOCK_BYTES))  # n split evenly
        return [(s, min(n, s + nb), 0, slices) for s in range(0, n, nb)]
    step = -(-slices // -(-per_sample // _STACKED_BLOCK_BYTES))
    return [(s, s + 1, a, min(slices, a + step)) for s in range(n) for a in range(0, slices, step)]


def _stacked_classes(k0, s0, d0):
    """Kernel slice j reads padded slices (o + t) * s0 + r along the first axis, r, t = the
    remainder and quotient of j * d0 by s0.  Returns [(r, [(j, t), ...])] by residue r."""
    classes = {}
    for j in range(k0):
        t, r = divmod(j * d0, s0)
        classes.setdefault(r, []).append((j, t))
    return sorted(classes.items())


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
    (inner 96 < 3 x 128: 1.24x) and (8, 256, 14, 14) x (256, 256, 3, 3) (1.12x)."""
    inner = c_in * math.prod(kernel[1:])
    rows_ok = c_out <= _STACKED_MAX_ROWS or (c_out <= 2 * _STACKED_MAX_ROWS and inner >= 3 * c_out)
    return inner >= _STACKED_MIN_INNER and rows_ok


def _use_stacked(c_in, c_out, kernel, stride, dilation, groups) -> bool:
    """The stacked forward and weight gradient (:func:`_stacked_shape`).  Stride 1 along the
    first axis only: (32, 32, 56, 56) x (64, 32, 3, 3) stride 2 (residue classes {0, 2} and {1})
    took 1.06x; (32, 32, 32, 32) x (64, 32, 4, 4) stride 2 ({0, 2}, {1, 3}) 0.92x for the forward
    but 1.3x for its weight gradient, and the plain forward keeps a small im2col that the plain
    weight gradient reuses."""
    return _STACKED and groups == 1 and stride[0] == 1 and kernel[0] > 1 and _stacked_shape(c_in, c_out, kernel)


_use_stacked_weight_grad = _use_stacked  # the same rule (a separate name for the tests)


def _block_columns(x, pads, kernel, stride, dilation, out_rest, buf):
    """im2col over every axis but the first of the block ``x`` (N, C, B, *rest), unpadded, with
    ``pads`` for the other axes: (C * prod(kernel[1:]), N * B * prod(out_rest)) in the scratch
    ``buf``, one column per (sample, slice, output position)."""
    n, c, b = x.shape[:3]
    rest = tuple(kernel[1:])
    xp = pad_into_scratch(x, ((0, 0),) + tuple(pads[1:]), "stacked-pad")
    shape = (c, 1) + rest + (n, b) + tuple(out_rest)
    cols = im2col(xp, (1,) + rest, (1,) + tuple(stride[1:]), (1,) + tuple(dilation[1:]), (b,) + tuple(out_rest),
                  out=buf[: math.prod(shape)].reshape(shape))
    return cols.reshape(c * math.prod(rest), -1)


_PHASED_COL2IM = True  # a switch for the tests


def _col2im(dx, cols, pads, kernel, stride, dilation, out_shape):
    """Replace dx by the col2im of ``cols`` (scratch, clobbered): by phases (_col2im.py) where
    they apply, else by strided adds onto dx."""
    plan = None
    if _PHASED_COL2IM:
        plan = phased(tuple(dx.shape[2:]), tuple(tuple(p) for p in pads), tuple(kernel), tuple(stride), tuple(dilation),
                      tuple(out_shape))
    if plan is None:
        return col2im_unpadded(dx, cols, pads, kernel, stride, dilation, out_shape)
    return col2im_phased(dx, cols, plan, stride, out_shape)


def _stacked_rows(weight, js=None):
    """(len(js) * C_out, C_in * prod(kernel[1:])): the kernel slices ``js`` (all by default)
    stacked as GEMM rows."""
    c_out, c_in, k0 = weight.shape[:3]
    w = weight.reshape(c_out, c_in, k0, -1)[:, :, list(range(k0)) if js is None else js]
    return np.ascontiguousarray(w.transpose(2, 0, 1, 3)).reshape(w.shape[2] * c_out, -1)


def _stacked_forward(x, pads, weight, stride, dilation, out, bias=None):
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
    for res, js in _stacked_classes(weight.shape[2], s0, dilation[0]):
        first = (res - lo0) % s0  # the class's first input slice, class slice m0:
        m0 = (first + lo0) // s0
        blocks = _stacked_blocks(n, len(range(first, size0, s0)), cr * q * x.itemsize)
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


def _use_stacked_input_grad(c_in, c_out, kernel, stride, dilation, groups) -> bool:
    """dx by the adjoint of the stacked forward: (C_in * prod(kernel[1:])) x (len(js) * C_out)
    GEMMs (for (4, 16, 16, 32, 32) x (32, 16, 3, 3, 3): 144 x 96, 138 GFLOP/s on one core,
    against 96 for the plain 432 x 32) and a col2im over the other kernel axes only."""
    classes = _stacked_classes(kernel[0], stride[0], dilation[0])
    return (
        _STACKED
        and groups == 1
        and max(len(js) for _, js in classes) > 1
        # its GEMMs' inner size: (32, 32, 56, 56) x (64, 32, 3, 3) stride 2 has a class of one
        # kernel slice (64) and stays plain
        and min(len(js) for _, js in classes) * c_out >= _STACKED_MIN_DX_INNER
        and _stacked_shape(c_in, c_out, kernel)
    )


def _stacked_weight_grad(dout, cols: _Columns, weight_shape):
    """dw of the stacked forward: per residue class and block, columns @ dY.T, one
    (C_in * prod(kernel[1:])) x (len(js) * C_out) GEMM (dY is zero where a slice is not read),
    rather than k0 GEMMs with C_out rows (116 against 69 GFLOP/s for conv3d's 96 x 144 and
    32 x 144)."""
    return _stacked_backward(dout, cols.x.shape, cols.pads, cols.kernel, cols.stride, cols.dilation, x=cols.x)[1]


def _stacked_input_grad(dout, weight, x_shape, pads, stride, dilation, out=None):
    """dx (into ``out`` when given) by the adjoint of :func:`_stacked_forward`: per residue class
    and block, dout is placed at each kernel slice's shift (dY, zero elsewhere), W_rows.T @ dY
    gives the columns of every block slice, and a col2im over the other kernel axes sums them
    onto dx."""
    return _stacked_backward(dout, x_shape, pads, tuple(weight.shape[2:]), stride, dilation, weight=weight, dx=out)[0]


def _stacked_backward(dout, x_shape, pads, kernel, stride, dilation, x=None, weight=None, dx=None):
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
    classes = _stacked_classes(k0, s0, dilation[0])
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
        blocks = _stacked_blocks(n, count, per_slice)
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


# Small 2-D convolutions (LeNet's second) run as ONE GEMM of kernel-row windows by a banded
# weight matrix, instead of im2col: the windows copy is kW * W_out / Wp times smaller than the
# im2col matrix and copies runs of kH * Wp elements, at the price of Wp / kW times the
# multiply-adds (the band's zeros).  Measured, im2col -> banded: (64, 6, 14, 14) x (16, 6, 5, 5)
# forward 0.91 -> 0.57 ms, backward 1.72 -> 1.25 ms; but (64, 16, 8, 8) x (32, 16, 3, 3) p1
# (waste 3.3) 2.32 -> 2.49 ms fwd+bwd, LeNet's first conv (waste 6.4) forward 0.70 -> 0.70 and
# weight gradient 0.33 -> 0.68 ms, wide layers 2-3x slower (notes/perf.md).
_BAND2D_MAX_WASTE = 3.0  # Wp / kW: the band's multiply-adds per useful one
_BAND2D_MAX_COST = 1 << 18  # band elements (C_in * kH * Wp * C_out * W_out) times the waste


def _use_band2d(c_in, c_out, kernel, padded_w, out_w, groups) -> bool:
    if len(kernel) != 2 or groups != 1:
        return False
    waste = padded_w / kernel[1]
    return waste <= _BAND2D_MAX_WASTE and c_in * kernel[0] * padded_w * c_out * out_w * waste <= _BAND2D_MAX_COST


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


# Depthwise 2-D convolutions whose padded width is at most this go through banded GEMMs (below);
# the band costs Wp / kW times the useful FLOPs, so wide inputs use the shifted-slice sums.
_BANDED_MAX_WIDTH = 80


def _use_banded(xp_shape, kernel) -> bool:
    return len(kernel) == 2 and xp_shape[-1] <= _BANDED_MAX_WIDTH


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


# Stride-1 2-D depthwise convolutions (multiplier 1) on the flat padded plane: output position
# l = h * Wp + w reads input l + i * dh * Wp + j * dw for kernel tap (i, j), so for each kernel
# column j the kH taps are one overlapping strided view (N, C, kH, L), and one einsum per column
# sums them with no temporaries.  The output comes out "wide" (rows of Wp, the extra columns
# discarded).  The banded GEMMs (which copy whole windows as runs of the unpadded input) take
# every pass they apply to; the flat path takes wider images.  Measured on (32, 64, 32, 32) x
# (64, 1, 3, 3), forward then backward as in training, one core: banded everywhere 24.6-25.5 ms
# (forward 7.7-7.9, dw 10.6, dx 6.4-6.9); with the flat weight gradient 28.2-28.8 (its dw alone
# is faster, 8.6-9.0, but the passes around it then run slower: forward 10.5-10.8, dx
# 8.5-9.4).  And two einsums on these overlapping views on two threads run no faster than one
# after the other (two 16-sample forwards 5.7 ms, one 2.9), where the banded GEMMs run in
# parallel (2 threads: 12.4-12.8 ms fwd+bwd).
_FLAT_DEPTHWISE = True  # a switch for the tests


def _depthwise_path(c, weight_shape, stride, banded_shape, finite) -> str:
    """'banded', 'flat' or 'shifted' for a depthwise pass (see above).

    ``banded_shape``: whether the banded GEMMs apply to the shapes; ``finite()``: whether the
    operands they multiply by their structural zeros are finite (asked only when it matters:
    it costs a pass over the data).  The callers check the flat path's own conditions.
    """
    if banded_shape and finite():
        return "banded"
    flat = _FLAT_DEPTHWISE and len(weight_shape) == 4 and weight_shape[0] == c and all(s == 1 for s in stride)
    return "flat" if flat else "shifted"


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


# Samples per chunk of the flat depthwise passes: about this many bytes of wide output, so that
# the einsum's running sums stay in cache (whole batches of 32 x 64 x 32 x 32 were no faster
# than the banded GEMMs).
_FLAT_DEPTHWISE_CHUNK_BYTES = 1 << 18


def _flat_depthwise_chunks(n, per_sample_bytes):
    step = max(1, _FLAT_DEPTHWISE_CHUNK_BYTES // per_sample_bytes)
    return [(start, min(n, start + step)) for start in range(0, n, step)]


def _depthwise_flat_forward(xp, weight, dilation, out_spatial, out=None, bias=None):
    """Stride-1 depthwise (multiplier 1) convolution of the padded ``xp`` by flat taps."""
    n, c, _, wp = xp.shape
    kh, kw = weight.shape[2:]
    ho, wo = out_spatial
    length = (ho - 1) * wp + wo  # the last wide row stops at the last real output
    w = weight.reshape(c, kh, kw)
    if out is None:
        out = np.empty((n, c, ho, wo), dtype=xp.dtype)
    chunks = _flat_depthwise_chunks(n, c * ho * wp * xp.itemsize)
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
    chunks = _flat_depthwise_chunks(n, c * ho * wp * dout.itemsize)
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


def _depthwise_forward(cols: _Columns, weight, out=None, bias=None):
    """out[n, c*m + j] = sum_k weight[c*m + j, 0, k] * xp[n, c, window_k] (+ bias); no im2col.

    (An im2col would be prod(kernel) times the input, for one matrix-vector product per channel.)
    Into ``out`` when given.
    """
    stride, dilation, out_spatial = cols.stride, cols.dilation, cols.out_spatial
    banded = _use_banded(cols.padded_shape, weight.shape[2:])
    path = _depthwise_path(cols.x.shape[1], weight.shape, stride, banded, lambda: cols.x_finite and _all_finite(weight))
    if path == "banded":
        return _banded_forward(cols.x, cols.pads, weight, stride, dilation, out_spatial, out, bias)
    if path == "flat":
        return _depthwise_flat_forward(cols.padded(), weight, dilation, out_spatial, out, bias)
    xp = cols.padded()
    n, c = xp.shape[:2]
    kernel = weight.shape[2:]
    nd = len(kernel)
    mult = weight.shape[0] // c
    w = weight.reshape(c, mult, -1)
    lead = (slice(None), slice(None))
    out = np.empty((n, c, mult) + tuple(out_spatial), dtype=xp.dtype)
    tmp = np.empty_like(out)
    bshape = (1, c, mult) + (1,) * nd
    for j, offset in enumerate(kernel_offsets(kernel)):
        v = xp[lead + window_slices(offset, out_spatial, stride, dilation)][:, :, None]
        if j == 0:
            np.multiply(v, w[:, :, j].reshape(bshape), out=out)
        else:
            np.multiply(v, w[:, :, j].reshape(bshape), out=tmp)
            out += tmp
    return _add_bias(out.reshape((n, c * mult) + tuple(out_spatial)), bias)


def _depthwise_weight_grad(dout, cols: _Columns, weight_shape):
    banded = _use_banded(cols.padded_shape, cols.kernel)
    # (the banded dw multiplies dout by the zeros of padding rows, the flat one the wide dout's
    # zero columns by real inputs: an inf there would make NaN)
    path = _depthwise_path(cols.x.shape[1], weight_shape, cols.stride, banded, lambda: _all_finite(dout))
    if path == "banded":
        return _banded_weight_grad(dout, cols, weight_shape)
    if path == "flat" and cols.x_finite:
        return _depthwise_flat_weight_grad(dout, cols, weight_shape)
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


def _depthwise_input_grad(dout, weight, padded_shape, stride, dilation):
    if _use_banded(padded_shape, weight.shape[2:]) and _all_finite(dout) and _all_finite(weight):
        return _banded_input_grad(dout, weight, padded_shape, stride, dilation)
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
    return dxp


def _correlate_dout(c_in, c_out, stride) -> bool:
    """Stride 1 and no more output than input channels: dx is cheaper as a convolution of the
    padded dout with the flipped weight (im2col + a GEMM whose inner size is C_out * prod(kernel))
    than as W.T @ dout (inner size C_out: poor GEMM efficiency) followed by a col2im."""
    return all(s == 1 for s in stride) and c_out <= c_in


def _input_grad_by_correlation(dout, weight, x_shape, pads, dilation, groups, out=None):
    """dx of a stride-1 convolution as the full correlation of dout with the flipped weight.

    dxp[y] = sum_k dout[y - d k] w[k]; padding dout by d (k - 1) on both sides turns it into a
    plain stride-1 correlation with w[::-1], evaluated only over the unpadded input region.
    """
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
    if _use_stacked(c_out, c_in, kernel, (1,) * nd, dilation, groups):
        return _stacked_forward(region, ((0, 0),) * nd, np.ascontiguousarray(flipped.swapaxes(0, 1)), (1,) * nd, dilation, dx)
    grid = _Columns(region, ((0, 0),) * nd, kernel, (1,) * nd, tuple(dilation), in_spatial, groups, cacheable=False)
    per_sample = _per_sample(cig, cog * kk, math.prod(in_spatial))
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


def _flat_geometry(padded, kernel, dilation):
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


# Stride-1 dx by flat shifts (below) rather than a strided col2im; a switch for the tests.
_FLAT_DX = True


def _use_flat(stride, weight) -> bool:
    """Stride-1 dx by flat shifts: every col2im add is one long contiguous run.

    The wide dout's extra positions are zeros, so their columns are exact zeros and add nothing;
    a non-finite weight would turn them into NaNs, so such weights take the strided col2im.
    """
    return _FLAT_DX and all(s == 1 for s in stride) and _all_finite(weight)


def _input_grad_flat(dout, weight, x_shape, pads, dilation, groups):
    """dx of a stride-1 convolution: W.T @ wide dout, then one contiguous add per kernel offset.

    The strided col2im adds runs of W_out elements (10 for LeNet's second conv); on the flat
    padded grid each kernel offset is one shifted add of the whole wide plane.  The wide columns
    cost prod(padded[1:]) / prod(out[1:]) times the GEMM work; measured faster for every stride-1
    shape tried (notes/perf.md).
    """
    n, c_in = x_shape[:2]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    out_spatial = tuple(dout.shape[2:])
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(x_shape[2:], pads))
    shifts, wide, slack = _flat_geometry(padded, kernel, dilation)
    plane = math.prod(padded) + slack
    cog, ckg = c_out // groups, c_in // groups * len(shifts)
    w_t = weight.reshape(groups, cog, ckg).swapaxes(1, 2)  # (groups, CK/groups, C_out/groups)
    dx = np.empty(x_shape, dtype=dout.dtype)
    chunks = _flat_chunks(n, c_in * len(shifts) * wide * dout.itemsize)
    step = chunks[0][1] - chunks[0][0]
    d_buf = scratch("dout", step * c_out * wide, dout.dtype)
    d_buf[:] = 0  # the wide positions stay zero
    cols_buf = scratch("im2col", step * c_in * len(shifts) * wide, dout.dtype)
    p_buf = scratch("dx", step * c_in * plane, dout.dtype)
    per_sample = _per_sample(ckg, cog, wide)
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


def _flat_chunks(n, per_sample_bytes):
    """One chunk while the wide columns fit in ``_CHUNK_BYTES`` (each extra chunk costs more in
    thread synchronisation and per-call overhead than it saves in cache at these sizes)."""
    if n * per_sample_bytes <= _CHUNK_BYTES:
        return [(0, n)]
    return _batch_chunks(n, per_sample_bytes)


# Passes of at least this many multiply-adds split their batch over threads (numcnn._threads):
# below it the hand-off costs more than the second core gives (LeNet's layers stay whole).
_PARALLEL_MIN_MACS = 40e6
# ... but from this many when the pass's GEMMs are one per sample: OpenBLAS runs such small
# GEMMs on one thread, so a whole pass uses one core.  Measured fwd+bwd at 2 threads, whole vs
# split: (100, 3, 31, 31) x (25, 3, 3, 3) s2 (17M) 4.8 vs 2.5 ms, (50, 3, 31, 31) (8.6M) 2.5
# vs 2.1-2.2; (25, 3, 31, 31) (4.3M) 1.2 vs 1.3-1.5 and LeNet's conv1 (5.5M) 1.8 vs 2.3-2.4.
_PARALLEL_MIN_MACS_PER_SAMPLE = 8e6


def _work(n, c_out, out_spatial, weight, groups):
    """Multiply-adds of a pass, counted 10x for depthwise convolutions (shifted slices and
    banded GEMMs, several times slower per multiply-add than a full GEMM)."""
    macs = n * c_out * math.prod(out_spatial) * math.prod(weight.shape[1:])
    return macs * 10 if _is_depthwise(weight.shape[1] * groups, groups) else macs


def _plain_gemms(x_shape, weight, stride, pads, dilation, out_spatial, groups):
    """For a forward pass that the rules send to im2col + GEMMs (not pointwise, depthwise, banded
    or stacked; :func:`_conv_nd`): 'per-sample' or 'chunk', its kind of GEMM.  Else None."""
    kernel = tuple(weight.shape[2:])
    c_in, c_out = x_shape[1], weight.shape[0]
    padded_w = x_shape[-1] + sum(pads[-1])
    if (
        _is_depthwise(c_in, groups)
        or _is_pointwise(kernel, stride, pads)
        or _use_band2d(c_in, c_out, kernel, padded_w, out_spatial[-1], groups)
        or _use_stacked(c_in, c_out, kernel, stride, dilation, groups)
    ):
        return None
    return "per-sample" if _per_sample(c_out // groups, math.prod(weight.shape[1:]), math.prod(out_spatial)) else "chunk"


def _min_split_work(x_shape, weight, stride, pads, dilation, out_spatial, groups):
    """The :func:`_work` from which a pass splits its batch over threads: lower where a whole
    pass's GEMMs are per sample (one core each)."""
    one_core = _plain_gemms(x_shape, weight, stride, pads, dilation, out_spatial, groups) == "per-sample"
    return _PARALLEL_MIN_MACS_PER_SAMPLE if one_core else _PARALLEL_MIN_MACS


@dataclass(frozen=True)
class _PartColumns:
    """The ``cols`` of a forward pass that ran its batch in parts: one ``_Columns`` per range."""

    parts: dict  # (start, stop) -> _Columns


def conv_nd(x, weight, stride, pads, dilation, groups, bias=None):
    """Convolution of an unpadded ``x``, plus ``bias`` when given: returns ``(out, cols)``.

    ``cols`` is opaque (a ``_Columns``, or a ``_PartColumns`` when the batch ran in parts on
    several threads): only :func:`conv_nd_weight_grad` reads it.  It holds the input and its
    padding, from which each pass rebuilds the im2col columns chunk by chunk.
    Arguments are already checked and normalised (tuples, (before, after) pads).
    """
    n, c_out = x.shape[0], weight.shape[0]
    out_spatial = conv_output_shape(x.shape[2:], tuple(weight.shape[2:]), stride, dilation, pads)
    if n == 0:  # an empty batch, as PyTorch allows: nothing to compute (and no chunk to size)
        cols = _Columns(x, tuple(pads), tuple(weight.shape[2:]), tuple(stride), tuple(dilation), out_spatial, groups)
        return np.empty((0, c_out) + out_spatial, dtype=x.dtype), cols
    work = _work(n, c_out, out_spatial, weight, groups)
    min_work = _min_split_work(x.shape, weight, stride, pads, dilation, out_spatial, groups)
    ranges = _threads.parts(n, work, min_work, uses_blas=True)
    if len(ranges) == 1:
        return _conv_nd(x, weight, stride, pads, dilation, groups, bias=bias)
    out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)

    def part(start, stop):
        return _conv_nd(x[start:stop], weight, stride, pads, dilation, groups, out=out[start:stop], bias=bias)[1]

    cols = _threads.run(part, ranges, uses_blas=True)
    return out, _PartColumns(dict(zip(ranges, cols)))


def _conv_nd(x, weight, stride, pads, dilation, groups, out=None, bias=None):
    """:func:`conv_nd` on the calling thread, into ``out`` when given.

    The bias is added where each path writes its result (or right after), so that it costs no
    pass of its own over ``out`` and, in a split pass, runs on the part's thread."""
    nd = x.ndim - 2
    n = x.shape[0]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    out_spatial = conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)
    if _is_pointwise(kernel, stride, pads):
        if out is None:
            out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)
        xg = _grouped(x, groups)
        np.matmul(_pointwise_weight(weight, groups), xg, out=_grouped(out, groups))
        return _add_bias(out, bias), _PointwiseColumns(xg)
    cols = _Columns(x, tuple(pads), kernel, tuple(stride), tuple(dilation), out_spatial, groups)
    if cols.depthwise:
        return _into(out, _depthwise_forward(cols, weight, out, bias)), cols
    band2d = _use_band2d(x.shape[1], c_out, kernel, cols.padded_shape[-1], out_spatial[-1], groups)
    if band2d and cols.x_finite and _all_finite(weight):
        if out is None:
            out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)
        return _band2d_forward(cols.padded(), weight, stride, dilation, out_spatial, out, bias)
    if _use_stacked(x.shape[1], c_out, kernel, stride, dilation, groups) and _all_finite(weight):
        # (it skips the slices of padding along the first axis: an inf weight would make NaN there)
        if out is None:
            out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)
        _stacked_forward(x, pads, weight, stride, dilation, out, bias)
        cols.x_finite  # for the stacked backward, on this part's thread rather than the caller's
        return out, cols
    xp = cols.padded()  # in scratch: the cache keeps x (see _Columns)
    w_mat = weight.reshape(groups, c_out // groups, -1)
    if out is None:
        out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)
    per_sample = _per_sample(w_mat.shape[1], w_mat.shape[2], math.prod(out_spatial))
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
    assert out.ndim == nd + 2
    return out, cols


def conv_nd_weight_grad(dout, cols, weight_shape, groups, bias=False):
    """``(dw, db)``: the weight's gradient from ``dout`` (N, C_out, *out) and the forward's
    ``cols``, and with ``bias`` the bias's (else None)."""
    if dout.shape[0] == 0:
        return np.zeros(weight_shape, dtype=dout.dtype), (bias_grad(dout) if bias else None)
    if isinstance(cols, _PartColumns):
        # the same batch ranges as the forward, on the same threads; one partial sum per range
        partial = _threads.run(
            lambda start, stop: _weight_and_bias_grad(dout[start:stop], cols.parts[start, stop], weight_shape, groups, bias),
            list(cols.parts),
            uses_blas=True,
        )
        return _sum_parts(partial)
    return _weight_and_bias_grad(dout, cols, weight_shape, groups, bias)


def conv_nd_and_weight_grad(x, weight, stride, pads, dilation, groups, grad, sum_x=False):
    """``(out, dw, x_sum)`` from one im2col of ``x``, or None where the pass is not plain
    im2col + chunk GEMMs (the caller then calls :func:`conv_nd` and :func:`conv_nd_weight_grad`).

    ``out`` is ``conv_nd(x, weight, ...)``; ``dw`` is the weight gradient of that convolution for
    the output gradient ``grad`` (shape of ``out``); ``x_sum`` is ``bias_grad(x)`` with
    ``sum_x``, else None.  The transposed convolution's backward is exactly this (``x`` its
    dout, ``grad`` its input): both products read the same columns, so each chunk is built once,
    not once per product (conv_transpose2d (32, 64, 16, 16) x (64, 32, 4, 4) s2: two im2cols of
    1.8 ms each on one core).
    """
    n, c_out = x.shape[0], weight.shape[0]
    out_spatial = conv_output_shape(x.shape[2:], tuple(weight.shape[2:]), stride, dilation, pads)
    if n == 0 or _plain_gemms(x.shape, weight, stride, pads, dilation, out_spatial, groups) != "chunk":
        return None
    out = np.empty((n, c_out) + out_spatial, dtype=x.dtype)

    def part(start, stop):
        return _conv_and_weight_grad(x[start:stop], weight, stride, pads, dilation, groups, grad[start:stop],
                                     out[start:stop], sum_x)

    work = _work(n, c_out, out_spatial, weight, groups)
    ranges = _threads.parts(n, work, _PARALLEL_MIN_MACS, uses_blas=True)
    return (out,) + _sum_parts(_threads.run(part, ranges, uses_blas=True))


def _conv_and_weight_grad(x, weight, stride, pads, dilation, groups, grad, out, sum_x):
    """:func:`conv_nd_and_weight_grad` on the calling thread: returns ``(dw, x_sum)``."""
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    cols = _Columns(x, tuple(pads), kernel, tuple(stride), tuple(dilation), tuple(out.shape[2:]), groups, cacheable=False)
    w_mat = weight.reshape(groups, c_out // groups, -1)
    transposed = weight.size // groups <= _DW_TRANSPOSED_MAX
    dw = out_buf = g_buf = None
    for start, stop, chunk in cols.chunks(cols.padded()):
        if out_buf is None:
            out_buf = scratch("gemm", c_out * chunk.shape[-1], x.dtype).reshape(groups, c_out // groups, -1)
            g_buf = scratch("dout", grad[start:stop].size, x.dtype)
        _from_gemm_layout(out[start:stop], np.matmul(w_mat, chunk, out=out_buf[:, :, : chunk.shape[-1]]))
        dw = _add_chunk_weight_grad(dw, _to_gemm_layout(grad[start:stop], groups, g_buf), chunk, transposed)
    return _weight_from(dw, weight.shape, transposed), (bias_grad(x) if sum_x else None)


def _sum_parts(partial):
    """Add up the batch parts' ``(dw, db)`` pairs (db None throughout, or an array in each)."""
    dw, db = partial[0]
    for part_dw, part_db in partial[1:]:
        dw += part_dw
        if db is not None:
            db += part_db
    return dw, db


def bias_grad(dout):
    """db: ``dout`` (N, C, *spatial) summed over everything but the channels."""
    return dout.sum(axis=(0,) + tuple(range(2, dout.ndim)))


def _weight_and_bias_grad(dout, cols, weight_shape, groups, bias):
    dw = _weight_grad(dout, cols, weight_shape, groups)
    return dw, (bias_grad(dout) if bias else None)


def _weight_grad(dout, cols, weight_shape, groups):
    if isinstance(cols, _PointwiseColumns):
        # dw = sum over samples of dout_n @ x_n.T, one GEMM per sample in a single matmul
        per_sample = np.matmul(_grouped(dout, groups), cols.x.swapaxes(-1, -2))
        return per_sample.sum(axis=0).reshape(weight_shape)
    if isinstance(cols, _BandColumns):
        return _band2d_weight_grad(dout, cols, weight_shape)
    if cols.depthwise:
        return _depthwise_weight_grad(dout, cols, weight_shape)
    stacked = _use_stacked_weight_grad(cols.x.shape[1], weight_shape[0], cols.kernel, cols.stride, cols.dilation, groups)
    if stacked and cols.x_finite:
        return _stacked_weight_grad(dout, cols, weight_shape)
    dw = d_buf = None
    cog, ckg = weight_shape[0] // groups, math.prod(weight_shape[1:])
    if _per_sample(cog, ckg, math.prod(dout.shape[2:])) and cog * ckg <= _DW_PER_SAMPLE_MAX_WEIGHTS:
        dw = np.zeros((groups, cog, ckg), dtype=dout.dtype)
        for start, stop, chunk in cols.chunks():
            per = np.matmul(_samples(dout[start:stop], groups), _chunk_samples(chunk, stop - start).swapaxes(-1, -2))
            dw += per.sum(axis=1)
        return dw.reshape(weight_shape)
    transposed = cog * ckg <= _DW_TRANSPOSED_MAX
    for start, stop, chunk in cols.chunks():
        if d_buf is None:
            d_buf = scratch("dout", dout[start:stop].size, dout.dtype)
        dw = _add_chunk_weight_grad(dw, _to_gemm_layout(dout[start:stop], groups, d_buf), chunk, transposed)
    return _weight_from(dw, weight_shape, transposed)


# Weight gradients of at most this many entries are computed transposed (chunk @ dout.T): OpenBLAS
# runs that orientation faster than dout @ chunk.T, one core, (C_out, CK, positions) (64, 320,
# 4096) 141 against 115 GFLOP/s, (128, 1152, 2048) 172 against 147, (64, 288, 6272) 144 against
# 119; but the final transposing copy grows worse than linearly: (256, 2304) 2.1 ms, for a gain of
# 4 % (186 against 180) (notes/perf.md).
_DW_TRANSPOSED_MAX = 1 << 18


def _add_chunk_weight_grad(acc, d_mat, chunk, transposed):
    """``acc`` plus one chunk's share of the weight gradient, (groups, C_out/groups, CK/groups), or
    with ``transposed`` its transpose (see ``_DW_TRANSPOSED_MAX``); the product alone while
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


def conv_nd_input_grad(dout, weight, x_shape, stride, pads, dilation, groups, bias=None):
    """Gradient of the (unpadded) input of shape ``x_shape`` from ``dout`` (N, C_out, *out),
    plus ``bias`` (C_in,) along the channels when given.

    This is also the forward pass of the transposed convolution (whose bias is then added on
    each part's thread, not in a pass of its own on the caller's).
    """
    n = x_shape[0]
    if n == 0:
        return np.empty(x_shape, dtype=dout.dtype)
    work = _work(n, weight.shape[0], dout.shape[2:], weight, groups)
    min_work = _min_split_work(x_shape, weight, stride, pads, dilation, tuple(dout.shape[2:]), groups)
    ranges = _threads.parts(n, work, min_work, uses_blas=True)
    if len(ranges) == 1:
        return _add_bias(_input_grad(dout, weight, x_shape, stride, pads, dilation, groups), bias)
    dx = np.empty(x_shape, dtype=dout.dtype)

    def part(start, stop):
        part_shape = (stop - start,) + tuple(x_shape[1:])
        _input_grad(dout[start:stop], weight, part_shape, stride, pads, dilation, groups, out=dx[start:stop])
        _add_bias(dx[start:stop], bias)

    _threads.run(part, ranges, uses_blas=True)
    return dx


def _input_grad(dout, weight, x_shape, stride, pads, dilation, groups, out=None):
    """dx on the calling thread, into ``out`` (x_shape) when given."""
    nd = len(x_shape) - 2
    n, c_in = x_shape[:2]
    c_out = weight.shape[0]
    kernel = tuple(weight.shape[2:])
    out_spatial = tuple(dout.shape[2:])
    padded_shape = tuple(x_shape[:2]) + tuple(size + lo + hi for size, (lo, hi) in zip(x_shape[2:], pads))
    if _is_pointwise(kernel, stride, pads):
        dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
        np.matmul(_pointwise_weight(weight, groups).swapaxes(-1, -2), _grouped(dout, groups), out=_grouped(dx, groups))
        return dx
    if _use_band2d(c_in, c_out, kernel, padded_shape[-1], out_spatial[-1], groups) and _all_finite(dout) and _all_finite(weight):
        return unpad(_band2d_input_grad(dout, weight, padded_shape, stride, dilation), pads, out)
    if _is_depthwise(c_in, groups) and c_out == c_in and nd == 2 and all(s == 1 for s in stride):
        # stride-1 depthwise (multiplier 1): dx is the depthwise correlation of the padded dout
        # with the flipped kernel, one banded forward pass with no scatter-adds
        spans = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1])
        # dout padded by span - pad on each side (negative: cropped)
        dpads = tuple((sp - lo, sp - hi) for (lo, hi), sp in zip(pads, spans))
        banded = _use_banded(tuple(x_shape[:2]) + tuple(size + sp for size, sp in zip(x_shape[2:], spans)), kernel)
        # (the band's zeros meet dout, the zeros dout is padded with meet the weight)
        path = _depthwise_path(c_in, weight.shape, stride, banded, lambda: _all_finite(dout) and _all_finite(weight))
        if path == "banded":  # without a padded copy of dout
            return _banded_forward(dout, dpads, flipped, (1, 1), dilation, tuple(x_shape[2:]), out)
        if path == "flat" and all(lo >= 0 and hi >= 0 for lo, hi in dpads) and _all_finite(weight):
            dpad = pad_into_scratch(dout, dpads, "pad")
            return _depthwise_flat_forward(dpad, flipped, dilation, tuple(x_shape[2:]), out)
    if _is_depthwise(c_in, groups):
        dxp = _depthwise_input_grad(dout, weight, padded_shape, stride, dilation)
    elif _correlate_dout(c_in, c_out, stride) and _all_finite(weight):
        # (the zeros dout is padded with meet every weight: an inf there would make NaN)
        return _input_grad_by_correlation(dout, weight, x_shape, pads, dilation, groups, out)
    elif _use_stacked_input_grad(c_in, c_out, kernel, stride, dilation, groups) and _all_finite(weight):
        return _stacked_input_grad(dout, weight, x_shape, pads, stride, dilation, out)
    elif _use_flat(stride, weight):
        return _into(out, _input_grad_flat(dout, weight, x_shape, pads, dilation, groups))
    else:
        w_t = weight.reshape(groups, c_out // groups, -1).swapaxes(1, 2)  # (groups, CK/groups, C_out/groups)
        ck = c_in * math.prod(kernel)
        positions = math.prod(out_spatial)
        # straight onto the unpadded dx: no padded buffer to zero, nor a crop to copy out
        dx = np.empty(x_shape, dtype=dout.dtype) if out is None else out
        chunks = _batch_chunks(n, ck * positions * dout.itemsize)
        step = chunks[0][1] - chunks[0][0]
        d_buf = scratch("dout", step * c_out * positions, dout.dtype)
        cols_buf = scratch("im2col", step * ck * positions, dout.dtype)
        per_sample = _per_sample(w_t.shape[1], w_t.shape[2], positions)
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
    return unpad(dxp, pads, out)


def _into(out, result):
    """``result``, copied into ``out`` when one is given (and ``result`` is not ``out`` itself)."""
    if out is None or result is out:
        return result
    np.copyto(out, result)
    return out


def _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd, padding_mode="zeros"):
    padding_mode = check_padding_mode(padding_mode)
    kernel, stride, dilation, pads, groups = _check_conv_args(
        x, weight, bias, stride, padding, dilation, groups, nd
    )
    conv_output_shape(x.shape[2:], kernel, stride, dilation, pads)  # raises if no output
    mode_pads = ()
    if padding_mode != "zeros" and any(lo or hi for lo, hi in pads):
        # As torch.nn.Conv*d: pad explicitly with the mode, then convolve without padding.
        check_mode_pads(x.shape[2:], pads, padding_mode)
        x, mode_pads, pads = pad_mode(x, pads, padding_mode), pads, ((0, 0),) * nd
    out, cols = conv_nd(x, weight, stride, pads, dilation, groups, bias)
    cache = ConvCache(
        x_shape=x.shape,
        weight=weight,
        cols=cols,
        has_bias=bias is not None,
        stride=stride,
        dilation=dilation,
        pads=pads,
        groups=groups,
        out_shape=out.shape,
        padding_mode=padding_mode if mode_pads else "zeros",
        mode_pads=mode_pads,
    )
    return out, cache


def _stacked_both(cols, weight, dout) -> bool:
    """Whether the backward pass takes the stacked weight gradient (:func:`_weight_grad`) and the
    stacked input gradient, in one pass.  Where :func:`_input_grad` alone would take the
    correlation of dout (C_out <= C_in), the one pass is faster still, since its dY serves both
    GEMMs: 2 threads, (32, 64, 32, 32) x (64, 64, 3, 3) 42.2 -> 38.2 ms, (16, 32, 66, 66) x
    (32, 32, 3, 3) 27.6 -> 27.0, (32, 64, 256) x (64, 64, 5) 8.2 -> 7.8."""
    parts = list(cols.parts.values()) if isinstance(cols, _PartColumns) else [cols]
    if not all(isinstance(part, _Columns) for part in parts):
        return False
    first = parts[0]
    c_in, c_out, groups = first.x.shape[1], weight.shape[0], first.groups
    kernel, stride, dilation = first.kernel, first.stride, first.dilation
    if first.depthwise or not _use_stacked_weight_grad(c_in, c_out, kernel, stride, dilation, groups):
        return False
    if not _use_stacked_input_grad(c_in, c_out, kernel, stride, dilation, groups):
        return False
    if not (all(part.x_finite for part in parts) and _all_finite(weight)):
        return False
    band2d = _use_band2d(c_in, c_out, kernel, first.padded_shape[-1], dout.shape[-1], groups)
    return not (band2d and _all_finite(dout))


def _stacked_grads(dout, cols, weight, bias, x_shape):
    """``(dx, dw, db)`` by :func:`_stacked_backward`, in the forward's batch parts when it had them."""
    if not isinstance(cols, _PartColumns):
        dx, dw = _stacked_backward(dout, x_shape, cols.pads, cols.kernel, cols.stride, cols.dilation, cols.x, weight)
        return dx, dw, (bias_grad(dout) if bias else None)
    dx = np.empty(x_shape, dtype=dout.dtype)

    def part(start, stop):
        c = cols.parts[start, stop]
        _, dw = _stacked_backward(dout[start:stop], c.x.shape, c.pads, c.kernel, c.stride, c.dilation, c.x, weight,
                                  dx[start:stop])
        return dw, (bias_grad(dout[start:stop]) if bias else None)

    partial = _threads.run(part, list(cols.parts), uses_blas=True)
    return (dx,) + _sum_parts(partial)


def _conv_backward(dout, cache: ConvCache, input_grad=True):
    check_cache(cache, ConvCache, "a conv forward")
    dout = check_dout(dout, cache.out_shape, cache.weight.dtype)
    if isinstance(cache.cols, _BandColumns):
        db = bias_grad(dout) if cache.has_bias else None
        # one dout layout and the forward's band matrix for both gradients
        d_rows = _dout_rows(dout)
        dw = _band2d_weight_grad(dout, cache.cols, cache.weight.shape, d_rows)
        if not input_grad:
            return None, dw, db
        if _all_finite(dout):  # (the forward took this path only with a finite weight)
            padded = cache.x_shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(cache.x_shape[2:], cache.pads))
            dxp = _band2d_input_grad(dout, cache.weight, padded, cache.stride, cache.dilation, d_rows, cache.cols.band)
            dx = unpad(dxp, cache.pads)
        else:
            dx = conv_nd_input_grad(
                dout, cache.weight, cache.x_shape, cache.stride, cache.pads, cache.dilation, cache.groups
            )
    elif input_grad and _stacked_both(cache.cols, cache.weight, dout):
        dx, dw, db = _stacked_grads(dout, cache.cols, cache.weight, cache.has_bias, cache.x_shape)
    else:
        # db beside dw, so that a split pass sums its own part of dout on its own thread
        dw, db = conv_nd_weight_grad(dout, cache.cols, cache.weight.shape, cache.groups, cache.has_bias)
        if not input_grad:
            return None, dw, db
        dx = conv_nd_input_grad(
            dout, cache.weight, cache.x_shape, cache.stride, cache.pads, cache.dilation, cache.groups
        )
    if cache.mode_pads:
        dx = pad_mode_adjoint(dx, cache.mode_pads, cache.padding_mode)
    return dx, dw, db


@accepts_unbatched(2)
def conv2d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """2-D convolution (cross-correlation, as in PyTorch), forward pass.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W), floating
    weight : ndarray, shape (C_out, C_in / groups, kH, kW), same dtype as ``x``
    bias : ndarray, shape (C_out,), or None
    stride, dilation : int or (int, int), >= 1
    padding : int, (int, int), ``'valid'`` or ``'same'``
        Zero padding on both sides of each dimension.  ``'same'`` keeps H and W (stride 1 only);
        an odd total goes to the bottom/right, as in PyTorch.
    groups : int
        Split channels into ``groups`` independent convolutions (``groups == C_in`` is depthwise).
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}
        What the padding holds, as ``torch.nn.Conv2d(padding_mode=...)``: the input is padded with
        the mode, then convolved without padding; the backward pass folds the padding's gradient
        back onto the input.  'reflect' needs padding < the input size, 'circular' <= it.

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out), dtype of ``x``
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``, likewise W.
    cache : ConvCache
        Everything :func:`conv2d_backward` needs.

    Examples
    --------
    >>> import numpy as np
    >>> from numcnn.functional import conv2d_forward
    >>> x = np.ones((1, 1, 4, 4)); w = np.ones((2, 1, 3, 3))
    >>> out, cache = conv2d_forward(x, w, padding=1)
    >>> out.shape
    (1, 2, 4, 4)
    >>> float(out[0, 0, 1, 1]), float(out[0, 0, 0, 0])
    (9.0, 4.0)
    """
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=2, padding_mode=padding_mode)


@unbatched_backward
def conv2d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
        Gradient of the loss with respect to the forward output.
    cache : ConvCache
        From :func:`conv2d_forward`.
    input_grad : bool
        False skips ``dx`` (returned as None), as PyTorch does for an input that does not require
        grad, e.g. the images going into a network's first layer.

    Returns
    -------
    dx : ndarray, shape of ``x``, or None when ``input_grad`` is False
    dw : ndarray, shape of ``weight``
    db : ndarray, shape (C_out,), or None when the forward had no bias
    """
    return _conv_backward(dout, cache, input_grad)


@accepts_unbatched(1)
def conv1d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """1-D convolution: x (N, C_in, L), weight (C_out, C_in / groups, kL); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=1, padding_mode=padding_mode)


@unbatched_backward
def conv1d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv1d_forward`: returns ``(dx, dw, db)``; see :func:`conv2d_backward`."""
    return _conv_backward(dout, cache, input_grad)


@accepts_unbatched(3)
def conv3d_forward(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros"):
    """3-D convolution: x (N, C_in, D, H, W), weight (C_out, C_in / groups, kD, kH, kW); see :func:`conv2d_forward`."""
    return _conv_forward(x, weight, bias, stride, padding, dilation, groups, nd=3, padding_mode=padding_mode)


@unbatched_backward
def conv3d_backward(dout, cache, *, input_grad=True):
    """Backward pass of :func:`conv3d_forward`: returns ``(dx, dw, db)``; see :func:`conv2d_backward`."""
    return _conv_backward(dout, cache, input_grad)
