"""The pieces of data parallelism that need no MPI: batch shards, Dropout's rows of a global mask,
and synchronised BatchNorm against one process holding the whole batch."""

import numpy as np
import pytest
from hypothesis import given, strategies as st

from numcnn.distributed import shard, shard_bounds
from numcnn.functional import batch_norm_backward, batch_norm_forward, dropout_forward


@given(n=st.integers(0, 300), world=st.integers(1, 17))
def test_shards_are_disjoint_contiguous_and_cover_the_batch(n, world):
    bounds = [shard_bounds(n, r, world) for r in range(world)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    for (_, stop), (start, _) in zip(bounds, bounds[1:]):
        assert stop == start  # contiguous and disjoint, in rank order
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1  # an uneven batch loses nothing and stays balanced
    parts = [shard(np.arange(n), r, world) for r in range(world)]
    np.testing.assert_array_equal(np.concatenate(parts), np.arange(n))


@pytest.mark.parametrize("rank, world", [(2, 2), (-1, 2), (0, 0)])
def test_shard_bounds_rejects_a_rank_outside_the_world(rank, world):
    with pytest.raises(ValueError, match="rank"):
        shard_bounds(10, rank, world)


@given(n=st.integers(1, 40), world=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_dropout_rows_are_the_global_masks_rows(n, world, seed):
    x = np.ones((n, 3, 2), dtype=np.float64)
    whole, _ = dropout_forward(x, 0.5, True, np.random.default_rng(seed))
    for r in range(world):
        start, stop = shard_bounds(n, r, world)
        rng = np.random.default_rng(seed)
        part, _ = dropout_forward(x[start:stop], 0.5, True, rng, rows=(start, n))
        np.testing.assert_array_equal(part, whole[start:stop])


def test_dropout_rows_advance_the_generator_as_the_whole_batch():
    a, b = np.random.default_rng(1), np.random.default_rng(1)
    dropout_forward(np.ones((6, 4)), 0.5, True, a)
    dropout_forward(np.ones((2, 4)), 0.5, True, b, rows=(3, 6))
    assert a.random() == b.random()


def test_dropout_rows_outside_the_batch_are_an_error():
    with pytest.raises(ValueError, match="rows"):
        dropout_forward(np.ones((4, 2)), 0.5, True, 0, rows=(3, 6))


def test_synchronised_batch_norm_matches_the_whole_batch():
    """Two ranks holding the same shard (reduce doubles the sums) see the statistics and gradients
    of the batch made of both shards, in one formula."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 5, 5))
    w, b = rng.normal(size=4), rng.normal(size=4)
    dout = rng.normal(size=x.shape)
    rm, rv = np.zeros(4), np.ones(4)
    whole, wcache = batch_norm_forward(np.concatenate([x, x]), rm, rv, w, b, training=True)
    dwhole = batch_norm_backward(np.concatenate([dout, dout]), wcache)
    part, pcache = batch_norm_forward(x, rm, rv, w, b, training=True, reduce=lambda a: 2 * a)
    dpart = batch_norm_backward(dout, pcache)
    np.testing.assert_allclose(part, whole[:3], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pcache.running_mean, wcache.running_mean, rtol=1e-12)
    np.testing.assert_allclose(pcache.running_var, wcache.running_var, rtol=1e-12)
    np.testing.assert_allclose(dpart[0], dwhole[0][:3], rtol=1e-10, atol=1e-12)
    # the parameters' gradients stay this shard's: the gradient allreduce adds the other's
    np.testing.assert_allclose(2 * dpart[1], dwhole[1], rtol=1e-12)
    np.testing.assert_allclose(2 * dpart[2], dwhole[2], rtol=1e-12)


def test_synchronised_batch_norm_takes_an_empty_shard():
    x = np.zeros((0, 2, 3), dtype=np.float32)
    def others(a):  # the other ranks: sums 1 and 2 over 6 values, then squares and gradient sums of 1
        return a + np.array([1.0, 2.0, 6.0]) if a.shape == (3,) else a + 1.0

    out, cache = batch_norm_forward(x, None, None, training=True, reduce=others)
    assert out.shape == x.shape and out.dtype == np.float32
    dx, _, _ = batch_norm_backward(np.zeros_like(x), cache)
    assert dx.shape == x.shape
