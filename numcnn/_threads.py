"""Batch-parallel execution: the large conv and pooling passes split their batch over threads.

NumPy runs its copies and element-wise loops on one core, with the GIL released, and BLAS
threads only the GEMMs.  On the 2-core machine of notes/perf.md a conv pass is about half
copies, so numcnn splits a large batch into one contiguous part per thread and runs each part's
whole pass (copies and GEMMs) on its own thread, with BLAS limited to one thread meanwhile
(otherwise two BLAS thread pools would fight over the cores).  Small passes stay on the calling
thread: handing work to another thread costs tens of microseconds.

BLAS is limited with ``threadpoolctl`` (a dependency).  Where it finds no BLAS library to
control (a NumPy built against one it does not know), only the passes that make no BLAS calls
(pooling) are split.

The thread count is ``numcnn.set_num_threads(n)``, else the ``NUMCNN_NUM_THREADS`` environment
variable, else the CPUs this process may run on.  Results depend on the thread count only
through the order of floating-point sums (the weight gradient adds one partial sum per part).
"""

from __future__ import annotations

import concurrent.futures
from concurrent.futures import ThreadPoolExecutor
import contextlib
import os
import threading

import numpy as np

__all__ = ["get_num_threads", "set_num_threads"]

_lock = threading.Lock()
_num_threads: int | None = None
_executor: ThreadPoolExecutor | None = None
_executor_size = 0
_blas = None  # threadpoolctl controller of the BLAS libraries, False when there is none to control
_local = threading.local()  # .busy: this thread is already running a part (no nesting)


def _default_threads() -> int:
    env = os.environ.get("NUMCNN_NUM_THREADS")
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"NUMCNN_NUM_THREADS must be a positive integer, got {env!r}") from None
        if value < 1:
            raise ValueError(f"NUMCNN_NUM_THREADS must be a positive integer, got {env!r}")
        return value
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """Threads numcnn splits a large batch over (see :func:`set_num_threads`)."""
    return _num_threads if _num_threads is not None else _default_threads()


def set_num_threads(n: int) -> None:
    """Split large conv and pooling passes over ``n`` threads (1: never split).

    BLAS inside each part runs on one thread; the GEMMs of unsplit (small) passes keep BLAS's own
    thread count, which this does not change.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
    _num_threads = n


def _blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries, or None where it finds none."""
    global _blas
    if _blas is None:
        # imported here, not at module level: it inspects every library loaded in the process
        from threadpoolctl import ThreadpoolController

        blas = ThreadpoolController().select(user_api="blas")
        # NumPy's own BLAS (bundled in its wheels) when it can be told apart from others
        # loaded in the process, e.g. PyTorch's MKL, which numcnn has no business limiting
        ours = [lib for lib in blas.lib_controllers if "numpy" in lib.filepath]
        if ours:
            blas = blas.select(filepath=[lib.filepath for lib in ours])
        _blas = blas if blas.lib_controllers else False  # none found: nothing to limit
    return _blas or None


def parts(n: int, work: float, min_work: float, uses_blas: bool) -> list[tuple[int, int]]:
    """Batch ranges, one per thread, when ``work`` (any unit) reaches ``min_work``; else [(0, n)]."""
    threads = min(get_num_threads(), n)
    if threads < 2 or work < min_work or getattr(_local, "busy", False):
        return [(0, n)]
    if uses_blas and _blas_controller() is None:
        return [(0, n)]
    bounds = [n * i // threads for i in range(threads + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def run(fn, ranges, uses_blas: bool):
    """``[fn(start, stop) for start, stop in ranges]``, the ranges on parallel threads.

    The parts run on the pool's threads while the calling thread waits (see :func:`_get_executor`
    for why it does not run one itself).  With ``uses_blas``, BLAS is limited to one
    thread for the duration.  Every part runs under the caller's floating-point error handling
    (``np.errstate``), which is per thread.
    """
    if len(ranges) == 1:
        return [fn(*ranges[0])]
    executor = _get_executor(len(ranges))
    errors = np.geterr()
    with _blas_single_thread() if uses_blas else contextlib.nullcontext():
        futures = [executor.submit(_part, fn, start, stop, errors) for start, stop in ranges]
        concurrent.futures.wait(futures)  # every part, even after an error in one
    return [f.result() for f in futures]


_blas_users = 0
_blas_saved = None


@contextlib.contextmanager
def _blas_single_thread():
    """BLAS on one thread while any caller is inside; the first in saves the setting, the last
    out restores it (callers on several user threads must not restore each other's limit)."""
    global _blas_users, _blas_saved
    with _lock:
        if _blas_users == 0:
            _blas_saved = _blas_controller().limit(limits=1)
        _blas_users += 1
    try:
        yield
    finally:
        with _lock:
            _blas_users -= 1
            if _blas_users == 0:
                _blas_saved.restore_original_limits()
                _blas_saved = None


def _part(fn, start, stop, errors=None):
    _local.busy = True
    try:
        with np.errstate(**errors) if errors else contextlib.nullcontext():
            return fn(start, stop)
    finally:
        _local.busy = False


def _forget_after_fork():
    """A forked child has none of the parent's threads: start a fresh executor when needed (the
    inherited one would queue work for threads that do not exist, and wait forever)."""
    global _executor, _executor_size, _lock, _blas_users, _blas_saved
    _executor, _executor_size = None, 0
    _lock = threading.Lock()
    _blas_users, _blas_saved = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


def _get_executor(workers: int) -> ThreadPoolExecutor:
    """A pool of at least ``workers`` threads, each pinned to its own CPU when there are as many
    threads as CPUs this process may run on.

    Unpinned, Linux lets a part's thread and the thread that woke it drift onto one core, where
    they take turns while the other core idles, for tens of milliseconds after any pause and at
    times in between (notes/perf.md: a 1.1 ms max-unpool pass took 1.8-2.3 ms for its first 15-20
    calls after a 0.3 s sleep, with 3-9 involuntary context switches per call; pinned, 1.1-1.7 ms
    and none).  When the threads are fewer than the CPUs they are left to the scheduler, so that
    processes sharing a machine are not all pinned to its first cores.
    """
    global _executor, _executor_size
    with _lock:
        if _executor is None or _executor_size < workers:
            if _executor is not None:
                _executor.shutdown(wait=False)
            workers = max(workers, get_num_threads())  # fewer parts (a small batch) reuse the pool
            cpus = _cpus()
            pins = iter(cpus if len(cpus) == workers else [])
            pin_lock = threading.Lock()

            def pin():
                with pin_lock:
                    cpu = next(pins, None)
                if cpu is not None:
                    with contextlib.suppress(OSError):  # the CPU set changed since: stay unpinned
                        os.sched_setaffinity(0, {cpu})

            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="numcnn", initializer=pin)
            _executor_size = workers
        return _executor


def _cpus() -> list[int]:
    """The CPUs this thread may run on, or [] where that cannot be known or set (not Linux)."""
    if not (hasattr(os, "sched_getaffinity") and hasattr(os, "sched_setaffinity")):
        return []
    return sorted(os.sched_getaffinity(0))
