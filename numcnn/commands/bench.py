"""``numcnn bench``: numcnn's forward+backward speed next to PyTorch's, on a fixed list of layers.

Each row times one op on one shape (bench_cases.py lists them; bench_timing.py says how they
are measured): numcnn's and PyTorch's medians of the repeats, their ratio (and the ratio of the
best repeats, steadier on a shared machine).  PyTorch gets the same number of threads as
numcnn's BLAS.  A row also gives the useful GFLOP/s (the direct algorithm's 2 * MACs per pass),
that rate as a fraction of this machine's GEMM rate (measured here, same dtype), and the peak
extra memory of one numcnn forward+backward: in all, and "extra" beyond the arrays the calls
return (out, dx, dw, db), for convolutions also relative to one im2col matrix.  A last line
times the CS231n naive loops once against the best of 11 fast runs.  ``--explain`` prints each
conv row's plan (the paths its passes take) instead of timing anything.

The "models" rows (bench_models.py) time whole networks the same way: a ResNet-20 training step
(forward, loss, backward, SGD step) and ResNet-18 inference under ``no_grad``, against PyTorch
twins given numcnn's weights; the inference row also reports the peak memory of the same forward
recording the graph.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys

import numpy as np

from ..errors import UserError
from . import bench_cases, bench_timing
from .bench_cases import SUITES

DESCRIPTION = ("Time numcnn's forward+backward against PyTorch's on a fixed list of layers (conv, pooling "
               "and the rest of the family) and whole models (a ResNet-20 training step, ResNet-18 "
               "inference), or with --explain print the plan of each conv row.")

SUITE_HELP = (
    "which rows to run: quick (4 conv and 2 max-pool rows, under a minute), conv (9 conv2d rows), "
    "pool (5 max_pool2d rows), family (conv_transpose2d, reflect-padded conv2d, conv1d, conv3d, "
    "avg/adaptive pools, max_unpool2d), models (a ResNet-20 training step, batch 64 of 3x32x32, "
    "as the trainer runs it and on the tape, and ResNet-18 inference, batch 8 of 3x224x224, "
    "under no_grad), all (every row but the tape training step; the default)"
)



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



def add_parser(subparsers):
    p = subparsers.add_parser(
        "bench",
        help="time conv, pooling, the rest of the family and whole models against PyTorch",
        description=DESCRIPTION,
    )
    p.add_argument("--suite", choices=SUITES, default="all", help=SUITE_HELP)
    p.add_argument("--repeat", type=int, default=5, help="timed repeats per row; medians are reported (default 5)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                   help="dtype of every row's arrays (default float32)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for BLAS, numcnn's batch split and PyTorch (default: BLAS's own count)")
    p.add_argument("--pause", type=float, default=0.3,
                   help="seconds between numcnn and PyTorch blocks, so the other side's BLAS/OpenMP threads "
                        "have stopped spinning (OpenBLAS spins ~0.1 s after a call; default 0.3)")
    p.add_argument("--match", metavar="TEXT", help="only rows whose op or shape contains TEXT (e.g. 'g64')")
    p.add_argument("--no-torch", action="store_true", help="do not time PyTorch even if it is installed")
    p.add_argument("--json", metavar="PATH", help="write rows, summary and machine description as JSON")
    p.add_argument("--csv", metavar="PATH", help="write the rows as CSV")
    p.add_argument("--plot", metavar="PNG", help="bar chart of numcnn vs PyTorch per row (needs matplotlib)")
    p.add_argument("--explain", action="store_true",
                   help="print the plan of each conv row (the path of each pass, chunking, thread split) and "
                        "time nothing")
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
    torch = None if (args.no_torch or args.explain) else bench_timing.import_torch()
    threads, _limiter = bench_timing.set_threads(args.threads, torch)
    dtype = np.dtype(args.dtype)
    cases = [c for c in bench_cases.CASES
             if args.suite in c.suites and (not args.match or args.match in f"{c.op} {c.shape}")]
    if not cases:
        raise UserError(f"no benchmark rows match --suite {args.suite} --match {args.match!r}")
    note = bench_timing.blas_control_note()
    if args.explain:
        return explain(cases, dtype, threads, note)
    machine = bench_timing.machine_description(torch)
    machine["threads"] = threads
    print(f"numcnn bench --suite {args.suite}: {dtype}, fwd+bwd, median of {args.repeat}, {threads} threads")
    if note:
        print(f"note: {note}")
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; numpy {machine['numpy']}, BLAS {machine['blas']}; "
          f"torch {machine['torch'] or 'not installed (numcnn-only columns)'}")
    gemm = bench_timing.machine_gemm_gflops(dtype)
    print(f"machine {dtype} GEMM (2048^3 matmul): {gemm:.0f} GFLOP/s", flush=True)
    rng = np.random.default_rng(0)
    rows = []
    for case in cases:
        rows.append(bench_timing.run_case(case, dtype, args.repeat, torch, args.pause, rng))
        print(f"  {case.op} {case.shape}: {rows[-1]['numcnn_ms']:.2f} ms", file=sys.stderr, flush=True)
    print()
    print(format_table(rows, gemm))
    summary = geomeans(rows)
    for op, s in summary.items():
        best = f" (best-of-repeats {s['geomean_ratio_best']:.2f})" if "geomean_ratio_best" in s else ""
        print(f"{op}: geometric-mean ratio numcnn/torch {s['geomean_ratio']:.2f}{best}, worst {s['worst_ratio']:.2f}")
    for r in rows:
        if r.get("recording_peak_mib") is not None:
            print(f"{r['op']} {r['shape']}: peak memory {r['peak_mib']:.1f} MiB under no_grad, "
                  f"{r['recording_peak_mib']:.1f} MiB recording the graph")
    naive_rows = []
    for case in cases:
        if case.naive is not None:
            naive_rows.append(bench_timing.run_naive(case, dtype, rng))
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
            # some rows carry fields of their own (the inference row's recording_peak_mib)
            writer = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
            writer.writeheader()
            writer.writerows(rows)
    if args.plot:
        write_plot(rows, args.plot)
    return 0


def explain(cases, dtype, threads, note) -> int:
    """Print the plan of each conv row (built from its arrays; one forward pass, untimed)."""
    print(f"numcnn bench --explain: {dtype}, {threads} threads")
    if note:
        print(f"note: {note}")
    rng = np.random.default_rng(0)
    shown = 0
    for case in cases:
        if case.plan is None:
            continue
        plan = case.plan(case.setup(dtype, rng))
        print(f"\n{case.op} {case.shape}")
        print(plan if plan is not None else "  (no plan: not a convolution)")
        shown += 1
    if not shown:
        print("\n(no conv rows among these)")
    return 0
