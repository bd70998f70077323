"""linear_forward/backward: numeric gradients in float64, with and without bias."""

import numpy as np
import pytest

from numcnn import functional as F
from tests.functional.op_checks import check_grads

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
