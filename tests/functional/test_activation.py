"""relu and leaky_relu: numeric gradients, and PyTorch's rules at zero and for NaN."""

import numpy as np
import pytest

from numcnn import functional as F
from tests.functional.op_checks import check_grads

rng = np.random.default_rng(231)


def randn(*shape):
    return rng.standard_normal(shape)


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
