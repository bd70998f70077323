"""conv{1,2,3}d: numeric gradients over a grid of options, reference == fast, dtype and purity."""

import itertools

import numpy as np
import pytest

from numcnn import reference
from numcnn.functional import (
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv3d_backward,
    conv3d_forward,
)
from tests.gradcheck import check_op_gradients

PAIRS = {1: (conv1d_forward, conv1d_backward), 2: (conv2d_forward, conv2d_backward), 3: (conv3d_forward, conv3d_backward)}


def check_gradients(nd, x_shape, w_shape, bias=True, tol=1e-6, **options):
    """Analytic vs centred-difference gradients (CS231n's relative error, max over elements).

    Conv is linear in each argument, so only rounding separates the two; the worst element
    seen over this grid is ~2e-7 (a near-zero gradient entry), typical ones ~1e-10.
    """
    forward, backward = PAIRS[nd]
    rng = np.random.default_rng(sum(x_shape) + 7 * sum(w_shape))
    inputs = dict(x=rng.standard_normal(x_shape), weight=rng.standard_normal(w_shape),
                  bias=rng.standard_normal(w_shape[0]) if bias else None, **options)
    wrt = ("x", "weight", "bias") if bias else ("x", "weight")
    got = check_op_gradients(forward, backward, inputs, wrt, grads=("x", "weight", "bias"),
                             seed=int(rng.integers(2**32)), h=1e-5, max_rel_error=tol)
    if not bias:
        assert got["bias"] is None


GRID_2D = [
    dict(stride=s, padding=p, dilation=d, groups=g)
    for s, p, d, g in itertools.product([1, 2, (2, 1)], [0, 1, (2, 0)], [1, 2], [1, 2])
] + [
    dict(padding="same", dilation=1),
    dict(padding="same", dilation=2),
    dict(padding="same", dilation=(1, 3)),
    dict(padding="valid", stride=3),
]


@pytest.mark.parametrize("options", GRID_2D, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_conv2d_gradients(options):
    check_gradients(2, (2, 4, 7, 6), (4, 4 // options.get("groups", 1), 3, 2), **options)


@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradients_depthwise_and_even_kernel_same(bias):
    check_gradients(2, (2, 3, 6, 5), (6, 1, 3, 3), bias=bias, groups=3, padding=1)
    check_gradients(2, (1, 2, 5, 6), (3, 2, 4, 2), bias=bias, padding="same")


@pytest.mark.parametrize(
    "nd,x_shape,w_shape,options",
    [
        (1, (2, 3, 9), (4, 3, 3), dict(stride=2, padding=1)),
        (1, (2, 4, 8), (4, 2, 2), dict(padding="same", dilation=3, groups=2)),
        (3, (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1))),
        (3, (1, 2, 4, 4, 4), (2, 1, 3, 3, 3), dict(padding="same", groups=2)),
    ],
)
def test_conv1d_conv3d_gradients(nd, x_shape, w_shape, options):
    check_gradients(nd, x_shape, w_shape, **options)


@pytest.mark.parametrize("stride,pad", [(1, 0), (1, 1), (2, 1), (3, 2)])
def test_fast_equals_reference(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    x = rng.standard_normal((3, 2, 7, 8))
    w = rng.standard_normal((4, 2, 3, 3))
    b = rng.standard_normal(4)
    conv_param = {"stride": stride, "pad": pad}
    out_ref, cache_ref = reference.conv_forward_naive(x, w, b, conv_param)
    out, cache = conv2d_forward(x, w, b, stride=stride, padding=pad)
    np.testing.assert_allclose(out, out_ref, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    for fast, ref in zip(conv2d_backward(dout, cache), reference.conv_backward_naive(dout, cache_ref)):
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)


def test_same_padding_keeps_size_and_puts_the_odd_pad_last():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 0, 0] = 1.0
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 1, 1] = 1.0  # picks the bottom-right tap of each window
    out, _ = conv2d_forward(x, w, padding="same")
    assert out.shape == (1, 1, 5, 5)
    # total padding 1 goes after: window (0, 0) covers rows/cols 0..1, so its bottom-right tap is (1, 1)
    assert out[0, 0, 0, 0] == 0.0
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1.0
    out, _ = conv2d_forward(x, w, padding="same")
    assert out[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_dtype_is_kept_end_to_end(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv2d_forward(x, w, b, padding=1, stride=2)
    assert out.dtype == dtype
    dx, dw, db = conv2d_backward(np.ones(out.shape, dtype=dtype), cache)
    assert dx.dtype == dw.dtype == db.dtype == dtype


def test_float32_matches_float64_closely():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 9, 9))
    w = rng.standard_normal((5, 8, 3, 3))
    out64, _ = conv2d_forward(x, w, padding=1)
    out32, _ = conv2d_forward(x.astype(np.float32), w.astype(np.float32), padding=1)
    # 72 products per output, each rounded to float32 (eps 6e-8): errors stay ~1e-5 of the scale
    np.testing.assert_allclose(out32, out64, rtol=1e-4, atol=1e-4 * np.abs(out64).max())


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 5))
    w = rng.standard_normal((3, 2, 3, 3))
    b = rng.standard_normal(3)
    copies = [a.copy() for a in (x, w, b)]
    out, cache = conv2d_forward(x, w, b, padding=1)
    dout = rng.standard_normal(out.shape)
    dout_copy = dout.copy()
    dx, dw, db = conv2d_backward(dout, cache)
    dx += 1.0  # results must not alias the inputs either
    dw += 1.0
    for original, copy in zip((x, w, b, dout), copies + [dout_copy]):
        np.testing.assert_array_equal(original, copy)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 4, 3)).transpose(0, 3, 2, 1)  # (6, 3, 4, 5), not C-contiguous
    w = rng.standard_normal((2, 3, 2, 2))[:, :, ::-1]
    out, cache = conv2d_forward(x, w, padding=1)
    out_c, cache_c = conv2d_forward(np.ascontiguousarray(x), np.ascontiguousarray(w), padding=1)
    np.testing.assert_allclose(out, out_c, rtol=1e-12)
    dout = rng.standard_normal(out.shape)[..., ::-1][..., ::-1]
    for a, b in zip(conv2d_backward(dout, cache), conv2d_backward(np.ascontiguousarray(dout), cache_c)):
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-12)


def test_input_grad_false_skips_dx_and_keeps_dw_db():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    out, cache = conv2d_forward(x, w, b, padding=1, padding_mode="reflect")
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)
    none, dw2, db2 = conv2d_backward(dout, cache, input_grad=False)
    assert none is None
    np.testing.assert_array_equal(dw, dw2)
    np.testing.assert_array_equal(db, db2)


def test_sequential_skips_only_the_first_layers_input_grad():
    from numcnn import nn

    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Linear(8, 3))
    model = model.to(np.float64)
    x = np.random.default_rng(6).standard_normal((2, 1, 6, 6))
    dout = np.ones((2, 3))
    model(x)
    dx = model.backward(dout)
    grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    model(x)
    assert model.backward(dout, input_grad=False) is None
    assert dx.shape == x.shape
    for before, param in zip(grads, model.parameters()):
        np.testing.assert_array_equal(before, param.grad)
