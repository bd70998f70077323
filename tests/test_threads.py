"""Batch-parallel passes (numcnn._threads): the same results as one thread, on every split path."""

from __future__ import annotations

import os
import threading
import time

import warnings

import numpy as np
import pytest

import numcnn
from numcnn import _threads
from numcnn.functional.conv import Geometry, force_paths, plan_conv
from numcnn.functional import avg_pool as avg_pool_module
from numcnn.functional import pool as pool_module
from numcnn.functional import (
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv3d_backward,
    conv3d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool3d_backward,
    max_pool3d_forward,
)

CONV = {1: (conv1d_forward, conv1d_backward), 2: (conv2d_forward, conv2d_backward), 3: (conv3d_forward, conv3d_backward)}


@pytest.fixture
def split_everything(monkeypatch):
    """Split every pass over ``threads`` threads, however small (restored afterwards)."""
    saved = _threads._num_threads

    with force_paths(split=True):  # the convolutions' plans

        def apply(threads):
            numcnn.set_num_threads(threads)
            monkeypatch.setattr(pool_module, "_PARALLEL_MIN_WORK", 0)
            monkeypatch.setattr(avg_pool_module, "_PARALLEL_MIN_WORK", 0)

        yield apply
    _threads._num_threads = saved


def run_conv(nd, x, w, b, **options):
    forward, backward = CONV[nd]
    out, cache = forward(x, w, b, **options)
    split = len(cache.plan.parts) > 1
    assert split == (numcnn.get_num_threads() > 1 and _threads._blas_controller() is not None)
    dout = np.random.default_rng(9).standard_normal(out.shape)
    return (out,) + tuple(backward(dout, cache))


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize(
    "nd, n, c_in, c_out, k, options",
    [
        (2, 5, 3, 6, 3, dict(padding=1)),  # stride 1, flat dx
        (2, 4, 6, 4, 3, dict(padding=1)),  # correlation dx
        (2, 5, 4, 6, 3, dict(stride=2, padding=1, groups=2)),  # strided col2im
        (2, 4, 6, 8, 1, dict()),  # pointwise
        (2, 3, 4, 4, 3, dict(padding=1, groups=4)),  # depthwise
        (2, 4, 3, 4, 3, dict(padding=1, padding_mode="reflect")),
        (1, 5, 3, 5, 4, dict(padding="same", dilation=2)),
        (3, 3, 2, 4, 2, dict(padding=1)),
        (3, 3, 12, 40, 3, dict(padding=1)),  # stacked forward, weight gradient and dx
        (2, 4, 40, 40, 3, dict(padding=1)),  # stacked forward; dx by correlation, stacked too
    ],
)
def test_split_conv_matches_one_thread(split_everything, threads, nd, n, c_in, c_out, k, options):
    rng = np.random.default_rng(n + c_in + k)
    x = rng.standard_normal((n, c_in) + (7,) * nd)
    w = rng.standard_normal((c_out, c_in // options.get("groups", 1)) + (k,) * nd)
    b = rng.standard_normal(c_out)
    numcnn.set_num_threads(1)
    want = run_conv(nd, x, w, b, **options)
    split_everything(threads)
    got = run_conv(nd, x, w, b, **options)
    for g, e in zip(got, want):
        assert g.dtype == e.dtype and g.shape == e.shape
        # the same sums; BLAS may order them differently for other matrix sizes and thread
        # counts, and dw and db add one partial sum per part
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13)


def test_split_conv_transpose_matches_one_thread(split_everything):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 4, 6, 6))
    w = rng.standard_normal((4, 3, 3, 3))

    def both():
        out, cache = conv_transpose2d_forward(x, w, stride=2, padding=1, output_padding=1)
        return (out,) + tuple(conv_transpose2d_backward(np.cos(out), cache)[:2])

    numcnn.set_num_threads(1)
    want = both()
    split_everything(2)
    for g, e in zip(both(), want):
        np.testing.assert_allclose(g, e, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("threads", [2, 4])
@pytest.mark.parametrize(
    "nd, options",
    [
        (2, dict(kernel_size=2)),
        (2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        (3, dict(kernel_size=2, stride=1, dilation=2)),
    ],
)
def test_split_max_pool_matches_one_thread(split_everything, threads, nd, options):
    forward, backward = {2: (max_pool2d_forward, max_pool2d_backward), 3: (max_pool3d_forward, max_pool3d_backward)}[nd]
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, (5, 3) + (7,) * nd).astype(np.float32)  # many ties
    x[1, 0].flat[3] = np.nan  # one part takes the NaN-aware rerun, the others do not
    dout = rng.standard_normal(forward(x, **options)[0].shape).astype(np.float32)
    dout[3, 1].flat[0] = np.inf  # one part takes the masked-add backward
    numcnn.set_num_threads(1)
    out, cache = forward(x, **options)
    want = (out, cache.argmax, backward(dout, cache))
    split_everything(threads)
    out, cache = forward(x, **options)
    for g, e in zip((out, cache.argmax, backward(dout, cache)), want):
        np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize(
    "nd, options",
    [
        (2, dict(kernel_size=3, stride=2, padding=1)),
        (2, dict(kernel_size=2, ceil_mode=True, count_include_pad=False)),
        (2, dict(kernel_size=3, padding=1, divisor_override=2)),
        (1, dict(kernel_size=3, stride=1, padding=1)),
        (3, dict(kernel_size=2, stride=1)),
    ],
)
def test_split_avg_pool_matches_one_thread(split_everything, threads, nd, options):
    from numcnn import functional as F

    forward = getattr(F, f"avg_pool{nd}d_forward")
    backward = getattr(F, f"avg_pool{nd}d_backward")
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((5, 3) + (7,) * nd)
    dout = rng.standard_normal(forward(x, **options)[0].shape)
    numcnn.set_num_threads(1)
    out, cache = forward(x, **options)
    want = (out, backward(dout, cache))
    split_everything(threads)
    out, cache = forward(x, **options)
    for g, e in zip((out, backward(dout, cache)), want):
        np.testing.assert_array_equal(g, e)  # the same sums, part by part


def test_split_pass_does_not_modify_inputs(split_everything):
    split_everything(2)
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 3, 6, 6)), rng.standard_normal((5, 3, 3, 3))
    x0, w0 = x.copy(), w.copy()
    out, cache = conv2d_forward(x, w, padding=1)
    conv2d_backward(np.ones_like(out), cache)
    max_pool2d_backward(np.ones((4, 3, 3, 3)), max_pool2d_forward(x, 2)[1])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_parts_run_under_the_callers_errstate(split_everything):
    """np.errstate is per thread: the worker threads take the caller's setting for the pass."""
    split_everything(2)
    x = np.full((4, 3, 6, 6), np.inf)
    w = np.ones((4, 3, 3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(invalid="ignore", over="ignore"):
            conv2d_forward(x, -w, padding=1)  # inf - inf: NaN, silently as asked
    with np.errstate(invalid="raise"):
        with pytest.raises(FloatingPointError):
            # only the part on the worker thread divides
            _threads.run(lambda start, stop: start and np.zeros(1) / np.zeros(1), [(0, 1), (1, 2)], uses_blas=False)


def test_error_in_a_part_reaches_the_caller_after_every_part_finished():
    finished = []

    def fn(start, stop):
        if start == 0:
            raise RuntimeError("part 0 failed")
        finished.append(threading.current_thread().name)
        return start

    with pytest.raises(RuntimeError, match="part 0 failed"):
        _threads.run(fn, [(0, 1), (1, 2)], uses_blas=False)
    assert finished and finished[0].startswith("numcnn")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
@pytest.mark.parametrize("spare", [0, 1])
def test_parts_run_pinned_one_per_cpu_only_when_threads_match_the_cpus(monkeypatch, spare):
    cpus = [0, 1, 2] if spare else [0, 1]  # pretend the process may run on these
    monkeypatch.setattr(_threads, "_cpus", lambda: cpus)
    monkeypatch.setattr(_threads, "_num_threads", 2)
    monkeypatch.setattr(_threads, "_executor", None)
    pinned = []
    monkeypatch.setattr(os, "sched_setaffinity", lambda pid, mask: pinned.append((pid, set(mask))))
    # each part waits for the other: both run at once, so each on its own pool thread (a sleep
    # let one thread take both parts when the second was slow to start on a loaded machine)
    both_running = threading.Barrier(2, timeout=60)

    def part(start, stop):
        both_running.wait()
        return threading.current_thread().name

    try:
        names = _threads.run(part, [(0, 1), (1, 2)], uses_blas=False)
    finally:
        _threads._executor.shutdown(wait=True)
        _threads._executor = None
    assert all(name.startswith("numcnn") for name in names) and len(set(names)) == 2
    assert sorted(pinned, key=lambda p: min(p[1])) == ([] if spare else [(0, {0}), (0, {1})])


def test_parts_do_not_nest_and_small_work_stays_whole(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", 2)
    assert _threads.parts(8, 10, 100, uses_blas=False) == [(0, 8)]
    assert _threads.parts(1, 1e9, 0, uses_blas=False) == [(0, 1)]
    assert _threads.parts(7, 1e9, 0, uses_blas=False) == [(0, 3), (3, 7)]
    inner = _threads.run(lambda a, b: _threads.parts(8, 1e9, 0, uses_blas=False), [(0, 1), (1, 2)], uses_blas=False)
    assert inner == [[(0, 8)], [(0, 8)]]


@pytest.mark.parametrize(
    "x_shape, w_shape, stride, pad, groups, per_sample",
    [
        ((100, 3, 31, 31), (25, 3, 3, 3), 2, 1, 1, True),  # tiny per-sample GEMMs: one core when whole
        ((64, 6, 12, 12), (16, 6, 5, 5), 1, 0, 1, False),  # banded 2-D: one GEMM over the batch
        ((32, 64, 28, 28), (128, 64, 1, 1), 1, 0, 1, False),  # pointwise
        ((32, 64, 32, 32), (64, 1, 3, 3), 1, 1, 64, False),  # depthwise
        ((16, 32, 16, 16), (32, 32, 3, 3), 1, 1, 1, False),  # stacked GEMMs
        ((16, 128, 16, 16), (128, 128, 3, 3), 1, 1, 1, False),  # chunk GEMMs on every BLAS thread
    ],
)
def test_split_threshold_is_lower_where_a_whole_pass_uses_one_core(x_shape, w_shape, stride, pad, groups, per_sample):
    nd = len(x_shape) - 2
    geom = Geometry(x_shape, w_shape, (stride,) * nd, ((pad, pad),) * nd, (1,) * nd, groups)
    plan = plan_conv(geom, np.float32)
    assert plan.split_from == (8e6 if per_sample else 40e6)  # multiply-adds (notes/perf.md)
    assert (plan.forward_gemm == "per-sample") == per_sample


def test_without_a_blas_to_limit_blas_passes_stay_whole(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", 2)
    monkeypatch.setattr(_threads, "_blas", False)
    assert _threads.parts(8, 1e9, 0, uses_blas=True) == [(0, 8)]
    assert _threads.parts(8, 1e9, 0, uses_blas=False) == [(0, 4), (4, 8)]


def test_set_num_threads_and_environment(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", None)
    monkeypatch.setenv("NUMCNN_NUM_THREADS", "3")
    assert numcnn.get_num_threads() == 3
    monkeypatch.setenv("NUMCNN_NUM_THREADS", "zero")
    with pytest.raises(ValueError, match="NUMCNN_NUM_THREADS"):
        numcnn.get_num_threads()
    numcnn.set_num_threads(1)
    assert numcnn.get_num_threads() == 1
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="positive integer"):
            numcnn.set_num_threads(bad)


def test_split_max_unpool_matches_one_thread(split_everything, monkeypatch):
    from numcnn.functional import max_unpool2d_backward, max_unpool2d_forward
    from numcnn.functional import unpool as unpool_module

    rng = np.random.default_rng(6)
    (x, indices), _ = max_pool2d_forward(rng.standard_normal((5, 3, 8, 8)), 2, return_indices=True)
    dout = rng.standard_normal((5, 3, 8, 8))
    numcnn.set_num_threads(1)
    out, cache = max_unpool2d_forward(x, indices, 2)
    want = (out, max_unpool2d_backward(dout, cache))
    split_everything(2)
    monkeypatch.setattr(unpool_module, "_PARALLEL_MIN_ELEMENTS", 0)
    out, cache = max_unpool2d_forward(x, indices, 2)
    assert len(cache.targets) == 2
    for g, e in zip((out, max_unpool2d_backward(dout, cache)), want):
        np.testing.assert_array_equal(g, e)
    bad = indices.copy()
    bad[4, 2, 0, 0] = 64  # in the second part
    with pytest.raises(ValueError, match="index 64 in indices is out of range"):
        max_unpool2d_forward(x, bad, 2)


def test_blas_threads_restored_after_concurrent_callers(split_everything):
    controller = _threads._blas_controller()
    if controller is None:
        pytest.skip("threadpoolctl finds no BLAS library to limit here")
    before = [lib.num_threads for lib in controller.lib_controllers]
    split_everything(2)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((4, 3, 8, 8)), rng.standard_normal((5, 3, 3, 3))
    errors = []

    def user():
        try:
            for _ in range(20):
                out, cache = conv2d_forward(x, w, padding=1)
                conv2d_backward(np.ones_like(out), cache)
        except Exception as error:  # surfaced by the assert below
            errors.append(error)

    users = [threading.Thread(target=user) for _ in range(3)]
    for t in users:
        t.start()
    for t in users:
        t.join()
    assert not errors
    controller = _threads._blas_controller()
    assert [lib.num_threads for lib in controller.lib_controllers] == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")  # Python >= 3.12
def test_split_passes_work_in_a_forked_child(split_everything):
    """The executor's threads do not survive a fork; the child must not wait on them forever."""
    split_everything(2)
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8))
    max_pool2d_forward(x, 2)  # the parent's executor now exists
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the split pass completes
        try:
            out, cache = max_pool2d_forward(x, 2)
            max_pool2d_backward(np.ones_like(out), cache)
            os._exit(0)
        except BaseException:
            os._exit(1)
    deadline = time.monotonic() + 20
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung on the parent's thread pool")
        time.sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
