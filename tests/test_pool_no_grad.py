"""Max pooling that records nothing (``no_grad``, or an input needing no gradient) skips the
backward's argmax: its output must be the recording pass's, value for value (NaN, -inf, ties,
signed zeros, padding, dilation, ceil mode), and it must keep no node."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn
import numcnn.nn.functional as F
from numcnn import functional as P


def _awkward(rng, shape):
    """Values with many ties, zeros of both signs, -inf and NaN."""
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    x[rng.random(shape) < 0.1] = -0.0
    x[rng.random(shape) < 0.05] = -np.inf
    x[rng.random(shape) < 0.03] = np.nan
    return x


@pytest.mark.parametrize(
    "nd, shape, options",
    [
        (2, (2, 3, 9, 11), dict(kernel_size=3, stride=2, padding=1)),
        (2, (2, 3, 9, 11), dict(kernel_size=2)),
        (2, (1, 2, 10, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True)),
        (1, (2, 3, 13), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
        (3, (1, 2, 5, 6, 7), dict(kernel_size=3, stride=2, padding=1)),
    ],
)
def test_unrecorded_max_pool_gives_the_recorded_values(nd, shape, options):
    rng = np.random.default_rng(nd)
    for dtype in (np.float64, np.float32):
        x = _awkward(rng, shape).astype(dtype)
        expected, _ = getattr(P, f"max_pool{nd}d_forward")(x, **options)
        pool = getattr(F, f"max_pool{nd}d")
        recorded = pool(numcnn.tensor(x, requires_grad=True), **options)
        assert recorded._node is not None
        with numcnn.no_grad():
            free = pool(numcnn.tensor(x, requires_grad=True), **options)
        assert free._node is None and not free.requires_grad
        for out in (recorded.data, free.data, pool(x, **options).data):
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))


def test_max_pool_module_under_no_grad_keeps_no_cache():
    pool = numcnn.nn.MaxPool2d(3, 2, 1)
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8)).astype(np.float32)
    with numcnn.no_grad():
        out = pool(x)
    assert pool._explicit is None
    np.testing.assert_array_equal(out, P.max_pool2d_forward(x, 3, 2, 1)[0])
