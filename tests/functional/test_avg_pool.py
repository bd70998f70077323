"""avg_pool{1,2,3}d without PyTorch: numeric gradients, and PyTorch's divisor rules at padded
and ceil-mode edges on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from tests.functional.op_checks import check_op_grads


AVG = {1: (F.avg_pool1d_forward, F.avg_pool1d_backward), 2: (F.avg_pool2d_forward, F.avg_pool2d_backward),
       3: (F.avg_pool3d_forward, F.avg_pool3d_backward)}


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize(
    "nd,spatial,kernel,stride,padding,ceil_mode,divisor_override",
    [
        (1, (7,), 3, 2, 1, True, None),
        (2, (5, 6), (3, 2), (2, 1), (1, 1), True, None),
        (2, (5, 5), 3, 3, 1, False, None),
        (2, (4, 5), 2, 1, 0, False, 3),
        (3, (3, 4, 5), (2, 3, 2), 2, (1, 1, 0), True, None),
    ],
)
def test_avg_pool_gradients(nd, spatial, kernel, stride, padding, ceil_mode, divisor_override, count_include_pad):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3) + spatial)
    fwd, bwd = AVG[nd]
    kwargs = dict(stride=stride, padding=padding, ceil_mode=ceil_mode, count_include_pad=count_include_pad)
    if divisor_override is not None:
        kwargs["divisor_override"] = divisor_override
    check_op_grads(fwd, bwd, (x,), ("dx",), kernel_size=kernel, **kwargs)


def test_avg_pool_divisors_at_padded_and_ceil_edges():
    """H=5, k=3, s=2, p=1, ceil_mode: windows [-1,2), [1,4), [3,6) -- the last one overhangs the
    padded input (which ends at 6) by nothing, but with H=4 [3,6) overhangs it (ends at 5)."""
    x = np.ones((1, 1, 4))
    inc, _ = F.avg_pool1d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=True)
    exc, _ = F.avg_pool1d_forward(x, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    # windows: [-1,2) -> 2 of 3 real; [1,4) -> 3 real; [3,6) clipped to [3,5): 1 real, 1 pad.
    np.testing.assert_allclose(inc.ravel(), [2 / 3, 1.0, 1 / 2])
    np.testing.assert_allclose(exc.ravel(), [1.0, 1.0, 1.0])
    over, _ = F.avg_pool2d_forward(np.ones((1, 1, 4, 4)), 2, divisor_override=3)
    np.testing.assert_allclose(over, np.full((1, 1, 2, 2), 4 / 3))
