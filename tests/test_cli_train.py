"""``numcnn train``: outputs, run folders, user errors (one line on stderr, non-zero exit, no
traceback), and SIGKILL-then-resume ending with the uninterrupted weights."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from numcnn.checkpoint import load_checkpoint
from numcnn.cli import main

from tests.cli import ROOT, _in_a_temporary_directory, assert_user_error, data, run_cli  # noqa: F401 (fixtures)
from tests.test_train import assert_same_weights


def test_default_train_smoke(tmp_path):
    """`numcnn train` on the built-in digits, shortened to one epoch (the full default run is
    measured by hand: see notes/train.md)."""
    result = run_cli("train", "--epochs", "1", "--out", tmp_path / "run")
    assert result.returncode == 0, result.stderr
    assert "digits: 1294 train / 144 val / 359 test" in result.stdout
    assert "epoch 1/1" in result.stdout and "test accuracy" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["dataset"] == "digits" and metrics["model"] == "lenet5" and metrics["epochs"] == 1
    assert metrics["test_accuracy"] > 0.5


def test_train_quiet_prints_one_line(tmp_path, data, capsys):
    assert main(["train", "--dataset", "npz", "--data-dir", str(data), "--epochs", "1", "--out", str(tmp_path / "r"), "-q"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("test accuracy")
    assert re.match(r"test accuracy \d+\.\d\d%  ->  ", out[0]), out[0]  # a percentage, as without -q


def test_train_default_out_folder_is_new_each_time(tmp_path, data, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        assert main(["train", "--dataset", "npz", "--data-dir", str(data), "--epochs", "1", "-q"]) == 0
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert len(runs) == 2 and all(name.startswith("npz-lenet5-") for name in runs)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["train", "--dataset", "mnist", "--data-dir", "{tmp}/missing"], ["no such directory"]),
        (["train", "--dataset", "mnist", "--data-dir", "{tmp}"], ["train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]),
        (["train", "--model", "resnet999"], ["invalid choice", "resnet999"]),
        (["train", "--epochs", "0"], ["--epochs"]),
        (["train", "--lr", "nan"], ["--lr"]),
        (["train", "--resume", "{tmp}"], ["not a numcnn run folder"]),
        (["evaluate", "{tmp}/nope"], ["no such run folder"]),
        (["predict", "{tmp}/nope", "x.npy"], ["no such run folder"]),
        (["summary", "--input-shape", "1,28"], ["C,H,W"]),
        (["summary", "--model", "lenet5", "--input-shape", "1,2,2"], ["too small"]),
    ],
)
def test_user_errors_in_process(tmp_path, capsys, args, fragments):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert_user_error(code, err, *fragments)


def test_user_errors_from_the_real_command_have_no_traceback(tmp_path, data):
    result = run_cli("train", "--dataset", "cifar10", "--data-dir", tmp_path)
    assert_user_error(result.returncode, result.stderr, "data_batch_1", "test_batch", str(tmp_path))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "run.json").write_text("{}")
    result = run_cli("train", "--dataset", "npz", "--data-dir", data, "--out", tmp_path / "run")
    assert_user_error(result.returncode, result.stderr, "already exists", "--resume", "--force")
    result = run_cli("train", "--dataset", "npz", "--data-dir", data, "--optimizer", "sgd", "--lr", "1e12", "--out", tmp_path / "div", "-q")
    assert_user_error(result.returncode, result.stderr, "diverged")


def test_failed_trains_without_out_leave_no_run_folder(tmp_path, data, capsys):
    for args in (["--dataset", "mnist", "--data-dir", str(tmp_path / "missing")],
                 ["--dataset", "mnist", "--data-dir", str(tmp_path)],
                 ["--dataset", "cifar10", "--data-dir", str(tmp_path)],
                 ["--dataset", "npz", "--data-dir", str(data), "--optimizer", "sgd", "--lr", "1e12", "-q"]):
        assert main(["train", *args]) == 2
        assert_user_error(2, capsys.readouterr().err)
        assert not Path("runs").exists()


def test_ctrl_c_before_the_first_epoch_keeps_no_folder(tmp_path, data, capsys, monkeypatch):
    from numcnn import train as train_mod

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_train_epoch", interrupted)
    assert main(["train", "--dataset", "npz", "--data-dir", str(data), "--out", str(tmp_path / "r"), "-q"]) == 130
    assert "interrupted before the first epoch completed" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_size_options_refuse_a_float_above_one(capsys):
    for option in ("--val-size", "--test-size"):
        with pytest.raises(SystemExit) as exc:
            main(["train", option, "2.0"])
        assert_user_error(exc.value.code, capsys.readouterr().err, option, "fraction in (0, 1)", "whole count")
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "fraction in (0, 1)" in capsys.readouterr().out


def test_resume_refuses_new_settings(trained, capsys):
    code = main(["train", "--resume", str(trained), "--lr", "0.5"])
    assert_user_error(code, capsys.readouterr().err, "--lr")


def test_sigkill_at_a_random_moment_then_resume_gives_the_uninterrupted_weights(tmp_path, data):
    args = ["train", "--dataset", "npz", "--data-dir", data, "--model", "three_layer", "--epochs", "8",
            "--batch-size", "8", "--seed", "5", "--quiet"]
    reference = run_cli(*args, "--out", tmp_path / "ref")
    assert reference.returncode == 0, reference.stderr
    run = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    rng = np.random.default_rng()
    proc = subprocess.Popen([sys.executable, "-m", "numcnn", *map(str, args), "--out", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (run / "run.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    history = run / "history.json"
    # Kill somewhere in the middle of training: after 1..4 of the 8 epochs plus a random fraction.
    target_epochs = int(rng.integers(1, 5))
    while proc.poll() is None and time.monotonic() < deadline:
        if history.exists() and len(json.loads(history.read_text() or "[]")) >= target_epochs:
            break
        time.sleep(0.005)
    time.sleep(float(rng.uniform(0, 0.02)))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()  # it was still training
    done = load_checkpoint(run / "checkpoint.npz")[2]["epoch"] if (run / "checkpoint.npz").exists() else 0
    assert done < 8
    resumed = run_cli("train", "--resume", run, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    ref_state, _, ref_meta = load_checkpoint(tmp_path / "ref" / "checkpoint.npz")
    state, _, meta = load_checkpoint(run / "checkpoint.npz")
    assert meta["epoch"] == ref_meta["epoch"] == 8
    assert_same_weights(ref_state, state)
    assert [h["val_loss"] for h in meta["history"]] == [h["val_loss"] for h in ref_meta["history"]]
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == json.loads((tmp_path / "ref" / "metrics.json").read_text())["test_accuracy"]
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]  # resume removes a killed write's temp file
