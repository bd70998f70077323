"""batch_norm (train and eval), layer_norm, group_norm: numeric gradients in float64, purity,
and the running statistics' update as PyTorch's."""

import numpy as np
import pytest

from numcnn import functional as F
from tests.functional.op_checks import check_grads

rng = np.random.default_rng(231)


def randn(*shape):
    return rng.standard_normal(shape)


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
