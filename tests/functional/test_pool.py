"""max_pool{1,2,3}d: numeric gradients over a grid of options, PyTorch's tie/NaN/-inf rules,
overlapping windows, reference == fast, dtype and purity."""

import itertools

import numpy as np
import pytest

from numcnn import reference
from numcnn.functional import (
    max_pool1d_backward,
    max_pool1d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool3d_backward,
    max_pool3d_forward,
)
from tests.gradcheck import check_op_gradients

PAIRS = {1: (max_pool1d_forward, max_pool1d_backward), 2: (max_pool2d_forward, max_pool2d_backward), 3: (max_pool3d_forward, max_pool3d_backward)}


def distinct_values(shape, seed):
    """Values at least 1e-3 apart, so a 1e-5 step never changes which element is the maximum."""
    rng = np.random.default_rng(seed)
    return rng.permutation(np.prod(shape)).reshape(shape) * 1e-3 - 0.5


def check_gradients(nd, x_shape, **options):
    forward, backward = PAIRS[nd]
    x = distinct_values(x_shape, seed=len(options) + sum(x_shape))
    # piecewise linear: away from ties the centred difference is exact up to rounding
    check_op_gradients(forward, backward, dict(x=x, **options), h=1e-5, max_rel_error=1e-8)


GRID_2D = [
    dict(kernel_size=k, stride=s, padding=p, dilation=d, ceil_mode=c)
    for k, s, p, d, c in itertools.product([2, 3, (3, 2)], [None, 1, 2, (2, 1)], [0, 1], [1, 2], [False, True])
]


@pytest.mark.parametrize("options", GRID_2D, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_max_pool2d_gradients(options):
    check_gradients(2, (2, 2, 7, 6), **options)


@pytest.mark.parametrize(
    "nd,x_shape,options",
    [
        (1, (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        (1, (2, 2, 9), dict(kernel_size=2, dilation=3)),
        (3, (1, 2, 5, 4, 5), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), ceil_mode=True)),
        (3, (1, 1, 4, 4, 4), dict(kernel_size=2)),
    ],
)
def test_max_pool1d_3d_gradients(nd, x_shape, options):
    check_gradients(nd, x_shape, **options)


def test_ties_go_to_the_first_maximum_in_scan_order():
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 0.0, 3.0], [2.0, 3.0, 1.0]]]])
    out, cache = max_pool2d_forward(x, 3)
    assert out[0, 0, 0, 0] == 3.0
    dx = max_pool2d_backward(np.ones_like(out), cache)
    expected = np.zeros_like(x)
    expected[0, 0, 0, 1] = 1.0  # only the first 3 in row-major order
    np.testing.assert_array_equal(dx, expected)


def test_overlapping_windows_accumulate_on_a_shared_maximum():
    x = np.zeros((1, 1, 3, 3))
    x[0, 0, 1, 1] = 5.0  # the max of all four 2x2 windows at stride 1
    out, cache = max_pool2d_forward(x, 2, stride=1)
    dx = max_pool2d_backward(np.arange(1.0, 5.0).reshape(1, 1, 2, 2), cache)
    assert dx[0, 0, 1, 1] == 1 + 2 + 3 + 4
    assert dx.sum() == 10


def test_3x3_stride_2_overlap_matches_reference():
    x = np.round(np.random.default_rng(4).standard_normal((2, 3, 9, 9)), 1)  # many ties
    out_ref, cache_ref = reference.max_pool_forward_naive(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    out, cache = max_pool2d_forward(x, 3, stride=2)
    np.testing.assert_array_equal(out, out_ref)
    dout = np.random.default_rng(5).standard_normal(out.shape)
    np.testing.assert_allclose(max_pool2d_backward(dout, cache), reference.max_pool_backward_naive(dout, cache_ref), rtol=1e-14)


def test_nan_propagates_and_the_last_nan_gets_the_gradient():
    x = np.array([[[[np.nan, 1.0, np.nan, 2.0]]]])
    out, cache = max_pool2d_forward(x, (1, 4))
    assert np.isnan(out[0, 0, 0, 0])
    dx = max_pool2d_backward(np.ones_like(out), cache)
    np.testing.assert_array_equal(dx, [[[[0.0, 0.0, 1.0, 0.0]]]])  # PyTorch's CPU kernel: index 2


def test_all_minus_inf_window_points_at_its_first_position_inside_the_input():
    x = np.full((1, 1, 1, 4), -np.inf)
    out, cache = max_pool2d_forward(x, (1, 3), stride=2, padding=(0, 1))
    np.testing.assert_array_equal(out, np.full((1, 1, 1, 2), -np.inf))
    dx = max_pool2d_backward(np.array([[[[1.0, 10.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[1.0, 10.0, 0.0, 0.0]]]])


@pytest.mark.parametrize(
    "size,kernel,stride,padding,expected",
    [
        (5, 2, 2, 0, 3),  # ceil: (5-2)/2 -> 1.5 -> 2, +1
        (6, 3, 2, 1, 4),  # (6+2-3)/2 = 2.5 -> 3, +1; last window starts at 6 = size + pad - ... kept
        (5, 3, 2, 1, 3),  # (5+2-3)/2 = 2 exactly
        (4, 2, 3, 1, 2),  # ceil gives 3, but window 3 would start at 6 - 1 = 5 >= size + pad: dropped
    ],
)
def test_ceil_mode_output_sizes(size, kernel, stride, padding, expected):
    x = np.zeros((1, 1, size, size))
    out, _ = max_pool2d_forward(x, kernel, stride=stride, padding=padding, ceil_mode=True)
    assert out.shape[2:] == (expected, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(dtype)
    out, cache = max_pool2d_forward(x, 3, stride=2, padding=1)
    assert out.dtype == dtype
    assert max_pool2d_backward(np.ones(out.shape, dtype), cache).dtype == dtype


def test_inputs_are_not_modified_and_outputs_do_not_alias():
    x = np.random.default_rng(1).standard_normal((2, 2, 4, 4))
    x_copy = x.copy()
    out, cache = max_pool2d_forward(x, 2)
    out += 100.0
    np.testing.assert_array_equal(x, x_copy)
    dout = np.ones((2, 2, 2, 2))
    dx = max_pool2d_backward(dout, cache)
    dx += 1
    np.testing.assert_array_equal(dout, 1.0)


def test_stride_defaults_to_kernel_size():
    x = np.random.default_rng(2).standard_normal((1, 1, 6, 6))
    a, _ = max_pool2d_forward(x, 3)
    b, _ = max_pool2d_forward(x, 3, stride=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (1, 1, 2, 2)


@pytest.mark.parametrize("nd, kernel", [(1, 2), (2, 2), (2, 3), (3, 2)])
def test_losing_positions_get_positive_zero_gradients(nd, kernel):
    """PyTorch adds the gradient into zeros, so every position that wins no window holds +0.0,
    also where dout is negative (dout * 0 would be -0.0)."""
    import numcnn.functional as F

    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 3) + (6,) * nd)
    out, cache = getattr(F, f"max_pool{nd}d_forward")(x, kernel)
    dout = -np.abs(rng.standard_normal(out.shape)) - 0.5  # negative everywhere
    dx = getattr(F, f"max_pool{nd}d_backward")(dout, cache)
    losers = dx == 0
    assert losers.sum() == x.size - out.size
    assert not np.signbit(dx[losers]).any()
