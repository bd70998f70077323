"""What every conv/pool op keeps: float32 stays float32 (and agrees with float64), inputs are
not modified, bad arguments give clear errors, an empty batch works; the family's bench rows run."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F


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
