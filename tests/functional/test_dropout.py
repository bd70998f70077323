"""dropout: the gradient through a fixed mask, the mask's statistics, train and eval modes."""

import numpy as np
import pytest

from numcnn import functional as F
from tests.functional.op_checks import check_grads

rng = np.random.default_rng(231)


def randn(*shape):
    return rng.standard_normal(shape)


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
