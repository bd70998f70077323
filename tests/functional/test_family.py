"""The conv/pool family without PyTorch: numeric gradient checks (float64, tiny shapes) of every op
and mode, dtype preservation, PyTorch's divisor/window/index rules on hand-worked cases, and the
error messages for bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from numcnn.functional.padding import pad_mode, pad_mode_adjoint
from tests.gradcheck import check_positional_op_gradients

TOL = 1e-8


def _distinct(rng, shape):
    """Values far enough apart that max-pool winners don't flip under a 1e-6 nudge."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n + 0.01 * rng.standard_normal(shape) / n).astype(np.float64)


def check_op_grads(forward, backward, arrays, names, **kwargs):
    """Numeric vs analytic gradients of every array argument of ``forward`` (by position; the
    backward returns their gradients first, in ``names``' order), scale-relative error below TOL:
    entry-wise relative error blows up on entries that are ~0."""
    check_positional_op_gradients(forward, backward, dict(zip(names, arrays)), kwargs, seed=7, h=1e-5, max_scaled_error=TOL)


# --- conv with padding_mode -------------------------------------------------------------------

CONV = {1: (F.conv1d_forward, F.conv1d_backward), 2: (F.conv2d_forward, F.conv2d_backward),
        3: (F.conv3d_forward, F.conv3d_backward)}


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "nd,spatial,kernel,padding,stride,dilation,groups",
    [
        (1, (6,), (3,), 2, 1, 1, 1),
        (2, (4, 5), (3, 2), (1, 2), (2, 1), 1, 2),
        (2, (5, 5), (3, 3), "same", 1, (2, 1), 1),
        (2, (4, 4), (2, 2), "same", 1, 1, 2),
        (3, (3, 4, 3), (2, 3, 2), 1, 1, 1, 1),
    ],
)
def test_conv_padding_mode_gradients(mode, nd, spatial, kernel, padding, stride, dilation, groups):
    rng = np.random.default_rng(0)
    c_in, c_out = 2 * groups, 2 * groups
    x = rng.standard_normal((2, c_in) + spatial)
    w = rng.standard_normal((c_out, c_in // groups) + kernel)
    b = rng.standard_normal(c_out)
    fwd, bwd = CONV[nd]
    check_op_grads(fwd, bwd, (x, w, b), ("dx", "dw", "db"), stride=stride, padding=padding,
                   dilation=dilation, groups=groups, padding_mode=mode)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_pad_mode_adjoint_is_the_transpose(mode):
    """<pad(x), g> == <x, pad_adjoint(g)> for random x, g: the fold-back is exactly the adjoint."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    pads = ((2, 3), (4, 1))
    xp = pad_mode(x, pads, mode)
    g = rng.standard_normal(xp.shape)
    assert np.isclose(np.sum(xp * g), np.sum(x * pad_mode_adjoint(g, pads, mode)))


def test_reflect_adds_mirrored_gradient_rows():
    x = np.arange(4.0).reshape(1, 1, 4)
    assert pad_mode(x, ((2, 1),), "reflect").ravel().tolist() == [2, 1, 0, 1, 2, 3, 2]
    g = pad_mode_adjoint(np.ones((1, 1, 7)), ((2, 1),), "reflect")
    assert g.ravel().tolist() == [1, 2, 3, 1]
    assert pad_mode(x, ((2, 1),), "circular").ravel().tolist() == [2, 3, 0, 1, 2, 3, 0]
    assert pad_mode(x, ((2, 1),), "replicate").ravel().tolist() == [0, 0, 0, 1, 2, 3, 3]


# --- transposed conv ----------------------------------------------------------------------------

CONVT = {1: (F.conv_transpose1d_forward, F.conv_transpose1d_backward),
         2: (F.conv_transpose2d_forward, F.conv_transpose2d_backward),
         3: (F.conv_transpose3d_forward, F.conv_transpose3d_backward)}


@pytest.mark.parametrize(
    "nd,spatial,kernel,stride,padding,output_padding,groups,dilation,bias",
    [
        (1, (4,), (3,), 2, 1, 1, 1, 1, True),
        (1, (3,), (2,), 1, 2, 1, 1, 2, False),  # output_padding < dilation, > padding: cropped rows
        (2, (3, 2), (3, 2), (2, 3), (1, 0), (1, 2), 2, 1, True),
        (2, (2, 3), (2, 3), 1, 0, 0, 1, (2, 1), True),
        (3, (2, 2, 3), (2, 2, 2), 2, (0, 1, 0), (1, 0, 1), 1, 1, True),
    ],
)
def test_conv_transpose_gradients(nd, spatial, kernel, stride, padding, output_padding, groups, dilation, bias):
    rng = np.random.default_rng(2)
    c_in, c_out = 2 * groups, 3 * groups
    x = rng.standard_normal((2, c_in) + spatial)
    w = rng.standard_normal((c_in, c_out // groups) + kernel)
    arrays = (x, w, rng.standard_normal(c_out)) if bias else (x, w)
    fwd, bwd = CONVT[nd]
    check_op_grads(fwd, bwd, arrays, ("dx", "dw", "db")[: len(arrays)], stride=stride, padding=padding,
                   output_padding=output_padding, groups=groups, dilation=dilation)


def test_conv_transpose_is_the_conv_input_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, stride=2, padding=1, groups=2)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = F.conv2d_backward(dout, cache)
    # 7 -> 4 -> 7 needs output_padding 0 along H; 6 -> 3 -> 5 needs 1 along W.
    y, _ = F.conv_transpose2d_forward(dout, w, stride=2, padding=1, output_padding=(0, 1), groups=2)
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)


# --- average pooling ---------------------------------------------------------------------------

AVG = {1: (F.avg_pool1d_forward, F.avg_pool1d_backward), 2: (F.avg_pool2d_forward, F.avg_pool2d_backward),
       3: (F.avg_pool3d_forward, F.avg_pool3d_backward)}


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize(
    "nd,spatial,kernel,stride,padding,ceil_mode,divisor_override",
    [
        (1, (7,), 3, 2, 1, True, None),
        (2, (5, 6), (3, 2), (2, 1), (1, 1), True, None),
        (2, (5, 5), 3, 3, 1, False, None),
        (2, (4, 5), 2, 1, 0, False, 3),
        (3, (3, 4, 5), (2, 3, 2), 2, (1, 1, 0), True, None),
    ],
)
def test_avg_pool_gradients(nd, spatial, kernel, stride, padding, ceil_mode, divisor_override, count_include_pad):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3) + spatial)
    fwd, bwd = AVG[nd]
    kwargs = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    if divisor_override is not None:
        kwargs["divisor_override"] = divisor_override
    check_op_grads(fwd, bwd, (x,), ("dx",), kernel_size=kernel, **kwargs)


def test_avg_pool_divisors_at_padded_and_ceil_edges():
    """H=5, k=3, s=2, p=1, ceil_mode: windows [-1,2), [1,4), [3,6) -- the last one overhangs the
    padded input (which ends at 6) by nothing, but with H=4 [3,6) overhangs it (ends at 5)."""
    x = np.ones((1, 1, 4))
    inc, _ = F.avg_pool1d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    exc, _ = F.avg_pool1d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    # windows: [-1,2) -> 2 of 3 real; [1,4) -> 3 real; [3,6) clipped to [3,5): 1 real, 1 pad.
    np.testing.assert_allclose(inc.ravel(), [2 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(exc.ravel(), [1.0, 1.0, 1.0])
    over, _ = F.avg_pool2d_forward(np.ones((1, 1, 4, 4)), 2, divisor_override=3)
    np.testing.assert_allclose(over, np.full((1, 1, 2, 2), 4 / 3))


# --- adaptive pooling ---------------------------------------------------------------------------

ADAPTIVE = {
    ("avg", 1): (F.adaptive_avg_pool1d_forward, F.adaptive_avg_pool1d_backward),
    ("avg", 2): (F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward),
    ("avg", 3): (F.adaptive_avg_pool3d_forward, F.adaptive_avg_pool3d_backward),
    ("max", 1): (F.adaptive_max_pool1d_forward, F.adaptive_max_pool1d_backward),
    ("max", 2): (F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward),
    ("max", 3): (F.adaptive_max_pool3d_forward, F.adaptive_max_pool3d_backward),
}


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize(
    "nd,spatial,output_size",
    [(1, (7,), 3), (2, (5, 7), (3, 4)), (2, (3, 2), (5, 3)), (2, (4, 4), 1), (2, (5, 6), (None, 4)),
     (3, (3, 4, 5), (2, 3, 2))],
)
def test_adaptive_pool_gradients(kind, nd, spatial, output_size):
    rng = np.random.default_rng(5)
    x = _distinct(rng, (2, 2) + spatial)
    fwd, bwd = ADAPTIVE[(kind, nd)]
    check_op_grads(fwd, bwd, (x,), ("dx",), output_size=output_size)


def test_adaptive_windows_and_global_pooling():
    x = np.arange(2 * 3 * 5 * 6, dtype=np.float64).reshape(2, 3, 5, 6)
    out, _ = F.adaptive_avg_pool2d_forward(x, 1)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3), keepdims=True))
    out, _ = F.adaptive_avg_pool2d_forward(x, (5, 6))
    np.testing.assert_array_equal(out, x)
    # In=5, Out=3: windows [0,2), [1,4), [3,5)
    out, _ = F.adaptive_max_pool1d_forward(np.array([[[5.0, 1.0, 2.0, 9.0, 3.0]]]), 3)
    assert out.ravel().tolist() == [5.0, 9.0, 9.0]


def test_adaptive_max_nan_and_ties():
    x = np.array([[[[1.0, 1.0], [np.nan, 0.0]]]])
    (out, idx), _ = F.adaptive_max_pool2d_forward(x, 1, return_indices=True)
    assert np.isnan(out).all() and idx.ravel().tolist() == [2]
    (out, idx), _ = F.adaptive_max_pool2d_forward(np.ones((1, 1, 2, 2)), 1, return_indices=True)
    assert idx.ravel().tolist() == [0]  # ties: first in row-major order


@pytest.mark.parametrize("special", ["ties", "nan", "minus_inf"])
@pytest.mark.parametrize(
    "nd,spatial,output_size",
    [(1, (9,), 3), (2, (8, 6), (4, 3)), (2, (5, 5), 1), (3, (4, 4, 6), (2, 2, 3))],
)
def test_adaptive_max_as_a_max_pool_matches_the_gathers(monkeypatch, special, nd, spatial, output_size):
    """Windows of one size side by side take the max-pool path; its values, indices (ties: the
    first, NaN: the last) and dx equal the general gather path's."""
    from numcnn.functional import adaptive_pool

    rng = np.random.default_rng(len(spatial) + sum(spatial))
    x = np.round(rng.standard_normal((2, 3) + spatial))  # ties
    if special != "ties":
        x.ravel()[rng.integers(0, x.size, 6)] = np.nan if special == "nan" else -np.inf
    fwd, bwd = ADAPTIVE[("max", nd)]
    (out, idx), cache = fwd(x, output_size, return_indices=True)
    assert cache.pool_cache is not None
    dout = rng.standard_normal(out.shape)
    dx = bwd(dout, cache)
    monkeypatch.setattr(adaptive_pool, "_uniform_windows", lambda spatial, sizes: None)
    (want_out, want_idx), want_cache = fwd(x, output_size, return_indices=True)
    assert want_cache.pool_cache is None
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dx, bwd(dout, want_cache))


def test_adaptive_avg_nan_stays_in_its_window():
    x = np.zeros((1, 1, 6))
    x[0, 0, 0] = np.nan
    out, _ = F.adaptive_avg_pool1d_forward(x, 3)
    assert np.isnan(out[0, 0, 0]) and not np.isnan(out[0, 0, 1:]).any()


# --- max-pool indices and unpooling --------------------------------------------------------------


def test_max_pool_return_indices_flat_per_plane():
    x = np.array([[[[1.0, 5.0, 2.0], [7.0, 3.0, 9.0], [4.0, 8.0, 6.0]]]])
    (out, idx), cache = F.max_pool2d_forward(x, 2, stride=1, return_indices=True)
    assert out[0, 0].tolist() == [[7.0, 9.0], [8.0, 9.0]]
    assert idx[0, 0].tolist() == [[3, 5], [7, 5]] and idx.dtype == np.int64
    (_, idx), _ = F.max_pool2d_forward(x, 3, stride=2, padding=1, return_indices=True)
    assert idx[0, 0].tolist() == [[3, 5], [7, 5]]
    # backward is unchanged by return_indices
    dx = F.max_pool2d_backward(np.ones(out.shape), cache)
    assert dx[0, 0].tolist() == [[0, 0, 0], [1, 0, 2], [0, 1, 0]]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_gradients(nd):
    rng = np.random.default_rng(6)
    x = _distinct(rng, (2, 2) + (4,) * nd)
    pool = {1: F.max_pool1d_forward, 2: F.max_pool2d_forward, 3: F.max_pool3d_forward}[nd]
    unpool = {1: (F.max_unpool1d_forward, F.max_unpool1d_backward), 2: (F.max_unpool2d_forward, F.max_unpool2d_backward),
              3: (F.max_unpool3d_forward, F.max_unpool3d_backward)}[nd]
    (out, idx), _ = pool(x, 2, return_indices=True)
    y, cache = unpool[0](out, idx, 2)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y[y != 0], x[y != 0])
    check_op_grads(lambda v, **kw: unpool[0](v, idx, 2, **kw), unpool[1], (out,), ("dx",))


