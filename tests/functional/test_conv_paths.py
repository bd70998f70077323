"""Every fast path of conv against the loop twins of numcnn.reference (the spec); max-pool's
paths are in test_pool_paths.py, col2im's in test_col2im.py.

The fast code picks a path by shape (depthwise shifted slices or banded GEMMs, pointwise 1x1,
stride-1 dx as a correlation of dout, column matrices kept whole or rebuilt in batch chunks,
one GEMM per sample or per chunk).  Each test forces its paths with the planner's ``force_paths``, asserts from the plan in the
cache that they ran, and compares with the reference loop twin's sums (float64, exact up to
summation order), or, for float32, with a rigorous rounding bound.

float32 tolerance: an output (or gradient entry) is a sum of m products; computed in float32 in
any order its error is at most gamma_m * sum |products| with gamma_m = m u / (1 - m u),
u = 2**-24 (Higham, Accuracy and Stability of Numerical Algorithms, 3.1).  The tests check
|fast32 - direct64| <= 2 * gamma_m * (direct64 of |x| and |w|) + tiny, which cannot hide a
wrong index or a missing term (those are O(1) errors) yet never fails on rounding.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numcnn
from numcnn import reference
from numcnn.functional.conv import Geometry, conv_nd_input_grad, force_paths, plan_conv
from numcnn.functional.conv import gemm as gemm_module
from numcnn.functional import conv1d_backward, conv1d_forward, conv2d_backward, conv2d_forward, conv3d_backward, conv3d_forward

CONV = {1: (conv1d_forward, conv1d_backward), 2: (conv2d_forward, conv2d_backward), 3: (conv3d_forward, conv3d_backward)}


# --------------------------------------------------------------------------------------------
# the spec: numcnn.reference's loop twins

REFERENCE = {nd: (getattr(reference, f"conv{nd}d_forward"), getattr(reference, f"conv{nd}d_backward")) for nd in (1, 2, 3)}


def direct_conv(x, w, stride, pad, dilation, groups, dout=None):
    """The loop twin's out[n, o, p] = sum_{c, k} xp[n, g(o) * Cg + c, p * s + k * d] * w[o, c, k]
    (numcnn.reference, one product per term, so an inf meets exactly the terms of its sums);
    given dout, also dx and dw from its backward (else None)."""
    forward, backward = REFERENCE[x.ndim - 2]
    out, cache = forward(x, w, None, stride, pad, dilation, groups)
    if dout is None:
        return out, None, None
    dx, dw, _ = backward(dout, cache)
    return out, dx, dw


def conv_case(nd, n, c_in, c_out, kernel, stride, pad, dilation, groups, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in) + tuple(kernel_input_size(kernel, stride, dilation, seed, nd)))
    w = rng.standard_normal((c_out, c_in // groups) + tuple(kernel))
    return x.astype(dtype), w.astype(dtype)


def kernel_input_size(kernel, stride, dilation, seed, nd):
    rng = np.random.default_rng(seed + 1)
    return [int(d * (k - 1) + 1 + rng.integers(0, 2 * s + 4)) for k, s, d in zip(kernel, stride, dilation)]


def assert_matches_direct(got, want, err_msg=""):
    """``got`` has ``want``'s NaNs and infs in the same places, and its finite values."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=err_msg)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=err_msg)
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-12, err_msg=err_msg)


