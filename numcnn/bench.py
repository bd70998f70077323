"""``numcnn bench``: numcnn's forward+backward speed next to PyTorch's, on a fixed list of layers.

Each row times one op on one shape: numcnn and (when ``torch`` is importable) PyTorch are measured
in the same process, in alternating blocks with a pause between them (BLAS and OpenMP worker
threads keep spinning for a while after a call; each block first runs untimed calls until its
side is warm again), and the medians of the repeats are reported
(and the ratio of the best repeats, steadier on a shared machine).
PyTorch gets the same number of threads as numcnn's BLAS.  A row also gives the useful GFLOP/s
(the direct algorithm's 2 * MACs per pass), that rate as a fraction of this machine's GEMM rate
(measured here, same dtype), and the peak extra memory of one numcnn forward+backward
(tracemalloc, which sees NumPy's allocations): in all, and "extra" beyond the arrays the calls
return (out, dx, dw, db), for convolutions also relative to one im2col matrix.  A last line
times the CS231n naive loops once against the best of 11 fast runs.

To benchmark another op, append a :class:`Case` to :data:`CASES` (see :func:`conv2d_case`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ._threads import set_num_threads
from .functional import _scratch
from .errors import UserError

SUITES = ("quick", "conv", "pool", "family", "all")


@dataclass(frozen=True)
class Case:
    """One benchmark row.

    ``setup(dtype, rng)`` returns the input arrays (a dict, including ``dout``);
    ``numcnn(arrays)`` and ``torch(torch_module, arrays)`` return a pair of callables
    ``(forward, backward)``: ``forward()`` runs the forward pass and returns what
    ``backward(state)`` needs to run the backward pass.
    """

    op: str
    shape: str
    suites: frozenset
    setup: Callable
    numcnn: Callable
    torch: Callable | None = None
    flops: float = 0.0  # useful FLOPs of forward + backward (0: not reported)
    im2col_elements: int = 0  # size of one im2col matrix, for the memory column (0: not reported)
    naive: Callable | None = field(default=None)  # (arrays) -> callable running the reference loops


def _conv_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def conv2d_case(x_shape, w_shape, stride=1, padding=0, groups=1, suites=("conv",), naive=False) -> Case:
    """A conv2d row: x (N, C, H, W), weight (C_out, C/groups, kH, kW), int stride and padding."""
    n, c, h, w = x_shape
    c_out, _, kh, kw = w_shape
    ho, wo = _conv_out(h, kh, stride, padding), _conv_out(w, kw, stride, padding)
    macs = n * c_out * ho * wo * (c // groups) * kh * kw
    label = f"x{tuple(x_shape)} w{tuple(w_shape)} s{stride} p{padding}" + (f" g{groups}" if groups != 1 else "")

    def setup(dtype, rng):
        return {
            "x": rng.standard_normal(x_shape).astype(dtype),
            "w": rng.standard_normal(w_shape).astype(dtype) / math.sqrt(c // groups * kh * kw),
            "b": rng.standard_normal(c_out).astype(dtype),
            "dout": rng.standard_normal((n, c_out, ho, wo)).astype(dtype),
        }

    def build(a):
        from .functional import conv2d_backward, conv2d_forward

        def forward():
            return conv2d_forward(a["x"], a["w"], a["b"], stride, padding, 1, groups)

        return forward, lambda state: conv2d_backward(a["dout"], state[1])

    def build_torch(torch, a):
        x = torch.from_numpy(a["x"]).requires_grad_()
        wt = torch.from_numpy(a["w"]).requires_grad_()
        b = torch.from_numpy(a["b"]).requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            x.grad = wt.grad = b.grad = None
            return torch.nn.functional.conv2d(x, wt, b, stride, padding, 1, groups)

        return forward, lambda out: out.backward(dout)

    def build_naive(a):
        from . import reference

        def run():
            out, cache = reference.conv_forward_naive(a["x"], a["w"], a["b"], {"stride": stride, "pad": padding})
            reference.conv_backward_naive(a["dout"], cache)

        return run

    return Case(
        op="conv2d",
        shape=label,
        suites=frozenset(suites) | {"all"},
        setup=setup,
        numcnn=build,
        torch=build_torch,
        flops=3 * 2 * macs,
        im2col_elements=n * c * kh * kw * ho * wo,
        naive=build_naive if naive and groups == 1 else None,
    )


def max_pool2d_case(x_shape, kernel, stride, padding=0, suites=("pool",), naive=False) -> Case:
    """A max_pool2d row: x (N, C, H, W), square int kernel, stride and padding."""
    n, c, h, w = x_shape
    ho, wo = _conv_out(h, kernel, stride, padding), _conv_out(w, kernel, stride, padding)
    label = f"x{tuple(x_shape)} k{kernel} s{stride} p{padding}"

    def setup(dtype, rng):
        return {
            "x": rng.standard_normal(x_shape).astype(dtype),
            "dout": rng.standard_normal((n, c, ho, wo)).astype(dtype),
        }

    def build(a):
        from .functional import max_pool2d_backward, max_pool2d_forward

        def forward():
            return max_pool2d_forward(a["x"], kernel, stride, padding)

        return forward, lambda state: max_pool2d_backward(a["dout"], state[1])

    def build_torch(torch, a):
        x = torch.from_numpy(a["x"]).requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            x.grad = None
            return torch.nn.functional.max_pool2d(x, kernel, stride, padding)

        return forward, lambda out: out.backward(dout)

    def build_naive(a):
        from . import reference

        def run():
            param = {"pool_height": kernel, "pool_width": kernel, "stride": stride}
            out, cache = reference.max_pool_forward_naive(a["x"], param)
            reference.max_pool_backward_naive(a["dout"], cache)

        return run

    return Case(
        op="max_pool2d",
        shape=label,
        suites=frozenset(suites) | {"all"},
        setup=setup,
        numcnn=build,
        torch=build_torch,
        naive=build_naive if naive and padding == 0 else None,
    )


# The suite of issue 3 (float32, NCHW); "quick" is a subset that runs in well under a minute.
CASES: list[Case] = [
    conv2d_case((32, 64, 32, 32), (64, 64, 3, 3), 1, 1),
    conv2d_case((64, 3, 32, 32), (32, 3, 5, 5), 1, 2),
    conv2d_case((100, 3, 31, 31), (25, 3, 3, 3), 2, 1, suites=("conv", "quick"), naive=True),
    conv2d_case((16, 128, 16, 16), (128, 128, 3, 3), 1, 1, suites=("conv", "quick")),
    conv2d_case((8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
    conv2d_case((32, 64, 28, 28), (128, 64, 1, 1), 1, 0, suites=("conv", "quick")),
    conv2d_case((32, 64, 32, 32), (64, 1, 3, 3), 1, 1, groups=64),
    conv2d_case((64, 1, 28, 28), (6, 1, 5, 5), 1, 0, suites=("conv", "quick")),
    conv2d_case((32, 32, 56, 56), (64, 32, 3, 3), 2, 1),
    max_pool2d_case((32, 64, 32, 32), 2, 2, 0, suites=("pool", "quick")),
    max_pool2d_case((32, 64, 32, 32), 3, 2, 1),
    max_pool2d_case((64, 128, 16, 16), 2, 2, 0),
    max_pool2d_case((100, 3, 32, 32), 2, 2, 0, suites=("pool", "quick"), naive=True),
    max_pool2d_case((32, 96, 55, 55), 3, 2, 0),
]


# --- the conv/pool family (issue 5): one representative row per new op -----------------------


def family_case(op, label, inputs, ours, theirs, macs=0, suites=("family",), function=None) -> Case:
    """A row for any op of the family.

    ``inputs(dtype, rng)`` returns the input arrays; ``ours(F, a)`` runs ``numcnn.functional``'s
    forward on them and returns ``(out, cache)``; ``theirs(torch, t)`` runs PyTorch's forward on
    tensors of the same names.  ``dout`` is drawn in ``setup`` from the output's shape; backward
    passes are ``numcnn.functional.<function or op>_backward`` and ``out.backward(dout)``.
    ``op`` names the row (and its geometric mean), so a variant of an op gets its own name.
    """

    def setup(dtype, rng):
        from . import functional

        a = inputs(dtype, rng)
        out = ours(functional, a)[0]
        out = out[0] if isinstance(out, tuple) else out
        a["dout"] = rng.standard_normal(out.shape).astype(dtype)
        return a

    def build(a):
        from . import functional

        backward = getattr(functional, f"{function or op}_backward")
        return lambda: ours(functional, a)[1], lambda cache: backward(a["dout"], cache)

    def build_torch(torch, a):
        tensors = {k: torch.from_numpy(v) for k, v in a.items() if k != "dout"}
        for k, t in tensors.items():
            if t.is_floating_point():
                t.requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            for t in tensors.values():
                t.grad = None
            return theirs(torch, tensors)

        return forward, lambda out: out.backward(dout)

    return Case(
        op=op, shape=label, suites=frozenset(suites) | {"all"}, setup=setup, numcnn=build, torch=build_torch,
        flops=3 * 2 * macs,
    )


def _normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _family_cases() -> list[Case]:
    def conv_inputs(x_shape, w_shape):
        return lambda dt, rng: {
            "x": _normal(rng, x_shape, dt),
            "w": _normal(rng, w_shape, dt, 1 / math.sqrt(math.prod(w_shape[1:]))),
            "b": _normal(rng, (w_shape[0],), dt),
        }

    def pooled(x_shape, kernel):
        # max_unpool's input: a max pool's output and indices, made once
        def inputs(dt, rng):
            from .functional import max_pool2d_forward

            (out, idx), _ = max_pool2d_forward(_normal(rng, x_shape, dt), kernel, return_indices=True)
            return {"x": out, "indices": idx}

        return inputs

    return [
        family_case(
            "conv_transpose2d", "x(32, 64, 16, 16) w(64, 32, 4, 4) s2 p1",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 16, 16), dt), "w": _normal(rng, (64, 32, 4, 4), dt, 0.03),
                             "b": _normal(rng, (32,), dt)},
            lambda F, a: F.conv_transpose2d_forward(a["x"], a["w"], a["b"], stride=2, padding=1),
            lambda torch, t: torch.nn.functional.conv_transpose2d(t["x"], t["w"], t["b"], stride=2, padding=1),
            macs=32 * 64 * 16 * 16 * 32 * 4 * 4,
        ),
        family_case(
            "conv2d_reflect", "x(16, 32, 64, 64) w(32, 32, 3, 3) p1 reflect",
            conv_inputs((16, 32, 64, 64), (32, 32, 3, 3)),
            lambda F, a: F.conv2d_forward(a["x"], a["w"], a["b"], padding=1, padding_mode="reflect"),
            lambda torch, t: torch.nn.functional.conv2d(
                torch.nn.functional.pad(t["x"], (1, 1, 1, 1), mode="reflect"), t["w"], t["b"]),
            macs=16 * 32 * 64 * 64 * 32 * 9,
            function="conv2d",
        ),
        family_case(
            "conv1d", "x(32, 64, 256) w(64, 64, 5) p2",
            conv_inputs((32, 64, 256), (64, 64, 5)),
            lambda F, a: F.conv1d_forward(a["x"], a["w"], a["b"], padding=2),
            lambda torch, t: torch.nn.functional.conv1d(t["x"], t["w"], t["b"], padding=2),
            macs=32 * 64 * 256 * 64 * 5,
        ),
        family_case(
            "conv3d", "x(4, 16, 16, 32, 32) w(32, 16, 3, 3, 3) p1",
            conv_inputs((4, 16, 16, 32, 32), (32, 16, 3, 3, 3)),
            lambda F, a: F.conv3d_forward(a["x"], a["w"], a["b"], padding=1),
            lambda torch, t: torch.nn.functional.conv3d(t["x"], t["w"], t["b"], padding=1),
            macs=4 * 32 * 16 * 32 * 32 * 16 * 27,
        ),
        family_case(
            "avg_pool2d", "x(32, 64, 32, 32) k3 s2 p1",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 32, 32), dt)},
            lambda F, a: F.avg_pool2d_forward(a["x"], 3, 2, 1),
            lambda torch, t: torch.nn.functional.avg_pool2d(t["x"], 3, 2, 1),
        ),
        family_case(
            "adaptive_avg_pool2d", "x(64, 512, 7, 7) -> 1 (global)",
            lambda dt, rng: {"x": _normal(rng, (64, 512, 7, 7), dt)},
            lambda F, a: F.adaptive_avg_pool2d_forward(a["x"], 1),
            lambda torch, t: torch.nn.functional.adaptive_avg_pool2d(t["x"], 1),
        ),
        family_case(
            "adaptive_max_pool2d", "x(32, 64, 13, 13) -> 6",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 13, 13), dt)},
            lambda F, a: F.adaptive_max_pool2d_forward(a["x"], 6),
            lambda torch, t: torch.nn.functional.adaptive_max_pool2d(t["x"], 6),
        ),
        family_case(
            "max_unpool2d", "x(32, 64, 16, 16) k2 -> 32x32",
            pooled((32, 64, 32, 32), 2),
            lambda F, a: F.max_unpool2d_forward(a["x"], a["indices"], 2),
            lambda torch, t: torch.nn.functional.max_unpool2d(t["x"], t["indices"], 2),
        ),
    ]


CASES += _family_cases()


# --------------------------------------------------------------------------------------------
# measurement


def _import_torch():
    try:
        import torch  # noqa: F401  (optional: the oracle, never a dependency)
    except Exception:  # pragma: no cover - depends on the environment
        return None
    return torch


def _blas_threads():
    """numcnn's BLAS thread count (threadpoolctl), or None when it cannot be told."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info() if info.get("user_api") == "blas"]
    return counts[0] if counts else None


