"""Unbatched (C, *spatial) inputs, PyTorch's convention, for every conv, transposed conv, pool and
unpool: the same numbers as the batch of one, no batch axis in the results, and (where torch is
importable) the same as PyTorch's own unbatched call, forward and every gradient."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from numcnn.functional._batch import UnbatchedCache

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

RNG = np.random.default_rng(14)
SPATIAL = {1: (9,), 2: (7, 8), 3: (5, 6, 5)}


def _case(op, nd):
    """(x, kwargs, backward-returns-parameter-grads) for ``op`` with ``nd`` spatial dimensions."""
    x = RNG.standard_normal((3,) + SPATIAL[nd])
    k = (3,) * nd
    if op == "conv":
        return x, dict(weight=RNG.standard_normal((4, 3) + k), bias=RNG.standard_normal(4), stride=2, padding=1), True
    if op == "conv_transpose":
        return x, dict(weight=RNG.standard_normal((3, 2) + k), bias=RNG.standard_normal(2), stride=2, output_padding=1), True
    if op == "max_pool":
        return x, dict(kernel_size=3, stride=2, padding=1, return_indices=True), False
    if op == "avg_pool":
        return x, dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), False
    if op == "adaptive_avg_pool":
        return x, dict(output_size=(2,) * nd), False
    if op == "adaptive_max_pool":
        return x, dict(output_size=(3,) * nd, return_indices=True), False
    if op == "max_unpool":
        pool = getattr(F, f"max_pool{nd}d_forward")
        (out, indices), _ = pool(x, 2, return_indices=True)
        return out, dict(indices=indices, kernel_size=2, output_size=SPATIAL[nd]), False
    raise AssertionError(op)


OPS = ["conv", "conv_transpose", "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "max_unpool"]
CASES = [(op, nd) for op in OPS for nd in (1, 2, 3)]


def _run(op, nd, x, kwargs):
    """Forward then backward with a seeded dout: (results, dout, grads)."""
    forward, backward = getattr(F, f"{op}{nd}d_forward"), getattr(F, f"{op}{nd}d_backward")
    results, cache = forward(x, **kwargs)
    out = results[0] if isinstance(results, tuple) else results
    dout = np.random.default_rng(out.size).standard_normal(out.shape)
    grads = backward(dout, cache)
    return results, cache, dout, grads


@pytest.mark.parametrize("op,nd", CASES)
def test_unbatched_is_the_batch_of_one_without_its_axis(op, nd):
    x, kwargs, has_params = _case(op, nd)
    batched_kwargs = {k: (v[None] if k == "indices" else v) for k, v in kwargs.items()}
    results, cache, dout, grads = _run(op, nd, x, kwargs)
    want_results, _, _, want_grads = _run(op, nd, x[None], batched_kwargs)
    assert isinstance(cache, UnbatchedCache)
    if not isinstance(results, tuple):
        results, want_results = (results,), (want_results,)
    for got, want in zip(results, want_results):
        assert got.shape == want.shape[1:]
        np.testing.assert_array_equal(got, want[0])
    if has_params:
        (dx, dw, db), (want_dx, want_dw, want_db) = grads, want_grads
        np.testing.assert_allclose(dw, want_dw, rtol=1e-12)
        np.testing.assert_allclose(db, want_db, rtol=1e-12)
    else:
        dx, want_dx = grads, want_grads
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, want_dx[0], rtol=1e-12, atol=1e-12)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("op,nd", CASES)
def test_unbatched_matches_torch(op, nd):
    x, kwargs, has_params = _case(op, nd)
    results, _, dout, grads = _run(op, nd, x, kwargs)
    tx = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.tensor(v, requires_grad=k in ("weight", "bias")) if isinstance(v, np.ndarray) else v
           for k, v in kwargs.items()}
    tresults = getattr(torch.nn.functional, f"{op}{nd}d")(tx, **tkw)
    if not isinstance(results, tuple):
        results, tresults = (results,), (tresults,)
    for got, want in zip(results, tresults):
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    tresults[0].backward(torch.tensor(dout))
    dx = grads[0] if has_params else grads
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    if has_params:
        np.testing.assert_allclose(grads[1], tkw["weight"].grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(grads[2], tkw["bias"].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_unbatched_conv_with_a_padding_mode_and_no_input_grad():
    x, w = RNG.standard_normal((2, 6, 6)), RNG.standard_normal((3, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, padding=1, padding_mode="reflect")
    want, want_cache = F.conv2d_forward(x[None], w, padding=1, padding_mode="reflect")
    np.testing.assert_array_equal(out, want[0])
    dout = RNG.standard_normal(out.shape)
    dx, dw, db = F.conv2d_backward(dout, cache, input_grad=False)
    assert dx is None and db is None
    np.testing.assert_allclose(dw, F.conv2d_backward(dout[None], want_cache)[1], rtol=1e-12)


def test_unbatched_unpool_takes_indices_by_position_or_keyword():
    x = RNG.standard_normal((2, 6, 6))
    (out, indices), _ = F.max_pool2d_forward(x, 2, return_indices=True)
    by_position, _ = F.max_unpool2d_forward(out, indices, 2)
    by_keyword, _ = F.max_unpool2d_forward(out, indices=indices, kernel_size=2, output_size=(6, 6))
    np.testing.assert_array_equal(by_position, by_keyword)
    assert by_position.shape == (2, 6, 6)
    # output_size takes nd or nd + 2 entries, batched or not, as PyTorch's F.max_unpool2d
    full, _ = F.max_unpool2d_forward(out, indices, 2, output_size=(1, 2, 6, 6))
    np.testing.assert_array_equal(full, by_position)


@pytest.mark.parametrize(
    "call,error,match",
    [
        (lambda: F.conv2d_forward(np.zeros((8, 8)), np.zeros((1, 1, 3, 3))), ValueError,
         r"x must be 3-D \(C, H, W\) \(unbatched\) or 4-D \(N, C, H, W\), got shape \(8, 8\)"),
        (lambda: F.avg_pool1d_forward(np.zeros((2, 3, 4, 5)), 2), ValueError, r"x must be 2-D \(C, L\) \(unbatched\) or 3-D"),
        (lambda: F.max_pool3d_forward(np.zeros((4, 4, 4)), 2), ValueError, r"x must be 4-D \(C, D, H, W\) \(unbatched\) or 5-D"),
        (lambda: F.max_unpool2d_forward(np.zeros((2, 3, 3)), np.zeros((1, 2, 3, 3), np.int64), 2), ValueError,
         r"indices must have the shape of x \(2, 3, 3\), got \(1, 2, 3, 3\)"),
        (lambda: F.max_unpool2d_forward(np.zeros((2, 3, 3)), [[0]], 2), TypeError, "indices must be an integer numpy.ndarray"),
        (lambda: F.max_pool2d_backward(np.zeros((1, 2, 2, 2)), F.max_pool2d_forward(np.zeros((2, 4, 4)), 2)[1]),
         ValueError, r"dout must have the forward output's shape \(2, 2, 2\), got \(1, 2, 2, 2\)"),
        (lambda: F.conv1d_backward([0.0], F.conv1d_forward(np.zeros((1, 4)), np.zeros((1, 1, 3)))[1]),
         TypeError, "dout must be a numpy.ndarray"),
    ],
)
def test_unbatched_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_batched_calls_pass_straight_through():
    out, cache = F.max_pool2d_forward(np.zeros((1, 2, 4, 4)), 2)
    assert not isinstance(cache, UnbatchedCache) and out.shape == (1, 2, 2, 2)
    assert F.max_pool2d_forward.__name__ == "max_pool2d_forward" and "PyTorch" in F.max_pool2d_forward.__doc__
