"""The CS231n assignment-2 notebook's own checks, run against the naive reference loops and the
fast drop-in (numcnn.cs231n): fixed linspace inputs with the notebook's expected values, and the
seed-231 gradient checks with errors around 1e-8 or below."""

import numpy as np
import pytest

from numcnn import cs231n, reference
from tests.gradcheck import check_op_gradients, check_positional_op_gradients, rel_error

CONV = {
    "reference": (reference.conv_forward_naive, reference.conv_backward_naive),
    "fast": (cs231n.conv_forward_fast, cs231n.conv_backward_fast),
}
POOL = {
    "reference": (reference.max_pool_forward_naive, reference.max_pool_backward_naive),
    "fast": (cs231n.max_pool_forward_fast, cs231n.max_pool_backward_fast),
}


@pytest.mark.parametrize("impl", CONV)
def test_conv_forward_linspace(impl):
    forward, _ = CONV[impl]
    x_shape, w_shape = (2, 3, 4, 4), (3, 3, 4, 4)
    x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
    w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
    b = np.linspace(-0.1, 0.2, num=3)
    out, _ = forward(x, w, b, {"stride": 2, "pad": 1})
    correct_out = np.array(
        [
            [
                [[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
                [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
                [[0.50813986, 0.54309974], [0.64082444, 0.67101435]],
            ],
            [
                [[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
                [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
                [[2.36270298, 2.36904306], [2.38090835, 2.38247847]],
            ],
        ]
    )
    assert rel_error(out, correct_out) < 5e-8  # expected values are rounded to 8 decimals


@pytest.mark.parametrize("impl", CONV)
def test_conv_backward_fixed_values(impl):
    forward, backward = CONV[impl]
    np.random.seed(231)
    x = np.random.randn(2, 2, 3, 3)
    w = np.random.randn(2, 2, 2, 2)
    b = np.random.randn(3)[:2]  # the published check draws 3 biases for 2 filters
    dout = np.random.randn(2, 2, 6, 6)
    out, cache = forward(x, w, b, {"stride": 1, "pad": 2})
    dx, dw, db = backward(dout, cache)
    dx_correct = np.array(
        [
            [
                [[-0.99586749, 2.17409167, -0.45352415], [-1.41899788, -0.64510689, 2.07242211], [-2.53884708, -0.82629111, 0.78561257]],
                [[2.88860475, -0.42936398, 2.62903049], [1.40539801, 0.75107387, 0.16949314], [1.20343246, 3.00942677, -3.29852985]],
            ],
            [
                [[0.12246593, -5.26511368, -0.97937742], [5.39620988, -3.1473564, 2.77271701], [1.91213639, -1.78738795, 5.53291789]],
                [[-0.20174922, 5.17612768, 2.07536866], [5.99681263, 1.39950946, 1.13419772], [2.84893118, 0.82971516, 2.88537637]],
            ],
        ]
    )
    dw_correct = np.array(
        [
            [[[-4.6241439, 1.8094091], [2.73723036, 1.93393013]], [[-2.96136066, -1.71379998], [-4.22428831, 1.91391067]]],
            [[[-2.3100721, -0.26151352], [-0.14307245, -1.20981533]], [[2.07924848, -2.76650744], [0.03612067, -0.63962934]]],
        ]
    )
    assert out.shape == (2, 2, 6, 6)
    assert rel_error(dx, dx_correct) < 1e-7
    assert rel_error(dw, dw_correct) < 1e-7
    assert rel_error(db, [-26.3931733, -23.88900438]) < 1e-8


@pytest.mark.parametrize("impl", CONV)
def test_conv_backward_seed231_gradcheck(impl):
    forward, backward = CONV[impl]
    np.random.seed(231)
    x = np.random.randn(4, 3, 5, 5)
    w = np.random.randn(2, 3, 3, 3)
    b = np.random.randn(2)
    dout = np.random.randn(4, 2, 5, 5)
    conv_param = {"stride": 1, "pad": 1}
    arrays = {"x": x, "w": w, "b": b}
    # The notebook reports dx ~1.2e-8, dw ~2e-10, db ~3e-11 for a correct implementation.
    for name, tol in (("x", 3e-8), ("w", 1e-9), ("b", 1e-9)):
        positions = {other: (i if other == name else None) for i, other in enumerate(arrays)}
        check_positional_op_gradients(lambda x, w, b: forward(x, w, b, conv_param), backward, arrays,
                                      grad_positions=positions, dout=dout, h=1e-5, max_rel_error=tol)


@pytest.mark.parametrize("impl", POOL)
def test_max_pool_forward_linspace(impl):
    forward, _ = POOL[impl]
    x_shape = (2, 3, 4, 4)
    x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
    out, _ = forward(x, {"pool_width": 2, "pool_height": 2, "stride": 2})
    correct_out = np.array(
        [
            [
                [[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
                [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
                [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]],
            ],
            [
                [[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
                [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
                [[0.32631579, 0.34105263], [0.38526316, 0.4]],
            ],
        ]
    )
    assert rel_error(out, correct_out) < 1e-7


@pytest.mark.parametrize("impl", POOL)
def test_max_pool_backward_seed231_gradcheck(impl):
    forward, backward = POOL[impl]
    np.random.seed(231)
    x = np.random.randn(3, 2, 8, 8)
    dout = np.random.randn(3, 2, 4, 4)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    check_op_gradients(lambda x: forward(x, pool_param), backward, {"x": x}, dout=dout, h=1e-5, max_rel_error=1e-11)


@pytest.mark.parametrize("impl", POOL)
def test_max_pool_backward_overlapping_windows_accumulate(impl):
    """2x2 windows at stride 1 overlap: a maximum shared by two windows gets both gradients."""
    forward, backward = POOL[impl]
    np.random.seed(231)
    x = np.random.randn(2, 2, 3, 3)
    dout = np.random.randn(2, 2, 2, 2)
    _, cache = forward(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    dx = backward(dout, cache)
    dx_correct = [
        [[[0, -0.72618213, 0], [0, 0, 0], [0, -1.99893926, 0]], [[0, 0, 0], [0, -1.9069208, 0.55304798], [0, 0, 0]]],
        [[[0, 1.07324902, 0], [1.27292534, 0, 1.58102968], [0, 0, 0]], [[0, 0, 0], [0, -2.94423441, 0], [0, 0, 0]]],
    ]
    assert rel_error(dx, dx_correct) < 1e-8


def test_fast_matches_naive_on_the_speed_test_shapes():
    """The notebook's fast-layer comparison: x (N, 3, 31, 31), w (25, 3, 3, 3), stride 2, pad 1,
    and 2x2 max-pooling of (N, 3, 32, 32); N = 10 of the notebook's 100 (the naive loops are
    per sample, and the samples alike)."""
    np.random.seed(231)
    x = np.random.randn(10, 3, 31, 31)
    w = np.random.randn(25, 3, 3, 3)
    b = np.random.randn(25)
    dout = np.random.randn(10, 25, 16, 16)
    conv_param = {"stride": 2, "pad": 1}
    out_naive, cache_naive = cs231n.conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = cs231n.conv_forward_fast(x, w, b, conv_param)
    assert rel_error(out_naive, out_fast) < 1e-10
    for naive, fast in zip(cs231n.conv_backward_naive(dout, cache_naive), cs231n.conv_backward_fast(dout, cache_fast)):
        assert rel_error(naive, fast) < 1e-10

    x = np.random.randn(10, 3, 32, 32)
    dout = np.random.randn(10, 3, 16, 16)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out_naive, cache_naive = cs231n.max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = cs231n.max_pool_forward_fast(x, pool_param)
    assert rel_error(out_naive, out_fast) == 0
    assert rel_error(cs231n.max_pool_backward_naive(dout, cache_naive), cs231n.max_pool_backward_fast(dout, cache_fast)) == 0
