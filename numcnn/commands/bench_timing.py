"""How ``numcnn bench`` measures a row: time, memory, this machine's GEMM rate, threads.

numcnn and (when ``torch`` is importable) PyTorch are measured in the same process, in
alternating blocks with a pause between them (BLAS and OpenMP worker threads keep spinning for
a while after a call; each block first runs untimed calls until its side is warm again), and
the medians of the repeats are reported (and the ratio of the best repeats, steadier on a
shared machine).  The peak extra memory of one numcnn forward+backward is tracemalloc's (which
sees NumPy's allocations).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
import tracemalloc

import numpy as np

from .. import _threads
from ..functional import _scratch
from .bench_cases import Case


def import_torch():
    """PyTorch when it is importable (the oracle, never a dependency), else None."""
    try:
        import torch  # noqa: F401
    except Exception:  # pragma: no cover - depends on the environment
        return None
    return torch


def _blas_threads():
    """numcnn's BLAS thread count (threadpoolctl), or None when it cannot be told."""
    controller = _threads._blas_controller()
    if controller is None:
        return None
    counts = [lib.num_threads for lib in controller.lib_controllers]
    return counts[0] if counts else None


def blas_control_note():
    """Why BLAS threads cannot be controlled here, or None when they can."""
    if _threads._blas_controller() is not None:
        return None
    try:
        import threadpoolctl  # noqa: F401
    except ImportError:
        why = "threadpoolctl is not installed"
    else:
        why = "threadpoolctl found no BLAS library it can control"
    return (f"BLAS threads cannot be controlled ({why}): BLAS keeps its own thread count, and numcnn "
            "runs its conv passes whole rather than split over threads")


def set_threads(threads, torch):
    """Limit BLAS (when it can be controlled), numcnn's batch split and PyTorch to ``threads``;
    return ``(count, limiter)``: the thread count the rows run with (without ``threads``:
    BLAS's own count, else numcnn's) and the BLAS limit to keep alive while they run."""
    limiter = None
    if threads is not None:
        _threads.set_num_threads(threads)
        controller = _threads._blas_controller()
        if controller is not None:
            limiter = controller.limit(limits=threads)
    used = threads if threads is not None else (_blas_threads() or _threads.get_num_threads())
    if torch is not None:
        torch.set_num_threads(used)
    return used, limiter


def machine_gemm_gflops(dtype, size=2048, repeat=7) -> float:
    """This machine's GEMM rate (GFLOP/s) in ``dtype``: the best of ``repeat`` ``size``^3 matmuls
    (the attainable peak; a median would drop whenever another process shares the cores)."""
    a = np.ones((size, size), dtype=dtype)
    b = np.ones((size, size), dtype=dtype)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return 2 * size**3 / min(times) / 1e9


def _time_pair(forward, backward):
    start = time.perf_counter()
    state = forward()
    mid = time.perf_counter()
    backward(state)
    end = time.perf_counter()
    return mid - start, end - mid


# A block's warm-up: at least this many untimed calls and this many seconds.  After the pause
# the (virtual) cores wake slowly: on the 2-core VM of notes/perf.md the first two or three calls
# after a 0.2 s sleep take up to twice their steady time, on both sides, most with several threads.
_WARM_CALLS = 3
_WARM_SECONDS = 0.05


def _warm(forward, backward, min_calls=_WARM_CALLS):
    start = time.perf_counter()
    calls = 0
    while calls < min_calls or time.perf_counter() - start < _WARM_SECONDS:
        _time_pair(forward, backward)
        calls += 1


def _nbytes(value) -> int:
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return 0


