"""max-pool's paths (with and without NaN handling; backward by multiplication or by masked
adds) against the loop twin of numcnn.reference (the spec), and against CS231n's reference."""

from __future__ import annotations

import numpy as np
import pytest

from numcnn import reference
from numcnn.functional import max_pool2d_backward, max_pool2d_forward


def direct_max_pool(x, k, s, p, dout):
    """The loop twin's output and gradient (numcnn.reference, the spec): per window, scanned
    row-major from the first position inside the input, a value takes over if strictly greater
    or NaN (ties keep the first, the last NaN wins); padding never wins; the gradient is added at
    the winner."""
    out, cache = reference.max_pool2d_forward(x, k, s, p)
    return out, reference.max_pool2d_backward(dout, cache)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 1), (3, 3, 0), (3, 1, 1), (2, 1, 0), (3, 2, 0)])
@pytest.mark.parametrize("values", ["ties", "nan", "inf"])
@pytest.mark.parametrize("dout_kind", ["finite", "nonfinite"])
def test_max_pool_paths_match_direct(k, s, p, values, dout_kind):
    rng = np.random.default_rng(k * 10 + s)
    x = rng.integers(-2, 3, size=(2, 3, 7, 8)).astype(np.float64)  # many ties
    if values == "nan":
        x[0, 0, 1, 1] = np.nan
        x[1, 2, 3:5, 3:5] = np.nan
    elif values == "inf":
        x[0, 1] = -np.inf  # all -inf windows: the first position inside the input wins
        x[1, 0, 2, 2] = np.inf
    out, cache = max_pool2d_forward(x, k, s, p)
    dout = rng.standard_normal(out.shape)
    if dout_kind == "nonfinite":
        dout[0, 0, 0, 0] = np.inf
        dout[1, 1, -1, -1] = np.nan
    dx = max_pool2d_backward(dout, cache)
    want_out, want_dx = direct_max_pool(x, k, s, p, dout)
    np.testing.assert_array_equal(out, want_out)
    # overlapping windows add in another order: equal up to rounding, NaN/inf in the same places
    np.testing.assert_allclose(dx, want_dx, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_matches_cs231n_reference_with_overlap(dtype):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, size=(2, 3, 9, 9)).astype(dtype)
    for k, s in [(2, 2), (3, 2), (3, 1)]:
        param = {"pool_height": k, "pool_width": k, "stride": s}
        want, cache = reference.max_pool_forward_naive(x, param)
        got, fast_cache = max_pool2d_forward(x, k, s)
        dout = rng.standard_normal(got.shape).astype(dtype)
        dx = max_pool2d_backward(dout, fast_cache)
        assert got.dtype == dx.dtype == dtype
        np.testing.assert_array_equal(got, want)
        # an input can win up to k*k overlapping windows: a sum of <= 9 float32 terms of size < 5,
        # added in another order, so it may differ by a few ulp of 45 (atol 1e-5)
        atol = 1e-5 if dtype == np.float32 else 1e-13
        np.testing.assert_allclose(dx, reference.max_pool_backward_naive(dout, cache), rtol=0, atol=atol)
