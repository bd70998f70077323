"""What every layer op of numcnn.functional (linear, activations, normalisation, dropout,
cross-entropy) keeps: float32 stays float32, and bad arguments, douts and caches give errors
that name the argument."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numcnn import functional as F


@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), seed=st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_ops_keep_float32(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    c = shape[1]
    w = np.ones((3, shape[-1]), np.float32)
    for out, cache, back in [
        (*F.linear_forward(x, w), F.linear_backward),
        (*F.relu_forward(x), F.relu_backward),
        (*F.leaky_relu_forward(x), F.leaky_relu_backward),
        (*F.dropout_forward(x, 0.5, rng=1), F.dropout_backward),
        (*F.batch_norm_forward(x, np.zeros(c, np.float32), np.ones(c, np.float32), training=False), F.batch_norm_backward),
    ]:
        g = back(np.ones_like(out), cache)
        g = g[0] if isinstance(g, tuple) else g
        assert out.dtype == np.float32 and g.dtype == np.float32


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: F.linear_forward(np.ones((2, 4)), np.ones((3, 5))), ValueError, r"4 features.*in_features=5"),
        (lambda: F.linear_forward(np.ones((2, 5)), np.ones(5)), ValueError, "weight must be 2-D"),
        (lambda: F.linear_forward(np.ones((2, 5)), np.ones((3, 5)), np.ones(4)), ValueError, r"bias must have shape \(3,\)"),
        (lambda: F.linear_forward(np.ones((2, 5), np.float32), np.ones((3, 5))), TypeError, "dtype"),
        (lambda: F.linear_forward([[1.0]], np.ones((1, 1))), TypeError, "x must be a numpy.ndarray"),
        (lambda: F.relu_forward(np.ones(3, dtype=int)), TypeError, "floating dtype"),
        (lambda: F.batch_norm_forward(np.ones((4, 3)), np.zeros(2), np.ones(2)), ValueError, r"running_mean must have shape \(3,\)"),
        (lambda: F.batch_norm_forward(np.ones((1, 3)), None, None, training=True), ValueError, "more than 1 value per channel"),
        (lambda: F.batch_norm_forward(np.ones((4, 3)), None, None), ValueError, "eval mode"),
        (lambda: F.batch_norm_forward(np.ones(3), None, None, training=True), ValueError, "at least 2 dimensions"),
        (lambda: F.group_norm_forward(np.ones((2, 6, 3)), 4), ValueError, "must divide"),
        (lambda: F.layer_norm_forward(np.ones((2, 6)), 5), ValueError, "normalized_shape"),
        (lambda: F.dropout_forward(np.ones(3), 1.5), ValueError, "between 0 and 1"),
        (lambda: F.dropout_forward(np.ones(3), -0.1), ValueError, "between 0 and 1"),
        (lambda: F.dropout_forward(np.ones(3), "0.5"), TypeError, "real number"),
        (lambda: F.cross_entropy(np.ones((3, 4)), np.array([0, 4, 1])), ValueError, r"labels must be in \[0, 3\].*\[4\]"),
        (lambda: F.cross_entropy(np.ones((3, 4)), np.array([0, -1, 1])), ValueError, r"labels must be in"),
        (lambda: F.cross_entropy(np.ones((3, 4)), np.array([0, 1])), ValueError, r"y must have shape \(3,\)"),
        (lambda: F.cross_entropy(np.ones((3, 4)), np.array([0.0, 1.0, 2.0])), TypeError, "integer class indices"),
        (lambda: F.cross_entropy(np.ones(4), np.array([0])), ValueError, "at least 2 dimensions"),
        (lambda: F.cross_entropy(np.ones((3, 4)), np.array([0, 1, 2]), label_smoothing=2.0), ValueError, "label_smoothing"),
    ],
)
def test_errors_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_backward_checks_dout_and_cache():
    out, cache = F.linear_forward(np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 4\)"):
        F.linear_backward(np.ones((2, 3)), cache)
    with pytest.raises(TypeError, match="LinearCache"):
        F.linear_backward(out, F.relu_forward(out)[1])
