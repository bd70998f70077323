"""`numcnn bench`'s model rows (bench_models.py): the suite's contents, tiny versions of each row
run end to end, the PyTorch twins compute numcnn's models' logits, and inference under no_grad
keeps no graph and far less memory.  No timing asserted."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import numcnn
from numcnn import cli, models
from numcnn.commands import bench, bench_cases, bench_models, bench_timing


def _tiny_cases():
    return [
        bench_models.resnet20_train_case(batch=4, size=8, blocks=1, num_classes=5),
        bench_models.resnet20_train_case(batch=4, size=8, blocks=1, num_classes=5, tape=True),
        bench_models.resnet18_infer_case(batch=2, size=32, layers=(1, 1, 1, 1), num_classes=7),
    ]


def _torch_or_none():
    return bench_timing.import_torch()


def test_models_suite_holds_the_two_rows_and_the_tape_variant():
    by_suite = {s: [f"{c.op}" for c in bench_cases.CASES if s in c.suites] for s in bench_cases.SUITES}
    assert by_suite["models"] == ["resnet20 train step", "resnet20 train step (tape)", "resnet18 inference"]
    assert [op for op in by_suite["all"] if op.startswith("resnet")] == ["resnet20 train step", "resnet18 inference"]
    for suite in ("quick", "conv", "pool", "family"):
        assert not any(op.startswith("resnet") for op in by_suite[suite])
    shapes = {c.op: c.shape for c in bench_cases.CASES if "models" in c.suites}
    assert shapes["resnet20 train step"] == "x(64, 3, 32, 32) SGD m0.9"
    assert shapes["resnet18 inference"] == "x(8, 3, 224, 224) eval no_grad"


def test_bench_help_says_what_each_suite_holds(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    printed = " ".join(capsys.readouterr().out.split())
    for suite in bench_cases.SUITES:
        assert f"{suite} (" in printed, suite
    assert "ResNet-20 training step" in printed and "ResNet-18 inference" in printed


@pytest.mark.parametrize("case", _tiny_cases(), ids=lambda c: c.op)
def test_tiny_model_rows_run_and_report_positive_finite_numbers(case):
    torch = _torch_or_none()
    row = bench_timing.run_case(case, np.float32, 2, torch, 0.0, np.random.default_rng(0))
    assert row["op"] == case.op and row["shape"] == case.shape
    for key in ("numcnn_ms", "numcnn_fwd_ms", "numcnn_best_ms", "peak_mib"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    if torch is not None:
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert row["ratio"] == pytest.approx(row["numcnn_ms"] / row["torch_ms"])
    if "inference" in case.op:
        assert row["recording_peak_mib"] > row["peak_mib"] > 0


def test_training_step_rows_update_the_weights_like_sgd():
    """A row's backward really is a step: the weights move, and both ways of running it (the
    trainer's explicit API and the tape) take the same step from the same start."""
    steps = []
    for case in _tiny_cases()[:2]:
        a = case.setup(np.float64, np.random.default_rng(3))
        before = a["model"].state_dict()
        forward, backward = case.numcnn(a)
        backward(forward())
        after = a["model"].state_dict()
        assert not np.array_equal(before["conv1.weight"], after["conv1.weight"])
        steps.append(after)
    for key, value in steps[0].items():
        np.testing.assert_allclose(steps[1][key], value, rtol=1e-12, atol=1e-14, err_msg=key)


def test_bench_models_suite_end_to_end(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(bench_cases, "CASES", _tiny_cases())
    monkeypatch.setattr(bench_timing, "machine_gemm_gflops", lambda dtype: 100.0)
    js, cs = tmp_path / "m.json", tmp_path / "m.csv"
    argv = ["bench", "--suite", "models", "--repeat", "1", "--pause", "0", "--json", str(js), "--csv", str(cs)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "MiB recording the graph" in printed
    rows = json.loads(js.read_text())["rows"]
    assert [r["op"] for r in rows] == [c.op for c in _tiny_cases()]
    assert "recording_peak_mib" in cs.read_text().splitlines()[0]


# --- the twins -----------------------------------------------------------------------------------
@pytest.mark.torch
@pytest.mark.parametrize(
    "build, shape",
    [
        (lambda: models.resnet20((3, 32, 32), 10), (3, 3, 12, 10)),
        (lambda: models.resnet18((3, 64, 64), 11), (2, 3, 40, 36)),
    ],
    ids=["resnet20", "resnet18"],
)
def test_torch_twins_give_numcnns_logits(build, shape):
    torch = pytest.importorskip("torch")
    model = build().to(np.float64)
    rng = np.random.default_rng(0)
    for name, buf in model.named_buffers():  # non-trivial BatchNorm statistics, so eval mode tests them
        if name.endswith("running_mean"):
            buf[...] = 0.1 * rng.standard_normal(buf.shape)
        elif name.endswith("running_var"):
            buf[...] = 0.5 + rng.random(buf.shape)
    x = rng.standard_normal(shape)
    for train in (False, True):
        model.train(train)
        twin = bench_models.torch_twin(torch, model)
        assert twin.training == train
        with numcnn.no_grad(), torch.no_grad():
            ours, theirs = model(x), twin(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_torch_twin_refuses_a_model_it_has_no_twin_for():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="no PyTorch twin for CifarResNet"):
        bench_models.torch_twin(torch, models.resnet20(shortcut="B"))


# --- no_grad keeps no graph ----------------------------------------------------------------------
def test_no_grad_inference_leaves_no_graph():
    model = models.resnet20((3, 8, 8), 5).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with numcnn.no_grad():
        out = model(numcnn.Tensor(x))
        model(x)  # the explicit API: nothing kept for a backward
    assert out._node is None and not out.requires_grad
    assert model._explicit is None
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones((2, 5), np.float32))
    recorded = model(numcnn.Tensor(x))
    assert recorded._node is not None  # recording is on again after the block


def test_no_grad_inference_peak_is_far_below_recording_peak():
    """Recording keeps every op's backward cache until the forward ends; under no_grad each
    activation is freed as soon as the next op has read it."""
    model = models.resnet20((3, 16, 16), 10).eval()
    x = np.random.default_rng(0).standard_normal((8, 3, 16, 16)).astype(np.float32)
    free = bench_models.inference_peak_bytes(model, x, recording=False)
    kept = bench_models.inference_peak_bytes(model, x, recording=True)
    assert 0 < free < kept / 3, (free, kept)
    assert model._explicit is None  # the measurement drops the graph it recorded
