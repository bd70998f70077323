"""pad_forward / pad_backward: torch.nn.functional.pad's semantics, every mode, negative pads,
its limits as clear errors; gradients by float64 centred differences, the adjoint identity
(hypothesis) and, where torch is importable, the live oracle."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numcnn.functional import pad_backward, pad_forward
from numcnn.functional.padding import PadCache, pad_mode, pad_mode_adjoint
from tests.helpers import numeric_grad, rel_error

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

MODES = ("constant", "reflect", "replicate", "circular")
ROW = np.arange(5.0).reshape(1, 1, 5)


def _row(pad, mode, value=0.0):
    return pad_forward(ROW, pad, mode, value)[0].ravel().tolist()


@pytest.mark.parametrize(
    "mode,pad,want",
    [
        ("constant", (2, 1), [7, 7, 0, 1, 2, 3, 4, 7]),
        ("constant", (-1, 2), [1, 2, 3, 4, 7, 7]),
        ("constant", (-3, -2), []),
        ("reflect", (2, 1), [2, 1, 0, 1, 2, 3, 4, 3]),
        # reflect and replicate pad first: the padding mirrors/repeats the uncropped input
        ("reflect", (-1, 2), [1, 2, 3, 4, 3, 2]),
        ("reflect", (4, -3), [4, 3, 2, 1, 0, 1]),
        ("replicate", (2, -1), [0, 0, 0, 1, 2, 3]),
        ("replicate", (-5, 5), [4, 4, 4, 4, 4]),
        # circular crops first: it wraps the cropped input
        ("circular", (-1, 2), [1, 2, 3, 4, 1, 2]),
        ("circular", (2, -1), [2, 3, 0, 1, 2, 3]),
        ("circular", (5, 0), [0, 1, 2, 3, 4, 0, 1, 2, 3, 4]),
    ],
)
def test_pad_values(mode, pad, want):
    assert _row(pad, mode, 7.0 if mode == "constant" else 0.0) == want


def test_pad_order_is_from_the_last_dimension():
    x = np.arange(6.0).reshape(2, 3)
    out, _ = pad_forward(x, (1, 0, 0, 2), value=-1.0)  # last dim: 1 before; first dim: 2 after
    assert out.tolist() == [[-1, 0, 1, 2], [-1, 3, 4, 5], [-1, -1, -1, -1], [-1, -1, -1, -1]]


def test_pad_keeps_dtype_and_never_aliases_the_input():
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3)
    out, cache = pad_forward(x, ())
    assert out.dtype == np.float32 and out is not x and not np.shares_memory(out, x)
    dx = pad_backward(out, cache)
    assert dx.dtype == np.float32 and not np.shares_memory(dx, out)
    ints, _ = pad_forward(np.arange(3), (1, 1), value=2.5)
    assert ints.tolist() == [2, 0, 1, 2, 2]  # the fill cast to x's dtype, as torch


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "shape,pad",
    [
        ((2, 3, 6), (2, 1)),
        ((2, 3, 6), (-1, 3)),
        ((3, 5, 6), (1, -2, 2, 1)),
        ((1, 2, 4, 5), (-2, 3, 1, 0)),
        ((1, 2, 3, 4, 5), (1, 2, -1, 1, 2, 0)),
    ],
)
def test_pad_gradient_numerically(mode, shape, pad):
    rng = np.random.default_rng(len(shape) + sum(pad))
    x = rng.standard_normal(shape)
    out, cache = pad_forward(x, pad, mode)
    dout = rng.standard_normal(out.shape)
    want = numeric_grad(lambda v: pad_forward(v, pad, mode)[0], x, dout)
    assert rel_error(pad_backward(dout, cache), want) < 1e-8


@st.composite
def _pad_case(draw):
    mode = draw(st.sampled_from(MODES))
    k = draw(st.integers(1, 3))
    ndim = k + draw(st.integers(1, 2)) if mode != "constant" else draw(st.integers(k, 4))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim))
    pad = []
    for size in reversed(shape[ndim - k :]):
        if mode == "reflect":
            lo, hi = draw(st.integers(-size, size - 1)), draw(st.integers(-size, size - 1))
            if size + lo + hi < 1:
                lo = hi = 0
        elif mode == "circular":  # crops first, then wraps at most once around what is left
            lo, hi = draw(st.integers(1 - size, size)), draw(st.integers(1 - size, size))
            kept = size - max(-lo, 0) - max(-hi, 0)
            if kept < 0 or max(lo, hi) > kept:
                lo = hi = 0
        else:
            lo, hi = draw(st.integers(-size, 4)), draw(st.integers(-size, 4))
            if size + lo + hi < (1 if mode == "replicate" else 0) or (mode == "constant" and max(-lo, 0) + max(-hi, 0) > size):
                lo = hi = 0
        pad += [lo, hi]
    return mode, shape, tuple(pad)


@settings(max_examples=60, deadline=None)
@given(_pad_case(), st.integers(0, 2**32 - 1))
def test_pad_backward_is_the_adjoint(case, seed):
    mode, shape, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    out, cache = pad_forward(x, pad, mode)
    g = rng.standard_normal(out.shape)
    assert np.isclose(np.sum(out * g), np.sum(x * pad_backward(g, cache)))


def test_conv_padding_modes_go_through_pad_forward():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    pads = ((1, 2), (2, 0))
    for mode, same in (("zeros", "constant"), ("reflect", "reflect"), ("replicate", "replicate"), ("circular", "circular")):
        out, cache = pad_forward(x, (2, 0, 1, 2), same)
        np.testing.assert_array_equal(pad_mode(x, pads, mode), out)
        np.testing.assert_array_equal(pad_mode_adjoint(out, pads, mode), pad_backward(out, cache))


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: pad_forward([1.0], (1, 1)), TypeError, "x must be a numpy.ndarray"),
        (lambda: pad_forward(ROW, (1.0, 1)), TypeError, "pad must be a sequence of ints"),
        (lambda: pad_forward(ROW, 1), TypeError, "pad must be a sequence of ints"),
        (lambda: pad_forward(ROW, (1, 2, 1)), ValueError, r"pad must have an even length .* \(1, 2, 1\)"),
        (lambda: pad_forward(np.zeros((2, 3)), (1,) * 6), ValueError, r"pads 3 dimensions but x has only 2 \(shape \(2, 3\)\)"),
        (lambda: pad_forward(ROW, (1, 1), mode="wrap"), ValueError, r"mode must be one of \['constant', 'reflect'"),
        (lambda: pad_forward(ROW, (1, 1), mode="reflect", value=1.0), ValueError, "value=1.0 applies only to mode='constant'"),
        (lambda: pad_forward(ROW, (1, 1), value="a"), TypeError, "value must be a number"),
        (lambda: pad_forward(np.zeros(5), (1, 1), mode="reflect"), ValueError, r"needs x of 2 or 3 dimensions, got shape \(5,\)"),
        (lambda: pad_forward(np.zeros((1, 2, 3, 4)), (1, 1), mode="replicate"), ValueError, r"needs x of 2 or 3 dimensions"),
        (lambda: pad_forward(np.zeros((2, 3)), (), mode="circular"), ValueError, r"pad \(\) of length 0"),
        (lambda: pad_forward(ROW, (5, 0), mode="reflect"), ValueError,
         r"mode='reflect': pad \(5, 0\) must be smaller than the input size 5 in dimension 2 of x \(shape \(1, 1, 5\)\)"),
        (lambda: pad_forward(ROW, (6, 0), mode="circular"), ValueError, r"pad \(6, 0\) must be at most the input size 5"),
        (lambda: pad_forward(ROW, (-3, 4), mode="circular"), ValueError, r"at most the input size 2 after cropping"),
        (lambda: pad_forward(ROW, (1, -6)), ValueError, r"pad \(1, -6\) crops 6 from the input size 5"),
        (lambda: pad_forward(ROW, (-3, -2), mode="replicate"), ValueError, r"leaves no output from the input size 5"),
        (lambda: pad_forward(np.zeros((2, 0, 5)), (1, 1), mode="reflect"), ValueError, r"non-empty dimensions .* \(2, 0, 5\)"),
        (lambda: pad_backward(np.zeros((1, 1, 6)), pad_forward(ROW, (1, 1))[1]), ValueError,
         r"dout must have the forward output's shape \(1, 1, 7\), got \(1, 1, 6\)"),
        (lambda: pad_backward(np.zeros((1, 1, 7)), None), TypeError, "PadCache"),
    ],
)
def test_pad_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pad_cache_records_widths_per_axis():
    _, cache = pad_forward(np.zeros((2, 3, 4)), (1, 2, -1, 0))
    assert isinstance(cache, PadCache) and cache.widths == ((0, 0), (-1, 0), (1, 2))


# --- live oracle -------------------------------------------------------------------------------


@needs_torch
@pytest.mark.torch
@settings(max_examples=80, deadline=None)
@given(_pad_case(), st.integers(0, 2**32 - 1), st.floats(-3, 3))
def test_pad_matches_torch(case, seed, value):
    mode, shape, pad = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    value = value if mode == "constant" else 0.0
    out, cache = pad_forward(x, pad, mode, value)
    tx = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.pad(tx, pad, mode=mode, value=value if mode == "constant" else None)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=0, atol=0)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(pad_backward(dout, cache), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize(
    "mode,shape,pad",
    [
        ("reflect", (2, 5), (1, 2)),
        ("reflect", (1, 2, 5, 5), (-5, 2, -2, 3)),
        ("replicate", (1, 2, 5), (-1, 3)),
        ("replicate", (2, 3, 4, 5), (4, -3, 1, 2, 0, -1)),
        ("circular", (1, 2, 5), (0, -5)),
        ("reflect", (1, 5), (5, 0)),
        ("circular", (1, 5), (6, 0)),
        ("constant", (2, 3), (1, -6)),
        ("reflect", (5,), (1, 1)),
        ("reflect", (2, 0, 5), (1, 1)),
        ("constant", (2, 3), (1, 2, 1)),
    ],
)
def test_pad_accepts_and_rejects_what_torch_does(mode, shape, pad):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    try:
        want = torch.nn.functional.pad(torch.tensor(x), pad, mode=mode).numpy()
    except (RuntimeError, NotImplementedError):
        with pytest.raises(ValueError):
            pad_forward(x, pad, mode)
    else:
        np.testing.assert_array_equal(pad_forward(x, pad, mode)[0], want)
