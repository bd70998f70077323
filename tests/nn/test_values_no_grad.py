"""ReLU and eval-mode BatchNorm that record nothing (``no_grad``, or inputs needing no gradient)
skip what only a backward reads (ReLU's mask, BatchNorm's kept ``x - mean``): their outputs must
be the pairs', bit for bit (NaN, infinities, signed zeros), with no node."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn
import numcnn.nn.functional as F
from numcnn import functional as P


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_unrecorded_relu_gives_the_pair_values_and_keeps_no_node(dtype, monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 5, 4)).astype(dtype)
    x.flat[:6] = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0]
    expected, _ = P.relu_forward(x)
    monkeypatch.setattr(P, "relu_forward", lambda *a, **k: pytest.fail("the mask was computed"))
    for out in (F.relu(numcnn.tensor(x)), _no_grad_relu(x)):
        assert out.dtype == dtype and out.requires_grad is False and out._node is None
        assert np.array_equal(out.data.view(np.uint8), expected.view(np.uint8))


def _no_grad_relu(x):
    with numcnn.no_grad():
        return F.relu(numcnn.tensor(x, requires_grad=True))


def test_recorded_relu_still_passes_gradients():
    x = numcnn.tensor(np.array([-1.0, 0.0, 2.0, np.nan]), requires_grad=True)
    F.relu(x).sum().backward()
    assert np.array_equal(x.grad, [0.0, 0.0, 1.0, 1.0])


def test_unrecorded_relu_names_a_bad_argument():
    with pytest.raises((TypeError, ValueError), match="x"):
        F.relu(numcnn.tensor(np.array([1, 2])))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5, 4), (2, 3, 2, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_unrecorded_eval_batch_norm_gives_the_pair_values(dtype, shape, affine, monkeypatch):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[:3] = [np.nan, np.inf, -0.0]
    mean, var = rng.standard_normal(3).astype(dtype), (rng.random(3) + 0.5).astype(dtype)
    weight, bias = (rng.standard_normal(3).astype(dtype), rng.standard_normal(3).astype(dtype)) if affine else (None, None)
    x_before = x.copy()
    expected, _ = P.batch_norm_forward(x, mean, var, weight, bias, training=False, eps=1e-3)
    monkeypatch.setattr(P, "batch_norm_forward", lambda *a, **k: pytest.fail("the cache was built"))
    with numcnn.no_grad():
        params = [None if p is None else numcnn.tensor(p, requires_grad=True) for p in (weight, bias)]
        out = F.batch_norm(numcnn.tensor(x, requires_grad=True), mean, var, *params, training=False, eps=1e-3)
    assert out.dtype == dtype and out.requires_grad is False and out._node is None
    assert np.array_equal(out.data.view(np.uint8), expected.view(np.uint8))
    assert np.array_equal(x.view(np.uint8), x_before.view(np.uint8))  # the caller's x untouched


def test_unrecorded_eval_batch_norm_still_needs_running_statistics():
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(numcnn.tensor(np.ones((2, 3))), None, None, training=False)