def check_conv(x, w, stride, pad, dilation, groups):
    """Forward and backward against the direct sums; returns the forward's plan."""
    nd = x.ndim - 2
    forward, backward = CONV[nd]
    s, p, d = (stride,) * nd, (pad,) * nd, (dilation,) * nd
    # with a bias: every path adds it where it writes its result (a copy, a GEMM's ones row)
    b = np.random.default_rng(1).standard_normal(w.shape[0]).astype(x.dtype)
    out, cache = forward(x, w, b, stride, pad, dilation, groups)
    dout = np.random.default_rng(0).standard_normal(out.shape).astype(x.dtype)
    dx, dw, db = backward(dout, cache)
    x64, w64, d64 = (a.astype(np.float64) for a in (x, w, dout))
    want_out, want_dx, want_dw = direct_conv(x64, w64, s, p, d, groups, d64)
    b64 = b.astype(np.float64).reshape((-1,) + (1,) * nd)
    want_out += b64
    reduce_axes = (0,) + tuple(range(2, 2 + nd))
    want_db = d64.sum(axis=reduce_axes)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == x.dtype
    if x.dtype == np.float64:
        np.testing.assert_allclose(db, want_db, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dw, want_dw, rtol=1e-12, atol=1e-12)
        return cache.plan
    # float32: the rounding bound of the module docstring, from the same sums over |values|
    kk = math.prod(w.shape[2:])
    abs_out, abs_dx, abs_dw = direct_conv(np.abs(x64), np.abs(w64), s, p, d, groups, np.abs(d64))
    u = 2.0**-24
    positions = x.shape[0] * math.prod(out.shape[2:])
    for got, want, bound, m in (
        # the bias is one more term of each output's sum (added after it, or in the GEMM)
        (out, want_out, abs_out + np.abs(b64), w.shape[1] * kk + 1),
        (dx, want_dx, abs_dx, w.shape[0] // groups * kk),
        (dw, want_dw, abs_dw, positions),
        (db, want_db, np.abs(d64).sum(axis=reduce_axes), positions),
    ):
        gamma = m * u / (1 - m * u)
        assert np.all(np.abs(got - want) <= 2 * gamma * bound + 1e-30)
    return cache.plan


@pytest.fixture
def force():
    """Plan this test's convolutions with these choices (the planner's force_paths), e.g.
    force(forward="gemm", samples=1); a later call adds to (and overrides) the earlier ones."""
    with contextlib.ExitStack() as stack:
        yield lambda **choices: stack.enter_context(force_paths(**choices))


def gemms(kind):
    """Every pass's GEMMs of one kind: 'per-sample' or 'chunk'."""
    return dict(forward_gemm=kind, weight_grad_gemm=kind, input_grad_gemm=kind)


# --------------------------------------------------------------------------------------------
# conv paths

GEMM = dict(forward="gemm", weight_grad="gemm")  # the im2col passes (dx by its rule: correlation, flat, col2im)
# off the banded GEMMs: im2col, or for depthwise layers the flat taps where they apply, else shifted slices
NO_BAND = dict(forward=("gemm", "depthwise-flat", "depthwise-shifted"),
               weight_grad=("gemm", "depthwise-flat", "depthwise-shifted"),
               input_grad=("correlation", "flat", "col2im", "depthwise-flat-correlation", "depthwise-shifted"))
BAND = dict(forward=("band2d", "depthwise-banded"), weight_grad="depthwise-banded",
            input_grad=("band2d", "depthwise-banded-correlation", "depthwise-banded"))

GEMM_MODES = {
    # columns kept whole or rebuilt per chunk (one sample per chunk: every chunk boundary), and
    # GEMMs per sample (small layers) or one per chunk (large layers)
    "kept-per-sample": dict(keep_bytes=1 << 40, **gemms("per-sample"), **GEMM),
    "kept-per-chunk": dict(keep_bytes=1 << 40, **{**gemms("chunk"), "weight_grad_gemm": "chunk-transposed"}, **GEMM),
    "chunked-per-sample": dict(keep_bytes=0, samples=1, **gemms("per-sample"), **GEMM),
    "chunked-per-chunk": dict(keep_bytes=0, samples=1, **{**gemms("chunk"), "weight_grad_gemm": "chunk-transposed"}, **GEMM),
    # the weight gradient's chunk GEMMs as dout @ cols.T (large weights) rather than transposed
    "chunked-per-chunk-dw-untransposed": dict(keep_bytes=0, samples=1, **gemms("chunk"), **GEMM),
    # one GEMM of kernel-row windows by a banded weight matrix (2-D, groups=1 only; others ignore it)
    "banded-2d": BAND,
}


def test_plan_prints_each_pass_and_force_paths_checks_its_choices():
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((3, 6, 9, 8)), rng.standard_normal((4, 6, 3, 3))
    with force_paths(forward="gemm", forward_gemm="chunk", samples=1):
        _, cache = conv2d_forward(x, w, padding=1)
    text = str(cache.plan)
    assert text.splitlines()[0] == "conv plan for x(3, 6, 9, 8) w(4, 6, 3, 3) stride (1, 1) pads ((1, 1), (1, 1)) float64"
    assert "\n  forward      gemm (chunk GEMMs)\n" in text
    assert "\n  chunking     im2col columns built once per part" in text  # (small: kept whole)
    assert "forced       " in text and "forward=('gemm',)" in text
    for bad in (dict(forward="nope"), dict(input_grad="pointwise-ish"), dict(forward_gemm="big"), dict(speed=1),
                dict(forward=())):
        with pytest.raises(ValueError, match="force_paths"):
            with force_paths(**bad):
                pass


@pytest.mark.parametrize("mode", sorted(GEMM_MODES))
@pytest.mark.parametrize(
    "nd, n, c_in, c_out, k, stride, pad, dilation, groups",
    [
        (2, 3, 4, 6, 3, 1, 1, 1, 1),  # stride 1, C_out > C_in: W.T @ dout + col2im
        (2, 3, 6, 4, 3, 1, 1, 1, 1),  # stride 1, C_out <= C_in: dx as correlation of dout
        (2, 3, 6, 4, 3, 1, 0, 2, 2),  # correlation path, dilated and grouped
        (2, 2, 5, 5, 2, 1, 3, 1, 1),  # padding larger than the kernel span
        (2, 3, 4, 6, 3, 2, 1, 1, 2),  # strided, grouped
        (2, 2, 3, 4, 5, 3, 2, 2, 1),  # strided and dilated
        (2, 4, 6, 8, 1, 1, 0, 1, 1),  # pointwise 1x1: per-sample GEMMs on the NCHW arrays
        (2, 3, 6, 4, 1, 1, 0, 2, 2),  # pointwise, grouped (dilation has no effect on a 1x1)
        (1, 3, 4, 6, 1, 1, 0, 1, 2),  # pointwise 1-D, grouped
        (3, 2, 4, 4, 1, 1, 0, 1, 1),  # pointwise 3-D
        (2, 4, 6, 6, 1, 2, 0, 1, 3),  # 1x1 with stride, grouped
        (2, 2, 4, 4, 1, 1, 1, 1, 1),  # 1x1 with padding
        (1, 3, 4, 4, 3, 1, 1, 1, 1),
        (1, 3, 4, 6, 4, 2, 2, 1, 2),
        (3, 2, 4, 3, 2, 1, 1, 1, 1),
        (3, 2, 2, 4, 3, 2, 1, 1, 2),
    ],
)
def test_gemm_paths_match_direct(force, mode, nd, n, c_in, c_out, k, stride, pad, dilation, groups):
    force(**GEMM_MODES[mode])
    x, w = conv_case(nd, n, c_in, c_out, (k,) * nd, (stride,) * nd, pad, (dilation,) * nd, groups, seed=k + 7 * c_in)
    plan = check_conv(x, w, stride, pad, dilation, groups)
    pointwise = k == 1 and stride == 1 and pad == 0
    if groups == c_in and not pointwise:  # depthwise: its own paths
        assert plan.forward.startswith("depthwise")
        return
    if mode == "banded-2d":
        assert plan.forward == ("band2d" if nd == 2 and groups == 1 and not pointwise else plan.forward)
        return
    assert plan.forward == plan.weight_grad == ("pointwise" if pointwise else "gemm")
    if not pointwise:
        modes = GEMM_MODES[mode]
        assert (plan.forward_gemm, plan.weight_grad_gemm) == (modes["forward_gemm"], modes["weight_grad_gemm"])
        assert plan.input_grad in ("correlation", "flat", "col2im")
        assert plan.input_grad_gemm == modes["input_grad_gemm"]
        assert plan.input_grad == ("col2im" if stride > 1 else "correlation" if c_out <= c_in else "flat")


@pytest.mark.parametrize(
    "x_shape, w_shape, options",
    [
        ((3, 6, 14, 14), (16, 6, 5, 5), {}),  # LeNet's second conv
        ((2, 1, 12, 12), (6, 1, 5, 5), {"padding": 2}),  # LeNet's first conv, padded
        ((2, 3, 9, 8), (4, 3, 4, 2), {"padding": "same", "dilation": (1, 2)}),  # asymmetric 'same' pads
        ((2, 3, 11, 10), (5, 3, 3, 3), {"stride": (2, 3), "padding": (1, 0), "dilation": 2}),
        ((2, 2, 6, 7), (3, 2, 3, 3), {"padding": 1, "padding_mode": "circular"}),
    ],
)
def test_banded_2d_path_matches_direct(force, x_shape, w_shape, options):
    force(**BAND)
    rng = np.random.default_rng(sum(x_shape))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, cache = conv2d_forward(x, w, **options)
    assert (cache.plan.forward, cache.plan.weight_grad, cache.plan.input_grad) == ("band2d",) * 3
    force(**GEMM)
    want, want_cache = conv2d_forward(x, w, **options)
    assert want_cache.plan.forward == "gemm"
    dout = rng.standard_normal(out.shape)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    dx, dw, _ = conv2d_backward(dout, cache)
    want_dx, want_dw, _ = conv2d_backward(dout, want_cache)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("flat", [True, False], ids=["flat", "strided-col2im"])
@pytest.mark.parametrize("mode", ["whole", "chunked", "uneven-chunks"])
@pytest.mark.parametrize(
    "nd, n, c_in, c_out, k, pad, dilation, groups",
    [
        (2, 3, 4, 6, 3, 1, 1, 1),
        (2, 3, 2, 6, 5, 0, 1, 1),  # LeNet's second conv in miniature: no padding, 5x5
        (2, 3, 4, 8, 3, 2, 2, 2),  # dilated, grouped, padding past the kernel span
        (2, 3, 2, 4, 2, 1, 1, 1),  # even kernel
        (1, 3, 2, 6, 4, 2, 1, 2),
        (3, 3, 2, 4, 3, 1, 1, 1),
        (3, 3, 2, 4, 2, 0, 2, 2),
    ],
)
def test_stride1_input_grad_paths_match_direct(force, flat, mode, nd, n, c_in, c_out, k, pad, dilation, groups):
    """Stride 1 with C_out > C_in: dx by flat shifts over the wide dout, or by the strided col2im."""
    force(input_grad="flat" if flat else "col2im", keep_bytes=0, **GEMM)
    if mode == "chunked":
        force(samples=1)
    elif mode == "uneven-chunks":
        force(samples=2)  # 3 samples: chunks of 2 and 1
    x, w = conv_case(nd, n, c_in, c_out, (k,) * nd, (1,) * nd, pad, (dilation,) * nd, groups, seed=k + 5 * c_in)
    plan = check_conv(x, w, 1, pad, dilation, groups)
    if groups != c_in:  # (one input channel per group: the depthwise paths)
        assert plan.input_grad == ("flat" if flat else "col2im")


def test_flat_input_grad_keeps_nonfinite_weights_local():
    """A NaN weight reaches only the inputs it multiplies (the wide dout's padding columns must not
    carry NaN * 0 into dx): same dx as the strided col2im path."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 7, 7))
    w = rng.standard_normal((4, 2, 3, 3))
    w[1, 0, 0, 2] = np.nan
    w[2, 1, 2, 0] = np.inf
    with np.errstate(invalid="ignore"):
        out, cache = conv2d_forward(x, w, padding=1)
        dx, _, _ = conv2d_backward(np.ones_like(out), cache)
        _, want_dx, _ = direct_conv(x, w, (1, 1), (1, 1), (1, 1), 1, np.ones_like(out))
    assert_matches_direct(dx, want_dx)


# every stacked pass wherever it can run (small layers, single-slice residue classes), not only
# where the rule expects it to be faster
STACKED = dict(forward="stacked", weight_grad="stacked", input_grad="stacked")


def stacked_ran(plan):
    """The forward, and both gradients in one pass, by the stacked GEMMs."""
    return (plan.forward, plan.weight_grad, plan.input_grad, plan.one_pass) == ("stacked",) * 3 + (True,)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("blocks", ["whole", "two-samples", "one-slice", "two-slices"])
@pytest.mark.parametrize(
    "x_shape, w_shape, options",
    [
        ((3, 4, 5, 6, 7), (6, 4, 3, 3, 3), dict(padding=1)),
        ((3, 3, 6, 5, 6), (5, 3, 3, 2, 3), dict(padding=(2, 0, 1), dilation=(2, 1, 1))),  # dilated first axis
        ((3, 2, 6, 7, 6), (4, 2, 2, 3, 2), dict(stride=(1, 2, 2), padding=1)),  # strided other axes
        ((3, 5, 8, 9), (7, 5, 3, 3), dict(padding=1)),
        ((3, 5, 8, 9), (7, 5, 4, 2), dict(padding="same", dilation=(1, 2))),  # asymmetric 'same' pads
        ((3, 6, 9, 8), (4, 6, 3, 3), dict(padding=3)),  # padding larger than the kernel span
        ((3, 4, 11), (6, 4, 5), dict(padding=2)),  # 1-D: no other kernel axes
        ((3, 3, 9, 8), (5, 3, 3, 3), dict(stride=2, padding=1)),  # residue classes {0, 2} and {1}
        ((3, 3, 11, 8), (5, 3, 4, 3), dict(stride=(2, 1), padding=(1, 0))),  # classes {0, 2}, {1, 3}
        ((3, 3, 13, 7), (5, 3, 3, 2), dict(stride=(2, 2), dilation=(2, 1), padding=2)),  # {0, 1, 2}; odd never read
        ((3, 3, 13, 7), (5, 3, 4, 2), dict(stride=(3, 1))),  # classes {0, 3}, {1}, {2}
        ((3, 2, 10, 6, 5), (4, 2, 5, 2, 2), dict(stride=(2, 1, 2))),
        ((2, 3, 4, 7, 6), (5, 3, 2, 3, 3), dict(padding="same", dilation=(1, 2, 2))),  # flat planes, dilated
        ((3, 3, 11, 8), (5, 3, 4, 3), dict(stride=(2, 1), padding=(1, 1))),  # flat rows, classes {0, 2}, {1, 3}
    ],
)
def test_stacked_paths_match_direct(force, dtype, blocks, x_shape, w_shape, options):
    """The stacked forward, its weight gradient, and its adjoint for dx (C_out > C_in) or inside
    the correlation (C_out <= C_in): every input slice through one GEMM, then shifted adds; in
    blocks of whole samples (3 = 2 + 1), single slices or two slices (an odd count: uneven)."""
    force(**STACKED)
    block = {"two-samples": ("samples", 2), "one-slice": ("slices", 1), "two-slices": ("slices", 2)}.get(blocks)
    if block is not None:
        force(block=block)
    nd = len(x_shape) - 2
    rng = np.random.default_rng(sum(x_shape) + sum(w_shape))
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    forward, backward = CONV[nd]
    out, cache = forward(x, w, **options)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, _ = backward(dout, cache)
    assert stacked_ran(cache.plan)  # dx in one pass with dw, even where C_out <= C_in
    assert cache.plan.chunking.block == block
    if w_shape[0] <= x_shape[1] and options.get("stride", 1) == 1:
        # dx alone (as in a transposed convolution's forward): the correlation of dout, itself
        # run by the stacked forward
        geom = cache.geometry
        with force_paths(input_grad="correlation-stacked"):
            assert plan_conv(geom, dtype, one_pass=False).input_grad == "correlation-stacked"
            alone = conv_nd_input_grad(dout, w, x.shape, geom.stride, geom.pads, geom.dilation, 1)
        np.testing.assert_array_equal(alone.shape, dx.shape)
    force(forward="gemm", weight_grad="gemm", input_grad=("correlation", "flat", "col2im"))
    want_out, want_cache = forward(x.astype(np.float64), w.astype(np.float64), **options)
    assert "stacked" not in (want_cache.plan.forward, want_cache.plan.weight_grad, want_cache.plan.input_grad)
    want_dx, want_dw, _ = backward(dout.astype(np.float64), want_cache)
    assert out.dtype == dx.dtype == dw.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 2e-5  # float32: a few ulps of sums of ~100 terms
    results = [(out, want_out), (dx, want_dx), (dw, want_dw)]
    if w_shape[0] <= x_shape[1] and options.get("stride", 1) == 1:
        results.append((alone, want_dx))
    for got, want in results:
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize(
    "c_in, c_out, kernel, stride, dilation, forward, weight_grad, input_grad",
    [
        (16, 32, (3, 3, 3), (1, 1, 1), (1, 1, 1), True, True, True),  # the bench's conv3d
        (64, 64, (3, 3), (1, 1), (1, 1), True, True, True),
        (64, 64, (5,), (1,), (1,), True, True, True),  # conv1d: inner size 64
        (48, 48, (5,), (1,), (1,), False, False, False),  # inner size 48
        (128, 128, (3, 3), (1, 1), (1, 1), True, True, True),  # 128 rows: inner 384 >= 3 x 128
        (64, 128, (3, 3), (1, 1), (1, 1), False, False, False),  # inner 192 < 3 x 128
        (256, 256, (3, 3), (1, 1), (1, 1), False, False, False),  # plain GEMM already efficient
        (3, 32, (5, 5), (1, 1), (1, 1), False, False, False),  # inner size 15
        (32, 64, (3, 3), (2, 2), (1, 1), False, False, False),  # classes {0, 2}, {1}
        (32, 64, (4, 4), (2, 2), (1, 1), False, False, True),  # classes {0, 2}, {1, 3}: dx only
        (16, 16, (1, 3, 3), (1, 1, 1), (1, 1, 1), False, False, False),  # nothing to stack
        (16, 32, (3, 3, 3), (1, 1, 1), (1, 1, 1), True, True, True),
    ],
)
def test_stacked_rule(c_in, c_out, kernel, stride, dilation, forward, weight_grad, input_grad):
    """Where the default rule takes the stacked passes (measured faster there; notes/perf.md)."""
    size = {1: 64, 2: 32, 3: 16}[len(kernel)]  # wide enough for the banded 2-D GEMM not to pay
    pads = tuple((k // 2, k // 2) for k in kernel)
    for groups in (1, 2):
        geom = Geometry((2, c_in) + (size,) * len(kernel), (c_out, c_in // groups) + kernel, stride, pads, dilation, groups)
        plan = plan_conv(geom, np.float32)
        assert (plan.forward == "stacked") == (forward and groups == 1)
        assert (plan.weight_grad == "stacked") == (weight_grad and groups == 1)
        assert (plan.input_grad == "stacked") == (input_grad and groups == 1)
        assert plan.one_pass == (weight_grad and input_grad and groups == 1)


def test_stacked_paths_match_direct_sums():
    """The bench's conv3d layer in miniature (16 input and 32 output channels) takes every stacked
    pass by the default rule, and they agree with the definition."""
    x, w = conv_case(3, 2, 16, 32, (3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1, seed=4)
    assert stacked_ran(check_conv(x[:, :, :5, :6, :4], w, 1, 1, 1, 1))


@pytest.mark.parametrize("bias", [True, False])
def test_stacked_backward_in_parts_matches_the_plain_passes(force, monkeypatch, bias):
    """dw, db and dx from one stacked pass per batch part (dY built once for both GEMMs), with
    the forward's parts on two threads, against the unstacked passes on one."""
    x, w = conv_case(3, 5, 16, 32, (3, 3, 3), (1, 1, 1), 1, (1, 1, 1), 1, seed=5)
    x = x[:, :, :5, :6, :4]
    b = np.random.default_rng(2).standard_normal(32) if bias else None
    dout = np.random.default_rng(3).standard_normal((5, 32, 5, 6, 4))
    force(split=True)
    monkeypatch.setattr("numcnn._threads._num_threads", 2)
    out, cache = conv3d_forward(x, w, b, padding=1)
    got = conv3d_backward(dout, cache)
    assert stacked_ran(cache.plan)
    assert len(cache.plan.parts) == (2 if numcnn._threads._blas_controller() else 1)
    force(split=False, **GEMM)
    want_out, want_cache = conv3d_forward(x, w, b, padding=1)
    assert want_cache.plan.forward == "gemm" and len(want_cache.plan.parts) == 1
    want = conv3d_backward(dout, want_cache)
    for g, wnt in zip(got, want):
        if bias or wnt is not None:
            np.testing.assert_allclose(g, wnt, rtol=1e-12, atol=1e-12)
        else:
            assert g is None


def test_flat_depthwise_weight_grad_keeps_nonfinite_inputs_local():
    """An inf input must not meet the wide dout's zero columns (0 * inf = NaN in every tap)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 3, 6, 7))
    x[1, 2, 3, 0] = np.inf  # column 0: the zero columns of the row above read it
    w = rng.standard_normal((3, 1, 3, 3))
    with np.errstate(invalid="ignore"):
        out, cache = conv2d_forward(x, w, padding=1, groups=3)
        dout = np.ones_like(out)
        dx, dw, _ = conv2d_backward(dout, cache)
        want_out, want_dx, want_dw = direct_conv(x, w, (1, 1), (1, 1), (1, 1), 3, dout)
    for got, want in ((out, want_out), (dx, want_dx), (dw, want_dw)):
        assert_matches_direct(got, want)


@pytest.mark.parametrize("w_shape", [(5, 3, 3, 3, 3), (9, 3, 3, 1, 2)])  # dw's GEMM either way round
@pytest.mark.parametrize("where", ["x", "w", "dout"])
def test_stacked_paths_keep_nonfinite_values_local(force, where, w_shape):
    """dY's zeros must not turn an inf in x (weight gradient) or in w (input gradient) into NaN
    elsewhere: such operands take the other paths.  The stacked passes skip the slices of
    padding along the first axis, whose zeros meet an inf in w (forward) or in an edge slice of
    dout (weight gradient) in the direct sums: NaN there all the same."""
    force(**STACKED)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 5, 6, 5))
    w = rng.standard_normal(w_shape)
    pad = tuple(k // 2 for k in w_shape[2:])
    dout = np.ones((2, w_shape[0], 5, 6, 5 + 2 * pad[2] - w_shape[4] + 1))
    if where == "x":
        x[0, 1, 0, 2, 3] = np.inf
    elif where == "w":
        w[1, 0, 0, 0, 1] = np.inf  # kernel slice 0: reads the padding before output slice 0
    else:
        dout[1, 2, 4, 2, 3] = np.inf  # output slice 4: kernel slice 2 reads the padding after it
    with np.errstate(invalid="ignore"):
        out, cache = conv3d_forward(x, w, padding=pad)
        dx, dw, _ = conv3d_backward(dout, cache)
        want = direct_conv(x, w, (1,) * 3, pad, (1,) * 3, 1, dout)
    for got, expected in zip((out, dx, dw), want):
        assert_matches_direct(got, expected)


NONFINITE_PATHS = {
    # name: (forced paths, x shape, weight shape, groups)
    "im2col": (GEMM, (2, 4, 7, 7), (6, 4, 3, 3), 1),
    "im2col-correlation-dx": (GEMM, (2, 6, 7, 7), (4, 6, 3, 3), 1),
    "band2d": (BAND, (2, 4, 7, 7), (6, 4, 3, 3), 1),
    "stacked": (STACKED, (2, 4, 7, 7), (6, 4, 3, 3), 1),
    "stacked-correlation-dx": (dict(STACKED, input_grad="correlation-stacked"), (2, 6, 7, 7), (4, 6, 3, 3), 1),
    "depthwise-banded": (dict(forward="depthwise-banded", weight_grad="depthwise-banded",
                              input_grad="depthwise-banded-correlation"), (2, 3, 7, 7), (3, 1, 3, 3), 3),
    "depthwise-flat": (dict(forward="depthwise-flat", weight_grad="depthwise-flat",
                            input_grad="depthwise-flat-correlation"), (2, 3, 7, 7), (3, 1, 3, 3), 3),
    "depthwise-shifted": (dict(forward="depthwise-shifted", weight_grad="depthwise-shifted",
                               input_grad="depthwise-shifted"), (2, 3, 7, 7), (3, 1, 3, 3), 3),
}


@pytest.mark.parametrize("split", [False, True])
@pytest.mark.parametrize("where", ["x", "w", "dout"])
@pytest.mark.parametrize("path", sorted(NONFINITE_PATHS))
def test_an_inf_reaches_only_the_outputs_whose_sums_it_is_in(force, monkeypatch, path, where, split):
    """Paths that multiply structural zeros (a band matrix's, padding rows', a wide layout's
    extra columns) by every entry of an operand must not turn an inf there into NaN elsewhere:
    the NaN and inf pattern of every result is the direct sums' (independent of their order)."""
    choices, x_shape, w_shape, groups = NONFINITE_PATHS[path]
    force(**choices)
    if split:
        monkeypatch.setattr(numcnn._threads, "_num_threads", 2)
        force(split=True)
    rng = np.random.default_rng(len(path))
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    dout = rng.standard_normal((x_shape[0], w_shape[0]) + x_shape[2:])  # padding 1: same size
    target = {"x": x, "w": w, "dout": dout}[where]
    # in x and dout an inner entry; in w a corner tap, which reads padding at the edges
    target[(1, 1, 1, 1) if where != "w" else (1, 0, 0, 0)] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        out, cache = conv2d_forward(x, w, padding=1, groups=groups)
        dx, dw, _ = conv2d_backward(dout, cache)
        want = direct_conv(x, w, (1, 1), (1, 1), (1, 1), groups, dout)
    for name, got, expected in zip(("out", "dx", "dw"), (out, dx, dw), want):
        assert_matches_direct(got, expected, err_msg=name)
    # the forced forward ran unless an inf in an operand it needs finite kept it off
    forced = choices["forward"] if isinstance(choices["forward"], str) else choices["forward"][0]
    needs_finite = {"band2d": ("x", "w"), "stacked": ("w",), "depthwise-banded": ("x", "w")}.get(forced, ())
    assert (cache.plan.forward == forced) == (where not in needs_finite)


@pytest.mark.parametrize("path", ["flat", "flat-per-sample", "banded", "banded-correlation", "shifted"])
@pytest.mark.parametrize(
    "nd, c, mult, k, stride, pad, dilation",
    [
        (2, 4, 1, 3, 1, 1, 1),  # stride 1, multiplier 1: the flat path where it is on
        (2, 3, 1, 3, 1, 0, 2),  # flat, dilated, unpadded
        (2, 3, 1, 2, 1, 3, 1),  # padding past the kernel span (dx leaves the flat path)
        (2, 3, 2, 3, 1, 1, 1),  # channel multiplier 2
        (2, 4, 1, 3, 2, 1, 1),
        (2, 2, 1, 5, 1, 2, 2),
        (2, 3, 3, 2, 2, 0, 1),
        (1, 4, 1, 3, 1, 1, 1),  # 1-D and 3-D always take the shifted-slice path
        (3, 2, 2, 3, 1, 1, 1),
    ],
)
def test_depthwise_paths_match_direct(force, path, nd, c, mult, k, stride, pad, dilation):
    """Each depthwise path where it applies; elsewhere (1-D, 3-D, strides, multipliers) the
    forced choice falls back to the next of its list, down to the shifted slices."""
    kind = path.split("-")[0]
    dx = {"flat": "depthwise-flat-correlation", "banded": "depthwise-banded",
          "banded-correlation": "depthwise-banded-correlation"}.get(path.replace("-per-sample", ""), "depthwise-shifted")
    paths = (f"depthwise-{kind}", "depthwise-shifted")
    force(forward=paths, weight_grad=paths, input_grad=(dx, "depthwise-shifted"))
    if path == "flat-per-sample":
        force(flat_depthwise_bytes=1)
    x, w = conv_case(nd, 3, c, c * mult, (k,) * nd, (stride,) * nd, pad, (dilation,) * nd, c, seed=c + k)
    plan = check_conv(x, w, stride, pad, dilation, groups=c)
    flat_applies = nd == 2 and mult == 1 and stride == 1
    applies = {"flat": flat_applies, "banded": nd == 2, "shifted": True}[kind]
    assert plan.forward == (f"depthwise-{kind}" if applies else "depthwise-shifted")
    uncropped = pad <= dilation * (k - 1)
    dx_applies = {"depthwise-flat-correlation": flat_applies and uncropped, "depthwise-banded": nd == 2,
                  "depthwise-banded-correlation": flat_applies, "depthwise-shifted": True}[dx]
    assert plan.input_grad == (dx if dx_applies else "depthwise-shifted")


@settings(max_examples=60, deadline=None)
@given(
    h=st.integers(1, 9),
    kh=st.integers(1, 4),
    stride=st.integers(1, 3),
    dil=st.integers(1, 2),
    top=st.integers(-2, 3),
    bottom=st.integers(0, 3),
    ones=st.booleans(),
    contiguous=st.booleans(),
)
def test_banded_row_windows_match_padded_input(h, kh, stride, dil, top, bottom, ones, contiguous):
    """The banded path's rows (kH input rows per output row, zeros on padding, copied from the
    unpadded input in contiguous runs where it can) against windows of an explicitly padded x."""
    span = dil * (kh - 1) + 1
    out_h = (h + top + bottom - span) // stride + 1
    if out_h < 1 or top + h < 1:
        return
    rng = np.random.default_rng(h * 7 + kh)
    base = rng.standard_normal((3, 2, h, 5 if contiguous else 10))
    x = base if contiguous else base[:, :, :, ::2]
    padded = np.pad(x, ((0, 0), (0, 0), (max(top, 0), bottom + span), (0, 0)))[:, :, max(-top, 0):]
    want = np.stack([padded[:, :, o * stride + i * dil] for o in range(out_h) for i in range(kh)], axis=2)
    want = want.reshape(3, 2, out_h, kh * x.shape[3]).transpose(1, 0, 2, 3)  # (C, N, Ho, kH * W)
    from numcnn.functional.conv.depthwise_banded import _row_windows

    got = _row_windows(x, top, kh, stride, dil, out_h, ones=ones).reshape(2, 3, out_h, -1)
    np.testing.assert_array_equal(got[..., : kh * x.shape[3]], want)
    if ones:
        assert np.all(got[..., -1] == 1)


@pytest.mark.parametrize("kernel, dilation", [((4, 4), 1), ((2, 3), 1), ((4, 2), 2)])
def test_banded_depthwise_with_uneven_same_padding_matches_shifted(force, kernel, dilation):
    # 'same' with an even span pads one more after than before: the banded path's row copy and
    # band take (before, after) pads, and dx reads dout cropped on one side, padded on the other
    rng = np.random.default_rng(sum(kernel))
    x = rng.standard_normal((2, 3, 9, 8))
    w = rng.standard_normal((3, 1) + kernel)
    b = rng.standard_normal(3)
    dout = rng.standard_normal(x.shape)
    results = {}
    for path, dx in (("banded", "depthwise-banded-correlation"), ("shifted", "depthwise-shifted")):
        with force_paths(forward=f"depthwise-{path}", weight_grad=f"depthwise-{path}", input_grad=dx):
            out, cache = conv2d_forward(x, w, b, padding="same", dilation=dilation, groups=3)
        assert (cache.plan.forward, cache.plan.input_grad) == (f"depthwise-{path}", dx)
        results[path] = (out,) + conv2d_backward(dout, cache)
    for got, want in zip(results["banded"], results["shifted"]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 3),
    groups=st.integers(1, 3),
    cg_in=st.integers(1, 3),
    cg_out=st.integers(1, 3),
    k=st.integers(1, 4),
    stride=st.integers(1, 3),
    pad=st.integers(0, 2),
    dilation=st.integers(1, 2),
    chunked=st.booleans(),
    banded=st.booleans(),
    per_sample=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_conv2d_random_configs_float64(n, groups, cg_in, cg_out, k, stride, pad, dilation, chunked, banded,
                                       per_sample, seed):
    chunking = dict(keep_bytes=0, samples=1) if chunked else dict(keep_bytes=1 << 40, chunk_bytes=1 << 40)
    with force_paths(**(BAND if banded else NO_BAND), **chunking, **gemms("per-sample" if per_sample else "chunk")):
        x, w = conv_case(2, n, groups * cg_in, groups * cg_out, (k, k), (stride,) * 2, pad, (dilation,) * 2, groups, seed)
        plan = check_conv(x, w, stride, pad, dilation, groups)
    if plan.forward == "gemm":
        assert plan.forward_gemm == ("per-sample" if per_sample else "chunk")
    pointwise = k == 1 and stride == 1 and pad == 0
    assert ("band" in plan.forward) == (banded and not pointwise and (groups == 1 or cg_in == 1))


@pytest.mark.parametrize("per_sample", [True, False], ids=["per-sample", "per-chunk"])
@pytest.mark.parametrize(
    "c_in, c_out, k, stride, pad, groups, banded",
    [
        (8, 8, 3, 1, 1, 1, False),  # correlation dx
        (3, 16, 5, 1, 2, 1, False),  # col2im dx
        (4, 8, 3, 2, 1, 1, False),
        (16, 32, 1, 1, 0, 1, False),  # pointwise
        (8, 8, 3, 1, 1, 8, True),  # depthwise, banded
        (8, 8, 3, 1, 1, 8, False),  # depthwise, shifted slices
        (3, 16, 5, 1, 2, 1, True),  # banded 2-D GEMM
        (4, 8, 3, 2, 1, 1, True),  # banded 2-D GEMM, strided
    ],
)
def test_float32_paths_within_rounding_bound(force, c_in, c_out, k, stride, pad, groups, banded, per_sample):
    force(chunk_bytes=4096, keep_bytes=0, **gemms("per-sample" if per_sample else "chunk"), **(BAND if banded else NO_BAND))
    rng = np.random.default_rng(c_in + c_out)
    x = rng.standard_normal((3, c_in, 11, 10)).astype(np.float32)  # 3 samples: several chunks of 4096 bytes
    w = rng.standard_normal((c_out, c_in // groups, k, k)).astype(np.float32)
    plan = check_conv(x, w, stride, pad, 1, groups)
    assert ("band" in plan.forward) == banded


def test_fast_conv_matches_cs231n_reference():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3, 9, 9))
    w = rng.standard_normal((5, 3, 3, 3))
    b = rng.standard_normal(5)
    for stride, pad in [(1, 1), (2, 1), (2, 0), (3, 2)]:
        want, cache = reference.conv_forward_naive(x, w, b, {"stride": stride, "pad": pad})
        got, fast_cache = conv2d_forward(x, w, b, stride, pad)
        dout = rng.standard_normal(got.shape)
        for a, b_ in zip(conv2d_backward(dout, fast_cache), reference.conv_backward_naive(dout, cache)):
            np.testing.assert_allclose(a, b_, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_conv_does_not_modify_inputs_or_keep_stale_columns(force):
    force(keep_bytes=1 << 40)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    x0, w0 = x.copy(), w.copy()
    out, cache = conv2d_forward(x, w, padding=1)
    dout = rng.standard_normal(out.shape)
    first = conv2d_backward(dout, cache)
    second = conv2d_backward(dout, cache)  # the kept columns are read-only: same answer twice
    for a, b in zip(first[:2], second[:2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


@pytest.mark.parametrize("chunks", ["whole", "per-sample"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "nd, n, c_in, c_out, k, stride, pad, output_padding, groups, bias",
    [
        (2, 3, 4, 3, 4, 2, 1, 0, 1, True),  # the bench's DCGAN-style layer, scaled down
        (2, 4, 4, 6, 3, 2, 1, 1, 2, True),  # output_padding within the padding, grouped
        (2, 2, 3, 2, 3, 2, 0, 1, 1, True),  # output_padding past the padding: cropped dout
        (1, 3, 4, 5, 5, 3, 2, 0, 1, False),
        (3, 2, 2, 3, 2, 2, 0, 0, 1, True),
    ],
)
def test_transposed_backward_in_one_pass_matches_direct(force, monkeypatch, chunks, threads, nd, n, c_in, c_out, k,
                                                         stride, pad, output_padding, groups, bias):
    """The transposed convolution's backward builds dout's columns once for dx and dw
    (conv_nd_and_weight_grad): dx = conv(dout, w), dw = the weight gradient of that convolution
    for output gradient x, db = sum of dout, all as the direct sums (float64)."""
    from numcnn.functional import conv_transpose as transpose_module

    force(split=True, input_grad=("correlation", "flat", "col2im"), **GEMM, **gemms("chunk"),
          **({"samples": 1} if chunks == "per-sample" else {}))
    monkeypatch.setattr("numcnn._threads._num_threads", threads)
    calls = []  # the batch parts the one-pass backward ran (a spy: it returns what it computes)
    one_pass = gemm_module.conv_and_weight_grad
    monkeypatch.setattr(gemm_module, "conv_and_weight_grad", lambda *a: calls.append(a[0].shape[0]) or one_pass(*a))
    forward, backward = transpose_module._conv_transpose_forward, transpose_module._conv_transpose_backward
    rng = np.random.default_rng(nd * 100 + k)
    x = rng.standard_normal((n, c_in) + (4,) * nd)
    w = rng.standard_normal((c_in, c_out // groups) + (k,) * nd)
    b = rng.standard_normal(c_out) if bias else None
    out, cache = forward(x, w, b, stride, pad, output_padding, groups, 1, nd)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = backward(dout, cache)
    assert sum(calls) == n and len(calls) == (2 if threads == 2 and numcnn._threads._blas_controller() else 1)
    # the spec: the transposed convolution's loop twin (dx is conv(dout, w), dw the same sums
    # with x as the output gradient)
    ref_forward = getattr(reference, f"conv_transpose{nd}d_forward")
    ref_backward = getattr(reference, f"conv_transpose{nd}d_backward")
    want_out, ref_cache = ref_forward(x, w, b, stride, pad, output_padding, groups)
    want_dx, want_dw, _ = ref_backward(dout, ref_cache)
    np.testing.assert_allclose(out, want_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dw, want_dw, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(db, dout.sum(axis=(0,) + tuple(range(2, 2 + nd))), rtol=1e-12, atol=1e-12)
    else:
        assert db is None
