"""ReLU that records nothing (``no_grad``, or an input needing no gradient) skips the backward's
mask: its output must be the pair's, bit for bit (NaN, infinities, signed zeros), with no node."""

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