def peak_extra_bytes(forward, backward) -> tuple[int, int]:
    """Peak bytes NumPy allocates during one forward + backward, the forward's output and cache
    kept alive until the backward ends (as in training); returns ``(peak, peak - results)``
    where results are the arrays the two calls return (out, dx, dw, db), which any
    implementation must allocate."""
    _scratch.clear()  # the pass's scratch buffers count as its memory
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        state = forward()
        grads = backward(state)
        peak = tracemalloc.get_traced_memory()[1] - base
        results = _nbytes(state[0] if isinstance(state, tuple) else state) + _nbytes(grads)
        return peak, peak - results
    finally:
        tracemalloc.stop()


def run_case(case: Case, dtype, repeat, torch, pause, rng) -> dict:
    arrays = case.setup(dtype, rng)
    ours = case.numcnn(arrays)
    theirs = case.torch(torch, arrays) if (torch is not None and case.torch is not None) else None
    _time_pair(*ours)  # warm-up (first calls fault pages and load code)
    if theirs:
        _time_pair(*theirs)
    samples = {"numcnn": [], "torch": []}
    for _ in range(repeat):
        # a block: untimed calls until this side runs at its steady speed (its worker threads
        # and the cores were asleep during the pause, as they never are in a training loop), one
        # timed call, then a pause so its threads stop spinning before the other side runs
        _warm(*ours, case.warm_calls)
        samples["numcnn"].append(_time_pair(*ours))
        time.sleep(pause)
        if theirs:
            _warm(*theirs, case.warm_calls)
            samples["torch"].append(_time_pair(*theirs))
            time.sleep(pause)
    row = {"op": case.op, "shape": case.shape}
    for who, pairs in samples.items():
        if not pairs:
            row.update({f"{who}_fwd_ms": None, f"{who}_bwd_ms": None, f"{who}_ms": None, f"{who}_best_ms": None})
            continue
        row[f"{who}_fwd_ms"] = 1e3 * statistics.median(f for f, _ in pairs)
        row[f"{who}_bwd_ms"] = 1e3 * statistics.median(b for _, b in pairs)
        row[f"{who}_ms"] = 1e3 * statistics.median(f + b for f, b in pairs)
        row[f"{who}_best_ms"] = 1e3 * min(f + b for f, b in pairs)
    row["ratio"] = row["numcnn_ms"] / row["torch_ms"] if row["torch_ms"] else None
    # best-of ratio: on a shared machine the fastest repeats are the ones nobody interrupted
    row["ratio_best"] = row["numcnn_best_ms"] / row["torch_best_ms"] if row["torch_ms"] else None
    row["gflops"] = case.flops / (row["numcnn_ms"] * 1e-3) / 1e9 if case.flops else None
    peak, extra = peak_extra_bytes(*ours)
    row["peak_mib"] = peak / 2**20
    row["extra_mib"] = extra / 2**20
    itemsize = np.dtype(dtype).itemsize
    row["extra_vs_im2col"] = extra / (case.im2col_elements * itemsize) if case.im2col_elements else None
    if case.extra is not None:
        row.update(case.extra(arrays))
    return row


def run_naive(case: Case, dtype, rng) -> dict:
    """Time the reference loops once against the best of 11 fast runs, same inputs.

    Best-of rather than median here: the naive loops are one long single-threaded run, while a
    few-millisecond multi-threaded fast run can lose a whole scheduler slice on a shared machine.
    """
    arrays = case.setup(dtype, rng)
    forward, backward = case.numcnn(arrays)
    _time_pair(forward, backward)
    fast = min(sum(_time_pair(forward, backward)) for _ in range(11))
    naive = case.naive(arrays)
    start = time.perf_counter()
    naive()
    slow = time.perf_counter() - start
    return {"op": case.op, "shape": case.shape, "naive_ms": slow * 1e3, "fast_ms": fast * 1e3, "speedup": slow / fast}


def machine_description(torch) -> dict:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = ""
    try:
        import threadpoolctl

        infos = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            i = infos[0]
            blas = f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
    except ImportError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "blas": blas or "unknown (install threadpoolctl to see it)",
        "torch": getattr(torch, "__version__", None),
    }