def test_max_unpool_output_size():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    (out, idx), _ = F.max_pool2d_forward(x, 2, return_indices=True)
    y, _ = F.max_unpool2d_forward(out, idx, 2, output_size=x.shape)
    assert y.shape == x.shape and y[0, 0, 3, 3] == 18.0
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d_forward(out, idx, 2, output_size=(6, 6))


# --- dtype ----------------------------------------------------------------------------------------

def _all_ops_float32():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    yield "conv_transpose2d", F.conv_transpose2d_forward, F.conv_transpose2d_backward, (x, w), dict(stride=2, groups=2)
    yield "conv2d reflect", F.conv2d_forward, F.conv2d_backward, (x, w), dict(padding=1, groups=2, padding_mode="reflect")
    yield "avg_pool2d", F.avg_pool2d_forward, F.avg_pool2d_backward, (x, 3), dict(stride=2, padding=1, ceil_mode=True)
    yield "adaptive_avg", F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward, (x, (4, 5)), {}
    yield "adaptive_max", F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward, (x, (4, 5)), {}


@pytest.mark.parametrize("case", list(_all_ops_float32()), ids=lambda c: c[0])
def test_float32_stays_float32(case):
    _, fwd, bwd, args, kwargs = case
    out, cache = fwd(*args, **kwargs)
    assert out.dtype == np.float32
    dout = np.random.default_rng(10).standard_normal(out.shape).astype(np.float32)
    grads = bwd(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for g in grads:
        assert g is None or g.dtype == np.float32
    # and float32 computes the same thing as float64, to float32 accuracy
    args64 = tuple(a.astype(np.float64) if isinstance(a, np.ndarray) else a for a in args)
    out64, cache64 = fwd(*args64, **kwargs)
    grads64 = bwd(dout.astype(np.float64), cache64)
    grads64 = grads64 if isinstance(grads64, tuple) else (grads64,)
    np.testing.assert_allclose(out, out64, rtol=1e-4, atol=1e-4)
    for g, g64 in zip(grads, grads64):
        if g is not None:
            np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-4)


