"""adaptive_{avg,max}_pool{1,2,3}d without PyTorch: numeric gradients, PyTorch's windows,
NaN and tie rules."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from tests.functional.op_checks import check_op_grads, distinct


ADAPTIVE = {
    ("avg", 1): (F.adaptive_avg_pool1d_forward, F.adaptive_avg_pool1d_backward),
    ("avg", 2): (F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward),
    ("avg", 3): (F.adaptive_avg_pool3d_forward, F.adaptive_avg_pool3d_backward),
    ("max", 1): (F.adaptive_max_pool1d_forward, F.adaptive_max_pool1d_backward),
    ("max", 2): (F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward),
    ("max", 3): (F.adaptive_max_pool3d_forward, F.adaptive_max_pool3d_backward),
}


@pytest.mark.parametrize("kind", ["avg", "max"])
@pytest.mark.parametrize(
    "nd,spatial,output_size",
    [(1, (7,), 3), (2, (5, 7), (3, 4)), (2, (3, 2), (5, 3)), (2, (4, 4), 1), (2, (5, 6), (None, 4)),
     (3, (3, 4, 5), (2, 3, 2))],
)
def test_adaptive_pool_gradients(kind, nd, spatial, output_size):
    rng = np.random.default_rng(5)
    x = distinct(rng, (2, 2) + spatial)
    fwd, bwd = ADAPTIVE[(kind, nd)]
    check_op_grads(fwd, bwd, (x,), ("dx",), output_size=output_size)


def test_adaptive_windows_and_global_pooling():
    x = np.arange(2 * 3 * 5 * 6, dtype=np.float64).reshape(2, 3, 5, 6)
    out, _ = F.adaptive_avg_pool2d_forward(x, 1)
    np.testing.assert_allclose(out, x.mean(axis=(2, 3), keepdims=True))
    out, _ = F.adaptive_avg_pool2d_forward(x, (5, 6))
    np.testing.assert_array_equal(out, x)
    # In=5, Out=3: windows [0,2), [1,4), [3,5)
    out, _ = F.adaptive_max_pool1d_forward(np.array([[[5.0, 1.0, 2.0, 9.0, 3.0]]]), 3)
    assert out.ravel().tolist() == [5.0, 9.0, 9.0]


def test_adaptive_max_nan_and_ties():
    x = np.array([[[[1.0, 1.0], [np.nan, 0.0]]]])
    (out, idx), _ = F.adaptive_max_pool2d_forward(x, 1, return_indices=True)
    assert np.isnan(out).all() and idx.ravel().tolist() == [2]
    (out, idx), _ = F.adaptive_max_pool2d_forward(np.ones((1, 1, 2, 2)), 1, return_indices=True)
    assert idx.ravel().tolist() == [0]  # ties: first in row-major order


@pytest.mark.parametrize("special", ["ties", "nan", "minus_inf"])
@pytest.mark.parametrize(
    "nd,spatial,output_size",
    [(1, (9,), 3), (2, (8, 6), (4, 3)), (2, (5, 5), 1), (3, (4, 4, 6), (2, 2, 3))],
)
def test_adaptive_max_as_a_max_pool_matches_the_gathers(monkeypatch, special, nd, spatial, output_size):
    """Windows of one size side by side take the max-pool path; its values, indices (ties: the
    first, NaN: the last) and dx equal the general gather path's."""
    from numcnn.functional import adaptive_pool

    rng = np.random.default_rng(len(spatial) + sum(spatial))
    x = np.round(rng.standard_normal((2, 3) + spatial))  # ties
    if special != "ties":
        x.ravel()[rng.integers(0, x.size, 6)] = np.nan if special == "nan" else -np.inf
    fwd, bwd = ADAPTIVE[("max", nd)]
    (out, idx), cache = fwd(x, output_size, return_indices=True)
    assert cache.pool_cache is not None
    dout = rng.standard_normal(out.shape)
    dx = bwd(dout, cache)
    monkeypatch.setattr(adaptive_pool, "_uniform_windows", lambda spatial, sizes: None)
    (want_out, want_idx), want_cache = fwd(x, output_size, return_indices=True)
    assert want_cache.pool_cache is None
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(idx, want_idx)
    np.testing.assert_array_equal(dx, bwd(dout, want_cache))


def test_adaptive_avg_nan_stays_in_its_window():
    x = np.zeros((1, 1, 6))
    x[0, 0, 0] = np.nan
    out, _ = F.adaptive_avg_pool1d_forward(x, 3)
    assert np.isnan(out[0, 0, 0]) and not np.isnan(out[0, 0, 1:]).any()
