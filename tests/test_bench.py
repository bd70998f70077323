"""`numcnn bench`: the command runs end to end on tiny cases and writes its files; no timing asserted."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from numcnn import _threads, cli
from numcnn.commands import bench, bench_cases, bench_timing


@pytest.fixture
def tiny_cases(monkeypatch):
    cases = [
        bench_cases.conv2d_case((2, 3, 7, 7), (4, 3, 3, 3), 2, 1, suites=("conv", "quick"), naive=True),
        bench_cases.conv2d_case((2, 4, 6, 6), (4, 1, 3, 3), 1, 1, groups=4),
        bench_cases.max_pool2d_case((2, 3, 6, 6), 2, 2, 0, suites=("pool", "quick"), naive=True),
    ]
    monkeypatch.setattr(bench_cases, "CASES", cases)
    monkeypatch.setattr(bench_timing, "machine_gemm_gflops", lambda dtype: 100.0)
    return cases


def test_bench_quick_writes_json_and_csv(tiny_cases, tmp_path, capsys):
    js, cs = tmp_path / "b.json", tmp_path / "b.csv"
    assert cli.main(["bench", "--suite", "quick", "--repeat", "2", "--pause", "0", "--json", str(js), "--csv", str(cs)]) == 0
    printed = capsys.readouterr().out
    assert "naive vs fast" in printed and "x(2, 3, 7, 7)" in printed
    data = json.loads(js.read_text())
    assert [r["op"] for r in data["rows"]] == ["conv2d", "max_pool2d"]  # the depthwise row is not "quick"
    conv = data["rows"][0]
    assert conv["numcnn_ms"] > 0 and conv["gflops"] > 0 and conv["extra_vs_im2col"] > 0
    assert conv["numcnn_fwd_ms"] > 0 and conv["numcnn_bwd_ms"] > 0
    assert conv["numcnn_best_ms"] <= conv["numcnn_ms"] * (1 + 1e-9) or data["repeat"] == 1
    for row in data["rows"]:
        if row["torch_ms"] is not None:  # with PyTorch installed: a real, positive ratio
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0
            assert row["ratio"] == pytest.approx(row["numcnn_ms"] / row["torch_ms"])
    assert len(data["naive"]) == 2 and all(r["speedup"] > 0 for r in data["naive"])
    assert {"cpu", "cores", "numpy", "blas"} <= set(data["machine"])
    with open(cs) as f:
        assert len(list(csv.DictReader(f))) == 2


def test_bench_without_torch_leaves_torch_columns_blank(tiny_cases, tmp_path, capsys):
    js = tmp_path / "b.json"
    assert cli.main(["bench", "--suite", "conv", "--repeat", "1", "--pause", "0", "--no-torch", "--dtype", "float64",
                     "--json", str(js)]) == 0
    rows = json.loads(js.read_text())["rows"]
    assert len(rows) == 2 and all(r["torch_ms"] is None and r["ratio"] is None for r in rows)
    assert "ratio" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--repeat", "0"], "--repeat"),
        (["--threads", "0"], "--threads"),
        (["--json", "/no/such/dir/x.json"], "no such directory"),
    ],
)
def test_bench_bad_arguments_are_one_line_errors(tiny_cases, argv, message, capsys):
    assert cli.main(["bench", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_registry_cases_build_and_run_scaled_down():
    """Every registered case is in a known suite besides "all", rows are told apart by their op
    and shape, and the builders produce working forward/backward closures."""
    for case in bench_cases.CASES:
        assert case.suites <= set(bench_cases.SUITES) and case.suites - {"all"}, (case.op, case.suites)
        assert (case.plan is not None) == case.op.startswith("conv")
    labels = [f"{case.op} {case.shape}" for case in bench_cases.CASES]
    assert len(set(labels)) == len(labels)
    small = bench_cases.conv2d_case((2, 4, 8, 8), (4, 4, 3, 3), 1, 1)
    arrays = small.setup(np.float32, np.random.default_rng(0))
    forward, backward = small.numcnn(arrays)
    dx, dw, db = backward(forward())
    assert dx.dtype == np.float32 and dw.shape == (4, 4, 3, 3)
    peak, extra = bench_timing.peak_extra_bytes(forward, backward)
    assert peak > extra > 0


def test_geomeans_and_table():
    rows = [
        {"op": "conv2d", "shape": "a", "numcnn_ms": 2.0, "numcnn_fwd_ms": 1.0, "numcnn_bwd_ms": 1.0, "torch_ms": 1.0,
         "ratio": 2.0, "gflops": 50.0, "peak_mib": 1.0, "extra_mib": 0.5, "extra_vs_im2col": 0.5},
        {"op": "conv2d", "shape": "b", "numcnn_ms": 1.0, "numcnn_fwd_ms": 0.5, "numcnn_bwd_ms": 0.5, "torch_ms": 2.0,
         "ratio": 0.5, "gflops": None, "peak_mib": 1.0, "extra_mib": 0.5, "extra_vs_im2col": None},
    ]
    summary = bench.geomeans(rows)
    assert summary["conv2d"]["geomean_ratio"] == pytest.approx(1.0)
    assert summary["conv2d"]["worst_ratio"] == 2.0
    table = bench.format_table(rows, gemm=100.0)
    assert "50" in table.splitlines()[1] and len(table.splitlines()) == 3


def test_bench_plot_writes_a_png(tiny_cases, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "bench.png"
    assert cli.main(["bench", "--suite", "pool", "--repeat", "1", "--pause", "0", "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_explain_prints_each_conv_rows_plan(tiny_cases, capsys):
    assert cli.main(["bench", "--suite", "all", "--explain", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("numcnn bench --explain: float32, 1 threads")
    # the two conv rows, each with its passes' paths; the pooling row has no plan
    assert printed.count("conv plan for") == 2 and "max_pool2d" not in printed
    assert "conv plan for x(2, 3, 7, 7) w(4, 3, 3, 3) stride (2, 2) pads ((1, 1), (1, 1)) float32" in printed
    assert "forward      depthwise-banded" in printed  # the g4 row: narrow, depthwise
    for line in ("forward ", "weight grad ", "input grad ", "chunking ", "threads "):
        assert printed.count("\n  " + line) == 2


def test_bench_header_names_the_thread_count_and_uncontrolled_blas(tiny_cases, monkeypatch, capsys):
    monkeypatch.setattr(_threads, "_blas", False)  # as without threadpoolctl or a BLAS it can control
    monkeypatch.setattr(_threads, "_num_threads", 3)
    assert cli.main(["bench", "--suite", "pool", "--repeat", "1", "--pause", "0", "--no-torch"]) == 0
    printed = capsys.readouterr().out
    header = printed.splitlines()[0]
    assert header.endswith(", 3 threads") and "?" not in header
    assert printed.count("BLAS threads cannot be controlled") == 1


def test_bench_help_is_plain_text_and_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "``" not in capsys.readouterr().out  # no RST markup
    parser = cli.build_parser()
    (sub,) = [a for a in parser._subparsers._group_actions if a.choices and "bench" in a.choices]
    for action in sub.choices["bench"]._actions:
        assert action.help, action.option_strings


# The paths each conv row took before the planner (traced on the old code, notes/conv-planner.md):
# forward/GEMM kind | weight grad/GEMM kind | input grad/GEMM kind, one pass; a change here
# changes what the bench measures, so it should be deliberate.
BENCH_CONV_PATHS = {
    "conv2d x(32, 64, 32, 32) w(64, 64, 3, 3) s1 p1": "stacked/ | stacked/ | stacked/ one_pass=True",
    "conv2d x(64, 3, 32, 32) w(32, 3, 5, 5) s1 p2": "gemm/chunk | gemm/chunk-transposed | flat/chunk one_pass=False",
    "conv2d x(100, 3, 31, 31) w(25, 3, 3, 3) s2 p1": "gemm/per-sample | gemm/per-sample | col2im/per-sample one_pass=False",
    "conv2d x(16, 128, 16, 16) w(128, 128, 3, 3) s1 p1": "stacked/ | stacked/ | stacked/ one_pass=True",
    "conv2d x(8, 256, 14, 14) w(256, 256, 3, 3) s1 p1": "gemm/chunk | gemm/chunk | correlation/chunk one_pass=False",
    "conv2d x(32, 64, 28, 28) w(128, 64, 1, 1) s1 p0": "pointwise/ | pointwise/ | pointwise/ one_pass=False",
    "conv2d x(32, 64, 32, 32) w(64, 1, 3, 3) s1 p1 g64": "depthwise-banded/ | depthwise-banded/ | depthwise-banded-correlation/ one_pass=False",
    "conv2d x(64, 1, 28, 28) w(6, 1, 5, 5) s1 p0": "gemm/per-sample | gemm/per-sample | flat/per-sample one_pass=False",
    "conv2d x(32, 32, 56, 56) w(64, 32, 3, 3) s2 p1": "gemm/chunk | gemm/chunk-transposed | col2im/chunk one_pass=False",
    "conv_transpose2d x(32, 64, 16, 16) w(64, 32, 4, 4) s2 p1": "gemm/chunk | gemm/chunk-transposed | stacked/ one_pass=False",
    "conv2d_reflect x(16, 32, 64, 64) w(32, 32, 3, 3) p1 reflect": "stacked/ | stacked/ | stacked/ one_pass=True",
    "conv1d x(32, 64, 256) w(64, 64, 5) p2": "stacked/ | stacked/ | stacked/ one_pass=True",
    "conv3d x(4, 16, 16, 32, 32) w(32, 16, 3, 3, 3) p1": "stacked/ | stacked/ | stacked/ one_pass=True",
}


def test_bench_conv_rows_keep_their_paths(monkeypatch):
    monkeypatch.setattr(_threads, "_num_threads", 1)
    rng = np.random.default_rng(0)
    got = {}
    for case in bench_cases.CASES:
        if case.plan is not None:
            p = case.plan(case.setup(np.float32, rng))
            assert str(p).startswith("conv plan for x(")
            got[f"{case.op} {case.shape}"] = (f"{p.forward}/{p.forward_gemm} | {p.weight_grad}/{p.weight_grad_gemm} | "
                                              f"{p.input_grad}/{p.input_grad_gemm} one_pass={p.one_pass}")
    assert got == BENCH_CONV_PATHS
