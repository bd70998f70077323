"""cross_entropy: values and numeric gradients (with label smoothing, (N, C, d) logits),
stability at extreme logits, dtype."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numcnn import functional as F
from tests.helpers import numeric_grad

rng = np.random.default_rng(231)


def randn(*shape):
    return rng.standard_normal(shape)


def test_cross_entropy_gradient_and_values():
    logits, y = randn(5, 4), np.array([0, 3, 1, 1, 2])
    for ls in (0.0, 0.2):
        loss, d = F.cross_entropy(logits, y, label_smoothing=ls)
        num = numeric_grad(lambda v: np.array(F.cross_entropy(v, y, label_smoothing=ls)[0]), logits, np.array(1.0), h=1e-5)
        # CS231n's relative error alone is noise-bound on entries near 0 (the centred difference's
        # rounding, ~1e-11 absolute): an absolute floor for those
        np.testing.assert_allclose(d, num, rtol=1e-7, atol=1e-10)
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert F.cross_entropy(logits, y)[0] == pytest.approx(-logp[np.arange(5), y].mean(), rel=1e-12)
    # (N, C, d) logits with (N, d) targets
    logits3, y3 = randn(2, 3, 4), rng.integers(0, 3, (2, 4))
    _, d3 = F.cross_entropy(logits3, y3)
    num = numeric_grad(lambda v: np.array(F.cross_entropy(v, y3)[0]), logits3, np.array(1.0), h=1e-5)
    np.testing.assert_allclose(d3, num, rtol=1e-7, atol=1e-10)


def test_cross_entropy_is_stable_and_keeps_dtype():
    logits = np.array([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 0.0]], dtype=np.float32)
    loss, d = F.cross_entropy(logits, np.array([0, 0]))
    assert np.isfinite(loss) and loss == pytest.approx(1e4, rel=1e-6) and d.dtype == np.float32
    # softmax - one-hot, over the batch of 2: exactly 0 and 1 after the max is subtracted
    np.testing.assert_allclose(d, [[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0]], atol=1e-7)
    assert F.softmax(logits).dtype == np.float32
    np.testing.assert_allclose(F.softmax(logits).sum(1), 1.0, rtol=1e-6)


@given(n=st.integers(1, 4), c=st.integers(1, 6), ls=st.floats(0, 1), seed=st.integers(0, 2**16))
@settings(max_examples=25, deadline=None)
def test_cross_entropy_gradient_property(n, c, ls, seed):
    r = np.random.default_rng(seed)
    logits, y = r.standard_normal((n, c)) * 3, r.integers(0, c, n)
    loss, d = F.cross_entropy(logits, y, label_smoothing=ls)
    assert loss >= 0 or c == 1
    np.testing.assert_allclose(d.sum(axis=1), 0, atol=1e-12)  # softmax - q sums to 0 per row
    num = numeric_grad(lambda v: np.array(F.cross_entropy(v, y, label_smoothing=ls)[0]), logits, np.array(1.0), h=1e-5)
    np.testing.assert_allclose(d, num, rtol=1e-6, atol=1e-9)  # relative error alone is noise-bound near 0