def test_inputs_not_modified():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 2, 5, 5))
    w = rng.standard_normal((2, 1, 3, 3))
    keep_x, keep_w = x.copy(), w.copy()
    out, cache = F.conv2d_forward(x, w, padding=2, groups=2, padding_mode="circular")
    F.conv2d_backward(np.ones_like(out), cache)
    out, cache = F.conv_transpose2d_forward(x, w.reshape(2, 1, 3, 3), stride=2)
    F.conv_transpose2d_backward(np.ones_like(out), cache)
    out, cache = F.avg_pool2d_forward(x, 3, 1, 1)
    F.avg_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(x, keep_x)
    np.testing.assert_array_equal(w, keep_w)


# --- error messages -------------------------------------------------------------------------------

X4 = np.zeros((1, 2, 5, 5))


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((2, 1, 3, 3)), stride=2, output_padding=2),
         ValueError, r"output_padding must be smaller than either stride or dilation.*output_padding=\(2, 2\)"),
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((2, 1, 3, 3)), output_padding=1),
         ValueError, "output_padding must be smaller than either stride or dilation"),
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((3, 1, 3, 3))), ValueError, r"x has 2 channels"),
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((2, 1, 3, 3)), padding="same"), ValueError, "padding must be an int"),
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((2, 1, 1, 1)), padding=3), ValueError, "output size"),
        (lambda: F.conv_transpose2d_forward(X4, np.zeros((2, 1, 3, 3), np.float32)), TypeError, "weight dtype float32"),
        (lambda: F.adaptive_avg_pool2d_forward(X4, 0), ValueError, "output_size must be positive"),
        (lambda: F.adaptive_max_pool2d_forward(X4, (3, -1)), ValueError, "output_size must be positive"),
        (lambda: F.adaptive_avg_pool2d_forward(X4, (3, 2, 1)), TypeError, "output_size must be an int or a tuple of 2"),
        (lambda: F.avg_pool2d_forward(X4, 2, divisor_override=0), ValueError, "divisor_override must not be zero"),
        (lambda: F.avg_pool2d_forward(X4, 2, padding=2), ValueError, "padding should be at most half"),
        (lambda: F.avg_pool2d_forward(X4, 6), ValueError, "larger than the input"),
        (lambda: F.conv2d_forward(X4, np.zeros((1, 2, 3, 3)), padding=1, padding_mode="mirror"),
         ValueError, r"padding_mode must be one of \['zeros', 'reflect', 'replicate', 'circular'\]"),
        (lambda: F.conv2d_forward(X4, np.zeros((1, 2, 3, 3)), padding=5, padding_mode="reflect"),
         ValueError, r"padding_mode='reflect': padding \(5, 5\) must be smaller than the input size 5"),
        (lambda: F.conv2d_forward(X4, np.zeros((1, 2, 3, 3)), padding=6, padding_mode="circular"),
         ValueError, "padding_mode='circular'.*at most the input size 5"),
        (lambda: F.max_unpool2d_forward(X4, np.full(X4.shape, 100), 2), ValueError, "index 100 .* out of range"),
        (lambda: F.max_unpool2d_forward(X4, np.zeros(X4.shape), 2), TypeError, "indices must be an integer"),
        (lambda: F.max_unpool2d_forward(X4, np.zeros((1, 2, 5, 4), np.int64), 2), ValueError, "indices must have the shape"),
    ],
)
def test_error_messages(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_backward_rejects_wrong_cache_and_dout():
    out, cache = F.avg_pool2d_forward(X4, 2)
    with pytest.raises(ValueError, match="dout must have the forward output's shape"):
        F.avg_pool2d_backward(np.zeros((1, 2, 3, 3)), cache)
    with pytest.raises(TypeError, match="AdaptiveAvgPoolCache"):
        F.adaptive_avg_pool2d_backward(out, cache)
    with pytest.raises(TypeError, match="ConvTransposeCache"):
        F.conv_transpose2d_backward(out, cache)


# --- bench rows ------------------------------------------------------------------------------------

def test_family_bench_rows_run():
    """Every family row of ``numcnn bench`` builds its inputs and runs numcnn's forward + backward:
    float32 gradients of the inputs' shapes, finite, and not all zero."""
    from numcnn.commands import bench_cases

    rows = [case for case in bench_cases.CASES if "family" in case.suites]
    ops = {case.op for case in rows}
    assert {"conv_transpose2d", "conv1d", "conv3d", "conv2d_reflect", "avg_pool2d", "adaptive_avg_pool2d"} <= ops
    rng = np.random.default_rng(0)
    for case in rows:
        arrays = case.setup(np.float32, rng)
        forward, backward = case.numcnn(arrays)
        grads = backward(forward())
        dx = grads[0] if isinstance(grads, tuple) else grads
        assert dx.shape == arrays["x"].shape and dx.dtype == np.float32, case.op
        assert np.isfinite(dx).all() and np.any(dx != 0), case.op
        if isinstance(grads, tuple) and "w" in arrays:  # (dx, dw, db) of a convolution
            assert grads[1].shape == arrays["w"].shape and np.isfinite(grads[1]).all(), case.op


# --- empty batches ------------------------------------------------------------------------------

EMPTY = [
    ("conv1d", F.conv1d_forward, F.conv1d_backward, (0, 3, 8), dict(weight=(4, 3, 3), padding=1), (0, 4, 8)),
    ("conv2d", F.conv2d_forward, F.conv2d_backward, (0, 3, 8, 8), dict(weight=(4, 3, 3, 3), padding=1), (0, 4, 8, 8)),
    ("conv3d stacked", F.conv3d_forward, F.conv3d_backward, (0, 16, 4, 6, 6), dict(weight=(32, 16, 3, 3, 3), padding=1),
     (0, 32, 4, 6, 6)),
    ("conv2d depthwise", F.conv2d_forward, F.conv2d_backward, (0, 4, 8, 8), dict(weight=(4, 1, 3, 3), padding=1, groups=4),
     (0, 4, 8, 8)),
    ("conv2d 1x1", F.conv2d_forward, F.conv2d_backward, (0, 4, 8, 8), dict(weight=(5, 4, 1, 1)), (0, 5, 8, 8)),
    ("conv2d reflect", F.conv2d_forward, F.conv2d_backward, (0, 3, 8, 8),
     dict(weight=(4, 3, 3, 3), padding=1, padding_mode="reflect"), (0, 4, 8, 8)),
    ("conv_transpose2d", F.conv_transpose2d_forward, F.conv_transpose2d_backward, (0, 3, 8, 8),
     dict(weight=(3, 4, 4, 4), stride=2, padding=1), (0, 4, 16, 16)),
    ("max_pool2d", F.max_pool2d_forward, F.max_pool2d_backward, (0, 3, 8, 8), dict(kernel_size=2), (0, 3, 4, 4)),
    ("avg_pool2d", F.avg_pool2d_forward, F.avg_pool2d_backward, (0, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1),
     (0, 3, 4, 4)),
    ("adaptive_avg_pool2d", F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward, (0, 3, 8, 8),
     dict(output_size=3), (0, 3, 3, 3)),
    ("adaptive_max_pool2d", F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward, (0, 3, 8, 8),
     dict(output_size=3), (0, 3, 3, 3)),
    ("adaptive_max_pool2d as a max pool", F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward, (0, 3, 8, 8),
     dict(output_size=4), (0, 3, 4, 4)),
]


@pytest.mark.parametrize("name, forward, backward, x_shape, options, out_shape", EMPTY, ids=[case[0] for case in EMPTY])
def test_an_empty_batch_gives_empty_outputs_and_zero_parameter_gradients(name, forward, backward, x_shape, options,
                                                                          out_shape):
    """N = 0 works as in PyTorch: an empty output, an empty dx, zero dw and db."""
    options = dict(options)
    x = np.zeros(x_shape, dtype=np.float32)
    args = (x,)
    if "weight" in options:
        weight = np.ones(options.pop("weight"), dtype=np.float32)
        bias = np.ones(weight.shape[1] if name == "conv_transpose2d" else weight.shape[0], dtype=np.float32)
        args = (x, weight, bias)
    out, cache = forward(*args, **options)
    assert out.shape == out_shape and out.dtype == np.float32
    grads = backward(np.zeros(out_shape, dtype=np.float32), cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert grads[0].shape == x_shape
    for grad, arg in zip(grads[1:], args[1:]):
        assert grad.shape == arg.shape and not grad.any()


def test_max_unpool_of_an_empty_batch():
    (out, idx), _ = F.max_pool2d_forward(np.zeros((0, 3, 8, 8)), 2, return_indices=True)
    y, cache = F.max_unpool2d_forward(out, idx, 2)
    assert y.shape == (0, 3, 8, 8) and F.max_unpool2d_backward(np.zeros(y.shape), cache).shape == (0, 3, 4, 4)
