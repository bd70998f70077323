"""Live oracle: random configurations (hypothesis) checked against PyTorch, float64, forward and
every gradient.  Runs where torch is importable (CI installs torch==2.13.0)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
F = torch.nn.functional

from numcnn import functional  # noqa: E402

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def pair(draw, lo, hi):
    a = draw(st.integers(lo, hi))
    return a if draw(st.booleans()) else (a, draw(st.integers(lo, hi)))


def as_pair(v):
    return (v, v) if isinstance(v, int) else v


@st.composite
def conv2d_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 2))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = pair(draw, 1, 3)
    mode = draw(st.sampled_from(["int", "int", "same", "valid"]))
    stride = 1 if mode == "same" else pair(draw, 1, 3)
    padding = pair(draw, 0, 3) if mode == "int" else mode
    d = as_pair(dilation)
    pads = (0, 0) if mode != "int" else as_pair(padding)
    min_size = [d[i] * (kernel[i] - 1) + 1 - 2 * pads[i] for i in range(2)]
    h = draw(st.integers(max(1, min_size[0]), max(1, min_size[0]) + 6))
    w = draw(st.integers(max(1, min_size[1]), max(1, min_size[1]) + 6))
    n = draw(st.integers(1, 3))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return (n, c_in, h, w), (c_out, c_in // groups) + kernel, bias, dict(stride=stride, padding=padding, dilation=dilation, groups=groups), seed


@SETTINGS
@given(conv2d_configs())
def test_conv2d_matches_torch(config):
    x_shape, w_shape, use_bias, options, seed = config
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0]) if use_bias else None
    out, cache = functional.conv2d_forward(x, w, b, **options)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = torch.tensor(b, requires_grad=True) if use_bias else None
    tout = F.conv2d(tx, tw, tb, **options)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-11)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    dx, dw, db = functional.conv2d_backward(dout, cache)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-10, atol=1e-11)
    if use_bias:
        np.testing.assert_allclose(db, tb.grad.numpy(), rtol=1e-10, atol=1e-11)


@st.composite
def pool_configs(draw, nd=2):
    kernel = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    ceil_mode = draw(st.booleans())
    sizes = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(1, d * (k - 1) + 1 - 2 * p) + 7))
        for k, p, d in zip(kernel, padding, dilation)
    )
    kind = draw(st.sampled_from(["normal", "ties", "nan", "inf"]))
    seed = draw(st.integers(0, 2**31 - 1))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3))) + sizes
    return shape, dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode), kind, seed


def pool_input(shape, kind, rng):
    if kind == "ties":
        return rng.integers(-1, 2, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    if kind == "nan":
        x[rng.random(shape) < 0.15] = np.nan
    if kind == "inf":
        x[rng.random(shape) < 0.5] = -np.inf
    return x


def check_pool(nd, shape, options, kind, seed):
    rng = np.random.default_rng(seed)
    x = pool_input(shape, kind, rng)
    try:
        out, cache = getattr(functional, f"max_pool{nd}d_forward")(x, **options)
    except ValueError as exc:
        # numcnn refuses windows that see no input; PyTorch's backward aborts the process on them
        assert "covers no input element" in str(exc)
        return
    tx = torch.tensor(x, requires_grad=True)
    tout = getattr(F, f"max_pool{nd}d")(tx, **options)
    np.testing.assert_array_equal(out, tout.detach().numpy())
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(getattr(functional, f"max_pool{nd}d_backward")(dout, cache), tx.grad.numpy(), rtol=1e-12, atol=0)


@SETTINGS
@given(pool_configs(nd=2))
def test_max_pool2d_matches_torch(config):
    check_pool(2, *config)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([1, 3]).flatmap(lambda nd: st.tuples(st.just(nd), pool_configs(nd=nd))))
def test_max_pool1d_3d_matches_torch(config):
    nd, (shape, options, kind, seed) = config
    check_pool(nd, shape, options, kind, seed)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from([1, 3]), st.integers(0, 2**31 - 1))
def test_conv1d_conv3d_match_torch(nd, seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.integers(1, 3))
    kernel = tuple(int(k) for k in rng.integers(1, 4, size=nd))
    stride = tuple(int(s) for s in rng.integers(1, 3, size=nd))
    padding = tuple(int(p) for p in rng.integers(0, 2, size=nd))
    sizes = tuple(k + int(rng.integers(0, 4)) for k in kernel)
    x = rng.standard_normal((2, 2 * groups) + sizes)
    w = rng.standard_normal((groups * 2, 2) + kernel)
    b = rng.standard_normal(groups * 2)
    out, cache = getattr(functional, f"conv{nd}d_forward")(x, w, b, stride, padding, 1, groups)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    tout = getattr(F, f"conv{nd}d")(tx, tw, tb, stride, padding, 1, groups)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-11)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    for ours, theirs in zip(getattr(functional, f"conv{nd}d_backward")(dout, cache), (tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-11)


def test_float32_matches_torch_float32():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((6, 8, 3, 3)).astype(np.float32)
    out, cache = functional.conv2d_forward(x, w, padding=1, stride=2)
    tout = F.conv2d(torch.tensor(x), torch.tensor(w), padding=1, stride=2).numpy()
    assert out.dtype == np.float32
    # 72-term float32 dot products in different summation orders: agree to a few ulps of the scale
    np.testing.assert_allclose(out, tout, rtol=1e-5, atol=1e-5 * np.abs(tout).max())
