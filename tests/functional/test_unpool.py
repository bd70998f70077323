"""max_pool's return_indices (flat per plane, as PyTorch) and max_unpool{1,2,3}d: numeric
gradients and output_size."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from tests.functional.op_checks import check_op_grads, distinct


def test_max_pool_return_indices_flat_per_plane():
    x = np.array([[[[1.0, 5.0, 2.0], [7.0, 3.0, 9.0], [4.0, 8.0, 6.0]]]])
    (out, idx), cache = F.max_pool2d_forward(x, 2, stride=1, return_indices=True)
    assert out[0, 0].tolist() == [[7.0, 9.0], [8.0, 9.0]]
    assert idx[0, 0].tolist() == [[3, 5], [7, 5]] and idx.dtype == np.int64
    (_, idx), _ = F.max_pool2d_forward(x, 3, stride=2, padding=1, return_indices=True)
    assert idx[0, 0].tolist() == [[3, 5], [7, 5]]
    # backward is unchanged by return_indices
    dx = F.max_pool2d_backward(np.ones(out.shape), cache)
    assert dx[0, 0].tolist() == [[0, 0, 0], [1, 0, 2], [0, 1, 0]]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_gradients(nd):
    rng = np.random.default_rng(6)
    x = distinct(rng, (2, 2) + (4,) * nd)
    pool = {1: F.max_pool1d_forward, 2: F.max_pool2d_forward, 3: F.max_pool3d_forward}[nd]
    unpool = {1: (F.max_unpool1d_forward, F.max_unpool1d_backward), 2: (F.max_unpool2d_forward, F.max_unpool2d_backward),
              3: (F.max_unpool3d_forward, F.max_unpool3d_backward)}[nd]
    (out, idx), _ = pool(x, 2, return_indices=True)
    y, cache = unpool[0](out, idx, 2)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y[y != 0], x[y != 0])
    check_op_grads(lambda v, **kw: unpool[0](v, idx, 2, **kw), unpool[1], (out,), ("dx",))


def test_max_unpool_output_size():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    (out, idx), _ = F.max_pool2d_forward(x, 2, return_indices=True)
    y, _ = F.max_unpool2d_forward(out, idx, 2, output_size=x.shape)
    assert y.shape == x.shape and y[0, 0, 3, 3] == 18.0
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d_forward(out, idx, 2, output_size=(6, 6))
