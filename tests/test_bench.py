"""`numcnn bench`: the command runs end to end on tiny cases and writes its files; no timing asserted."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from numcnn import bench, cli


@pytest.fixture
def tiny_cases(monkeypatch):
    cases = [
        bench.conv2d_case((2, 3, 7, 7), (4, 3, 3, 3), 2, 1, suites=("conv", "quick"), naive=True),
        bench.conv2d_case((2, 4, 6, 6), (4, 1, 3, 3), 1, 1, groups=4),
        bench.max_pool2d_case((2, 3, 6, 6), 2, 2, 0, suites=("pool", "quick"), naive=True),
    ]
    monkeypatch.setattr(bench, "CASES", cases)
    monkeypatch.setattr(bench, "machine_gemm_gflops", lambda dtype: 100.0)
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
    """Every registered case's builders produce working forward/backward closures."""
    for case in bench.CASES:
        assert case.suites >= {"all"}
    small = bench.conv2d_case((2, 4, 8, 8), (4, 4, 3, 3), 1, 1)
    arrays = small.setup(np.float32, np.random.default_rng(0))
    forward, backward = small.numcnn(arrays)
    dx, dw, db = backward(forward())
    assert dx.dtype == np.float32 and dw.shape == (4, 4, 3, 3)
    peak, extra = bench.peak_extra_bytes(forward, backward)
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
