"""Per-thread scratch buffers (numcnn.functional._scratch): reused, never shared, bounded."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from numcnn.functional import _scratch, conv2d_backward, conv2d_forward, conv3d_backward, conv3d_forward


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