def _set_threads(threads, torch):
    """Limit BLAS (threadpoolctl, if present), numcnn's batch split and PyTorch to ``threads``;
    return the count used."""
    limiter = None
    if threads is not None:
        set_num_threads(threads)
        try:
            import threadpoolctl
        except ImportError:
            print("numcnn bench: threadpoolctl is not installed; --threads only applies to PyTorch", file=sys.stderr)
        else:
            limiter = threadpoolctl.threadpool_limits(threads, user_api="blas")
    used = threads if threads is not None else _blas_threads()
    if torch is not None and used is not None:
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


def _warm(forward, backward):
    start = time.perf_counter()
    calls = 0
    while calls < _WARM_CALLS or time.perf_counter() - start < _WARM_SECONDS:
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
        _warm(*ours)
        samples["numcnn"].append(_time_pair(*ours))
        time.sleep(pause)
        if theirs:
            _warm(*theirs)
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


# --------------------------------------------------------------------------------------------
# output


def _fmt(value, spec):
    return "" if value is None else format(value, spec)


def format_table(rows, gemm) -> str:
    header = ("op", "shape", "numcnn ms", "fwd", "bwd", "torch ms", "ratio", "best", "GFLOP/s", "%GEMM", "peak MiB",
              "extra MiB", "x im2col")
    lines = []
    for r in rows:
        frac = r["gflops"] / gemm * 100 if r["gflops"] else None
        lines.append((
            r["op"], r["shape"], _fmt(r["numcnn_ms"], ".2f"), _fmt(r["numcnn_fwd_ms"], ".2f"),
            _fmt(r["numcnn_bwd_ms"], ".2f"), _fmt(r["torch_ms"], ".2f"), _fmt(r["ratio"], ".2f"),
            _fmt(r.get("ratio_best"), ".2f"),
            _fmt(r["gflops"], ".0f"), _fmt(frac, ".0f"), _fmt(r["peak_mib"], ".1f"), _fmt(r["extra_mib"], ".1f"),
            _fmt(r["extra_vs_im2col"], ".2f"),
        ))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    out = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    for line in lines:
        out.append("  ".join(x.ljust(w) if i < 2 else x.rjust(w) for i, (x, w) in enumerate(zip(line, widths))))
    return "\n".join(out)


