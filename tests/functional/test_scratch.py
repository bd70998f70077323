"""Per-thread scratch buffers (numcnn.functional._scratch): reused, never shared, bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn.functional import (
    _scratch,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv3d_backward,
    conv3d_forward,
)


def test_same_name_reuses_memory_other_names_and_threads_do_not():
    _scratch.clear()
    a = _scratch.scratch("a", 1000, np.float32)
    b = _scratch.scratch("a", 500, np.float64)  # smaller request, same memory
    c = _scratch.scratch("c", 1000, np.float32)
    assert a.shape == (1000,) and a.dtype == np.float32 and b.dtype == np.float64
    assert np.shares_memory(a, b) and not np.shares_memory(a, c)
    other = []
    thread = threading.Thread(target=lambda: other.append(_scratch.scratch("a", 1000, np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(a, other[0])
    bigger = _scratch.scratch("a", 4000, np.float32)  # grows: new memory, kept for next time
    assert not np.shares_memory(a, bigger) and np.shares_memory(bigger, _scratch.scratch("a", 10, np.float32))
    _scratch.clear()


def test_clear_scratch_drops_every_threads_buffers():
    import numcnn

    mine = _scratch.scratch("a", 100, np.float32)
    other = []
    thread = threading.Thread(target=lambda: other.append(_scratch.scratch("a", 100, np.float32)))
    thread.start()
    thread.join()
    numcnn.clear_scratch()
    assert not any(_scratch._stores)  # every thread's store is empty
    assert not np.shares_memory(mine, _scratch.scratch("a", 100, np.float32))


def test_a_finished_threads_buffers_are_freed():
    import gc

    thread = threading.Thread(target=lambda: _scratch.scratch("a", 1 << 16, np.float32))
    before = len(_scratch._stores)
    thread.start()
    thread.join()
    del thread
    gc.collect()
    assert len(_scratch._stores) <= before


def test_requests_past_the_cap_are_not_kept(monkeypatch):
    _scratch.clear()
    monkeypatch.setattr(_scratch, "_MAX_BYTES", 4096)
    small = _scratch.scratch("small", 512, np.float32)  # 2 KiB: kept
    huge = _scratch.scratch("huge", 1024, np.float32)  # 4 KiB more: past the cap, not kept
    assert np.shares_memory(small, _scratch.scratch("small", 512, np.float32))
    assert not np.shares_memory(huge, _scratch.scratch("huge", 1024, np.float32))
    _scratch.clear()


@pytest.mark.parametrize(
    "forward, backward, x_shape, w_shape, padding",
    [
        (conv2d_forward, conv2d_backward, (3, 40, 9, 9), (48, 40, 3, 3), 1),  # stacked, correlation dx
        (conv2d_forward, conv2d_backward, (3, 40, 9, 9), (48, 40, 3, 3), 0),  # dx buffer returned as is
        (conv3d_forward, conv3d_backward, (2, 12, 5, 6, 5), (40, 12, 3, 3, 3), 1),  # stacked dx
        (conv3d_forward, conv3d_backward, (2, 12, 5, 6, 5), (40, 12, 3, 3, 3), 0),
        (conv2d_forward, conv2d_backward, (3, 4, 9, 9), (6, 4, 3, 3), 1),  # im2col and flat dx
    ],
)
def test_results_do_not_alias_scratch(forward, backward, x_shape, w_shape, padding):
    """Two passes in a row: the first results stay as they were (nothing returned lives in scratch)."""
    rng = np.random.default_rng(0)
    first = None
    for _ in range(2):
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        out, cache = forward(x, w, padding=padding)
        dx, dw, _ = backward(np.cos(out), cache)
        if first is None:
            first = [(a, a.copy()) for a in (out, dx, dw)]
    for live, saved in first:
        np.testing.assert_array_equal(live, saved)


@pytest.mark.parametrize("stride", [1, 2])
def test_single_plane_gradients_do_not_alias_scratch(stride):
    """N = C = 1 with padding along one axis: the unpadded region of the padded gradient is
    itself contiguous, so it must be copied out, not returned as a view of scratch."""
    rng = np.random.default_rng(1)
    first = None
    for _ in range(2):
        x, w = rng.standard_normal((1, 1, 9, 40)), rng.standard_normal((3, 1, 3, 3))  # wide: not banded
        out, cache = conv2d_forward(x, w, stride=stride, padding=(1, 0))
        dx, dw, _ = conv2d_backward(np.cos(out), cache)
        if first is None:
            first = (dx, dx.copy())
    np.testing.assert_array_equal(*first)


def test_banded_rows_kept_in_the_cache_are_not_scratch():
    """The banded 2-D path keeps its kernel-row windows for the backward; with one channel and a
    1 x k kernel they are a contiguous block of the (scratch) padded input, so they must be a copy."""
    from numcnn.functional.conv import force_paths

    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 1, 5, 6)), rng.standard_normal((4, 1, 1, 3))
    with force_paths(forward="band2d"):
        out, cache = conv2d_forward(x, w, padding=(0, 1))
    assert cache.plan.forward == "band2d"
    dout = np.cos(out)
    want = conv2d_backward(dout, cache)
    conv2d_forward(rng.standard_normal(x.shape), w, padding=(0, 1))  # reuses this thread's scratch
    for got, expected in zip(conv2d_backward(dout, cache)[:2], want[:2]):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("x_shape, w_shape", [((1, 3, 5, 5), (4, 3, 1, 1)), ((2, 1, 6, 6), (3, 1, 1, 1))])
def test_kept_columns_are_not_scratch(x_shape, w_shape):
    """A padded 1x1 conv of one sample (or one channel): its im2col is a plain view of the padded
    input, which lives in scratch; the columns kept for the backward must be a copy."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    out, cache = conv2d_forward(x, w, padding=1)
    dout = np.cos(out)
    want = conv2d_backward(dout, cache)
    conv2d_forward(rng.standard_normal(x_shape), w, padding=1)  # reuses this thread's scratch
    for got, expected in zip(conv2d_backward(dout, cache)[:2], want[:2]):
        np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    nd=st.integers(1, 3),
    n=st.integers(1, 3),
    c_in=st.sampled_from([1, 2, 3, 40]),
    c_out=st.sampled_from([1, 3, 48]),
    kernel=st.lists(st.integers(1, 3), min_size=3, max_size=3),
    stride=st.integers(1, 2),
    pad=st.lists(st.integers(0, 2), min_size=3, max_size=3),
    depthwise=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_a_pass_in_between_changes_no_result(nd, n, c_in, c_out, kernel, stride, pad, depthwise, seed):
    """Forward A, then a forward of other data on the same thread (reusing every scratch buffer),
    then A's backward: the same gradients as without the pass in between, and A's output and
    gradients unchanged by a later pass."""
    forward, backward = {1: (conv1d_forward, conv1d_backward), 2: (conv2d_forward, conv2d_backward),
                         3: (conv3d_forward, conv3d_backward)}[nd]
    groups = c_in if depthwise else 1
    c_out = c_in if depthwise else c_out
    kernel, pad = tuple(kernel[:nd]), tuple(pad[:nd])
    rng = np.random.default_rng(seed)
    spatial = tuple(k + 2 + int(rng.integers(0, 4)) for k in kernel)
    x = rng.standard_normal((n, c_in) + spatial)
    w = rng.standard_normal((c_out, c_in // groups) + kernel)
    options = dict(stride=stride, padding=pad, groups=groups)
    out, cache = forward(x, w, **options)
    dout = rng.standard_normal(out.shape)
    _, clean_cache = forward(x.copy(), w, **options)
    want = backward(dout, clean_cache)
    saved_out = out.copy()
    forward(rng.standard_normal(x.shape), w, **options)  # overwrites this thread's scratch
    got = backward(dout, cache)
    saved_got = [g.copy() for g in got[:2]]
    forward(rng.standard_normal(x.shape), w, **options)
    backward(rng.standard_normal(out.shape), cache)
    np.testing.assert_array_equal(out, saved_out)
    for g, saved, e in zip(got[:2], saved_got, want[:2]):
        np.testing.assert_array_equal(saved, e)
        np.testing.assert_array_equal(g, saved)
