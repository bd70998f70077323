"""numcnn.functional's layer ops (linear, activations, normalisation, dropout, cross-entropy):
numeric gradient checks in float64, dtype rules, purity, and the error messages."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from numcnn import functional as F
from tests.gradcheck import check_positional_op_gradients
from tests.helpers import numeric_grad, rel_error


def check_grads(forward, backward, arrays, kwargs=None, grad_index=None, tol=1e-6, seed=0):
    """:func:`tests.gradcheck.check_positional_op_gradients` with CS231n's relative error below
    ``tol``: ``arrays`` are the forward's leading positional arguments in order, ``grad_index``
    maps a name to its gradient's position in backward's result (None: held constant)."""
    return check_positional_op_gradients(forward, backward, arrays, kwargs, grad_index, seed=seed, h=1e-5, max_rel_error=tol)


rng = np.random.default_rng(231)


def randn(*shape):
    return rng.standard_normal(shape)


@pytest.mark.parametrize("x_shape", [(4, 5), (2, 3, 5), (5,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients(x_shape, bias):
    arrays = {"x": randn(*x_shape), "weight": randn(3, 5)}
    if bias:
        arrays["bias"] = randn(3)
    out = check_grads(F.linear_forward, F.linear_backward, arrays)
    expected = arrays["x"] @ arrays["weight"].T + (arrays["bias"] if bias else 0)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    if not bias:
        _, cache = F.linear_forward(arrays["x"], arrays["weight"])
        assert F.linear_backward(np.ones(out.shape), cache)[2] is None


def _away_from_zero(*shape):
    x = randn(*shape)
    return np.where(np.abs(x) < 1e-2, 0.5, x)


def test_relu_gradient_and_zero_rule():
    check_grads(F.relu_forward, F.relu_backward, {"x": _away_from_zero(3, 4, 5)})
    out, cache = F.relu_forward(np.array([-1.0, 0.0, 2.0, np.nan]))
    assert np.isnan(out[3]) and out[:3].tolist() == [0.0, 0.0, 2.0]
    # x == 0 -> 0; a NaN output passes its gradient (torch's threshold_backward: out <= 0 ? 0 : g)
    assert F.relu_backward(np.ones(4), cache).tolist() == [0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu_gradient(slope):
    check_grads(F.leaky_relu_forward, F.leaky_relu_backward, {"x": _away_from_zero(2, 3, 4)}, {"negative_slope": slope})


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (3, 2, 3, 4), (2, 2, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_gradients(shape, affine):
    c = shape[1]
    arrays = {"x": randn(*shape) * 2 + 1, "running_mean": randn(c), "running_var": rng.random(c) + 0.5}
    if affine:
        arrays.update(weight=randn(c), bias=randn(c))
    gi = {"x": 0, "running_mean": None, "running_var": None, "weight": 1, "bias": 2}
    check_grads(F.batch_norm_forward, F.batch_norm_backward, arrays, {"training": True}, gi)


def test_batch_norm_eval_gradients_treat_running_stats_as_constants():
    c = 3
    arrays = {"x": randn(4, c, 3, 3), "running_mean": randn(c), "running_var": rng.random(c) + 0.5,
              "weight": randn(c), "bias": randn(c)}
    gi = {"x": 0, "running_mean": None, "running_var": None, "weight": 1, "bias": 2}
    out = check_grads(F.batch_norm_forward, F.batch_norm_backward, arrays, {"training": False}, gi)
    shape = (1, c, 1, 1)
    expected = (arrays["x"] - arrays["running_mean"].reshape(shape)) / np.sqrt(arrays["running_var"].reshape(shape) + 1e-5)
    np.testing.assert_allclose(out, expected * arrays["weight"].reshape(shape) + arrays["bias"].reshape(shape), rtol=1e-12)


def test_batch_norm_is_pure_and_updates_running_stats_like_pytorch():
    x = randn(8, 2, 3)
    rm, rv = np.zeros(2), np.ones(2)
    out, cache = F.batch_norm_forward(x, rm, rv, training=True, momentum=0.1)
    assert rm.tolist() == [0.0, 0.0] and rv.tolist() == [1.0, 1.0]  # inputs untouched
    mean = x.mean(axis=(0, 2))
    unbiased = x.var(axis=(0, 2), ddof=1)
    np.testing.assert_allclose(cache.running_mean, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(cache.running_var, 0.9 + 0.1 * unbiased, rtol=1e-12)
    # normalised with the biased variance
    np.testing.assert_allclose(out.var(axis=(0, 2)), x.var(axis=(0, 2)) / (x.var(axis=(0, 2)) + 1e-5), rtol=1e-10)
    # eval mode leaves them as they were
    _, cache = F.batch_norm_forward(x, rm, rv, training=False)
    assert cache.running_mean is rm and cache.running_var is rv


def test_layer_norm_and_group_norm_gradients():
    arrays = {"x": randn(3, 4, 5), "weight": randn(4, 5), "bias": randn(4, 5)}
    check_grads(lambda x, w, b: F.layer_norm_forward(x, (4, 5), w, b), F.layer_norm_backward, arrays)
    arrays = {"x": randn(2, 6, 3, 2), "weight": randn(6), "bias": randn(6)}
    check_grads(lambda x, w, b: F.group_norm_forward(x, 3, w, b), F.group_norm_backward, arrays)
    check_grads(lambda x: F.group_norm_forward(x, 2), lambda d, c: F.group_norm_backward(d, c)[0], {"x": randn(2, 4, 3)})


@pytest.mark.parametrize("p", [0.0, 0.3, 0.9])
def test_dropout_gradient_with_a_fixed_mask(p):
    # the same seed gives the same mask, so the forward is a fixed linear map of x
    fwd = lambda x: F.dropout_forward(x, p, True, np.random.default_rng(5))  # noqa: E731
    check_grads(fwd, F.dropout_backward, {"x": randn(4, 50)})


def test_dropout_statistics_and_modes():
    x = np.ones((200, 500), dtype=np.float32)
    out, _ = F.dropout_forward(x, 0.25, rng=np.random.default_rng(0))
    assert out.dtype == np.float32
    assert set(np.unique(out).tolist()) <= {0.0, np.float32(1 / 0.75)}
    assert abs((out == 0).mean() - 0.25) < 0.01 and abs(out.mean() - 1.0) < 0.02
    a, _ = F.dropout_forward(x, 0.5, rng=np.random.default_rng(3))
    b, _ = F.dropout_forward(x, 0.5, rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert F.dropout_forward(x, 0.5, training=False)[0] is x
    assert not F.dropout_forward(x, 1.0)[0].any()


def test_cross_entropy_gradient_and_values():
    logits, y = randn(5, 4), np.array([0, 3, 1, 1, 2])
    for ls in (0.0, 0.2):
        loss, d = F.cross_entropy(logits, y, label_smoothing=ls)
        num = numeric_grad(lambda v: np.array(F.cross_entropy(v, y, label_smoothing=ls)[0]), logits, np.array(1.0), h=1e-5)
        assert rel_error(d, num) < 1e-7
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    assert F.cross_entropy(logits, y)[0] == pytest.approx(-logp[np.arange(5), y].mean(), rel=1e-12)
    # (N, C, d) logits with (N, d) targets
    logits3, y3 = randn(2, 3, 4), rng.integers(0, 3, (2, 4))
    _, d3 = F.cross_entropy(logits3, y3)
    num = numeric_grad(lambda v: np.array(F.cross_entropy(v, y3)[0]), logits3, np.array(1.0), h=1e-5)
    assert rel_error(d3, num) < 1e-7


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


# --- error messages --------------------------------------------------------------------------


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