def geomeans(rows) -> dict:
    result = {}
    for op in dict.fromkeys(r["op"] for r in rows):
        ratios = [r["ratio"] for r in rows if r["op"] == op and r["ratio"]]
        best = [r["ratio_best"] for r in rows if r["op"] == op and r.get("ratio_best")]
        if ratios:
            result[op] = {
                "geomean_ratio": math.exp(sum(math.log(x) for x in ratios) / len(ratios)),
                "worst_ratio": max(ratios),
            }
        if best:
            result[op]["geomean_ratio_best"] = math.exp(sum(math.log(x) for x in best) / len(best))
    return result


def write_plot(rows, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot needs matplotlib: pip install 'numcnn[plot]'") from None
    labels = [f"{r['op']} {r['shape']}" for r in rows]
    ours = [r["numcnn_ms"] for r in rows]
    theirs = [r["torch_ms"] or 0.0 for r in rows]
    ypos = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(rows) + 1.5))
    ax.barh(ypos - 0.2, ours, 0.4, label="numcnn")
    if any(theirs):
        ax.barh(ypos + 0.2, theirs, 0.4, label="PyTorch")
    ax.set_yticks(ypos, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("forward + backward, ms (median; log scale)")
    ax.legend()
    ax.set_title("numcnn vs PyTorch CPU")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# command


def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench",
        help="time conv, pooling and the rest of the family forward+backward against PyTorch",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--suite", choices=SUITES, default="all", help="which rows to run (default: all; quick < 1 min)")
    p.add_argument("--repeat", type=int, default=5, help="timed repeats per row; medians are reported (default 5)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--threads", type=int, default=None, help="threads for BLAS, numcnn's batch split and PyTorch (default: BLAS's own count)")
    p.add_argument("--pause", type=float, default=0.3,
                   help="seconds between numcnn and PyTorch blocks, so the other side's BLAS/OpenMP threads "
                        "have stopped spinning (OpenBLAS spins ~0.1 s after a call; default 0.3)")
    p.add_argument("--match", metavar="TEXT", help="only rows whose op or shape contains TEXT (e.g. 'g64')")
    p.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if it is installed")
    p.add_argument("--json", metavar="PATH", help="write rows, summary and machine description as JSON")
    p.add_argument("--csv", metavar="PATH", help="write the rows as CSV")
    p.add_argument("--plot", metavar="PNG", help="bar chart of numcnn vs PyTorch per row (needs matplotlib)")
    p.set_defaults(func=main)
    return p


def main(args) -> int:
    if args.repeat < 1:
        raise UserError(f"--repeat must be >= 1, got {args.repeat}")
    if args.threads is not None and args.threads < 1:
        raise UserError(f"--threads must be >= 1, got {args.threads}")
    if args.pause < 0:
        raise UserError(f"--pause must be >= 0, got {args.pause}")
    for path in (args.json, args.csv, args.plot):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UserError(f"cannot write {path}: no such directory")
    torch = None if args.no_torch else _import_torch()
    threads, _limiter = _set_threads(args.threads, torch)
    dtype = np.dtype(args.dtype)
    machine = machine_description(torch)
    machine["threads"] = threads
    print(f"numcnn bench --suite {args.suite}: {dtype}, fwd+bwd, median of {args.repeat}, {threads or '?'} threads")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; numpy {machine['numpy']}, BLAS {machine['blas']}; "
          f"torch {machine['torch'] or 'not installed (numcnn-only columns)'}")
    gemm = machine_gemm_gflops(dtype)
    print(f"machine {dtype} GEMM (2048^3 matmul): {gemm:.0f} GFLOP/s", flush=True)
    cases = [c for c in CASES if args.suite in c.suites and (not args.match or args.match in f"{c.op} {c.shape}")]
    if not cases:
        raise UserError(f"no benchmark rows match --suite {args.suite} --match {args.match!r}")
    rng = np.random.default_rng(0)
    rows = []
    for case in cases:
        rows.append(run_case(case, dtype, args.repeat, torch, args.pause, rng))
        print(f"  {case.op} {case.shape}: {rows[-1]['numcnn_ms']:.2f} ms", file=sys.stderr, flush=True)
    print()
    print(format_table(rows, gemm))
    summary = geomeans(rows)
    for op, s in summary.items():
        best = f" (best-of-repeats {s['geomean_ratio_best']:.2f})" if "geomean_ratio_best" in s else ""
        print(f"{op}: geometric-mean ratio numcnn/torch {s['geomean_ratio']:.2f}{best}, worst {s['worst_ratio']:.2f}")
    naive_rows = []
    for case in cases:
        if case.naive is not None:
            naive_rows.append(run_naive(case, dtype, rng))
            r = naive_rows[-1]
            print(f"naive vs fast, {r['op']} {r['shape']}: reference loops {r['naive_ms'] / 1e3:.2f} s, "
                  f"fast {r['fast_ms']:.2f} ms: {r['speedup']:.0f}x", flush=True)
    for row in rows:
        row["gemm_fraction"] = row["gflops"] / gemm if row["gflops"] else None
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "dtype": str(dtype), "repeat": args.repeat, "gemm_gflops": gemm,
                       "rows": rows, "summary": summary, "naive": naive_rows}, f, indent=2)
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if args.plot:
        write_plot(rows, args.plot)
    return 0
