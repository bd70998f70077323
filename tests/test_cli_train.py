"""The train/evaluate/predict/summary/gradcheck commands: outputs, user errors (one line on stderr,
non-zero exit, no traceback), and SIGKILL-then-resume ending with the uninterrupted weights."""

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
from numcnn.commands.summary import layer_table
from numcnn.models import build_model, model_spec

from .test_train import assert_same_weights, make_npz

pytestmark = pytest.mark.usefixtures("no_plots")  # drawn in tests/test_plots.py; see conftest

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=120):
    """``python -m numcnn ARGS`` run in the current directory (a temporary one: see below)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "numcnn", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path_factory, monkeypatch):
    """Every command runs in a temporary directory, so a run folder written to the default
    ``runs/...`` by mistake lands there, never in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def assert_user_error(code, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_npz(tmp_path_factory.mktemp("cli") / "tiny.npz", n=80)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    run = tmp_path_factory.mktemp("runs") / "run"
    code = main(["train", "--dataset", "npz", "--data-dir", str(data), "--model", "three_layer", "--epochs", "3",
                 "--lr", "0.01", "--out", str(run), "--quiet"])
    assert code == 0
    return run


# --- train ------------------------------------------------------------------------------------
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


def test_labels_out_of_range_on_evaluate(trained, tmp_path, capsys):
    bad = make_npz(tmp_path / "bad.npz", n=40, label_offset=7)
    code = main(["evaluate", str(trained), "--dataset", "npz", "--data-dir", str(bad)])
    assert_user_error(code, capsys.readouterr().err, "labels out of range")


# --- evaluate and predict ---------------------------------------------------------------------
def test_evaluate_matches_metrics(trained, capsys):
    assert main(["evaluate", str(trained)]) == 0
    out = capsys.readouterr().out
    metrics = json.loads((trained / "metrics.json").read_text())
    assert f"accuracy {metrics['test_accuracy']:.2%}" in out
    assert f"cross-entropy {metrics['test_loss']:.4f}," in out  # one loss, one name, in both places
    assert "confusion matrix" in out


def test_predict_npy_and_png(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"]
    np.save(tmp_path / "one.npy", x[0])
    np.save(tmp_path / "many.npy", x[:4])
    assert main(["predict", str(trained), str(tmp_path / "one.npy")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("class ")
    probs = [float(part.split(": ")[1]) for part in out[1].split("  ") if part.strip()]
    assert len(probs) == 3 and abs(sum(probs) - 1) < 1e-3
    assert main(["predict", str(trained), str(tmp_path / "many.npy"), "--top", "1"]) == 0
    assert [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")][3].startswith("[3] class")
    plt = pytest.importorskip("matplotlib.pyplot")
    # The same image as a 12x12 grey PNG: resized to 6x6 and read back it gives the same class.
    big = np.kron(x[0].astype(np.float64) / 255.0, np.ones((2, 2)))
    plt.imsave(tmp_path / "img.png", big, cmap="gray", vmin=0, vmax=1)
    assert main(["predict", str(trained), str(tmp_path / "img.png")]) == 0
    png_class = capsys.readouterr().out.splitlines()[0]
    assert main(["predict", str(trained), str(tmp_path / "one.npy")]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[1] == png_class.split()[1]


def test_predict_refuses_arrays_of_another_size_unless_resize(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"][0]
    np.save(tmp_path / "big.npy", np.kron(x, np.ones((2, 2))))
    code = main(["predict", str(trained), str(tmp_path / "big.npy")])
    assert_user_error(code, capsys.readouterr().err, "12x12", "1x6x6", "(N, 1, 6, 6)", "--resize")
    assert main(["predict", str(trained), str(tmp_path / "big.npy"), "--resize"]) == 0
    assert capsys.readouterr().out.startswith("class ")


@pytest.mark.parametrize("array, fragment", [
    (np.full((6, 6), np.nan), "NaN"),
    (np.full((6, 6), np.inf), "infinite"),
    (np.zeros((0, 6, 6)), "no images"),
])
def test_predict_refuses_nan_and_empty_input(trained, tmp_path, capsys, array, fragment):
    np.save(tmp_path / "x.npy", array)
    assert_user_error(main(["predict", str(trained), str(tmp_path / "x.npy")]), capsys.readouterr().err, fragment)


def test_predict_warns_about_values_out_of_the_training_range(trained, tmp_path, data, capsys):
    with np.load(data) as f:
        x = f["x"][0].astype(np.float64)  # trained on bytes 0..255
    for name, values, fragment in [("unit", x / 255.0, "look scaled to 0..1"), ("huge", x * 100, "far outside")]:
        np.save(tmp_path / f"{name}.npy", values)
        assert main(["predict", str(trained), str(tmp_path / f"{name}.npy")]) == 0
        captured = capsys.readouterr()
        assert "warning" in captured.err and fragment in captured.err and captured.out.startswith("class ")
    np.save(tmp_path / "same.npy", x)
    assert main(["predict", str(trained), str(tmp_path / "same.npy")]) == 0
    assert capsys.readouterr().err == ""


def test_predict_hints_at_invert_for_a_dark_on_light_png(tmp_path, capsys):
    plt = pytest.importorskip("matplotlib.pyplot")
    from numcnn.data import read_digits

    run = tmp_path / "digits"
    assert main(["train", "--epochs", "1", "--out", str(run), "-q"]) == 0
    digit = read_digits()[0][0, 0] / 16.0
    plt.imsave(tmp_path / "ink.png", 1.0 - digit, cmap="gray", vmin=0, vmax=1)
    capsys.readouterr()
    assert main(["predict", str(run), str(tmp_path / "ink.png")]) == 0
    assert "--invert" in capsys.readouterr().err
    assert main(["predict", str(run), str(tmp_path / "ink.png"), "--invert"]) == 0
    assert capsys.readouterr().err == ""


def test_predict_bad_file(trained, tmp_path, capsys):
    (tmp_path / "bad.npy").write_bytes(b"nope")
    assert_user_error(main(["predict", str(trained), str(tmp_path / "bad.npy")]), capsys.readouterr().err, "bad.npy")
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(1).bytes(3000))
    for cmd in (["predict", str(tmp_path / "random.npz"), str(tmp_path / "bad.npy")], ["evaluate", str(tmp_path / "random.npz")]):
        code = main(cmd)
        err = capsys.readouterr().err
        assert_user_error(code, err, "not a readable numcnn checkpoint", "never loads")
        assert "allow_pickle" not in err and "pickle.load" not in err
    np.save(tmp_path / "wrong.npy", np.zeros((2, 2, 6, 6)))
    assert_user_error(main(["predict", str(trained), str(tmp_path / "wrong.npy")]), capsys.readouterr().err, "channels")


# --- summary and gradcheck --------------------------------------------------------------------
def test_summary_lenet5_hand_count(capsys):
    rows = layer_table(build_model(model_spec("lenet5", (1, 28, 28), 10)), (1, 28, 28))
    shapes = [r.output_shape for r in rows]
    assert shapes == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
        (400,), (120,), (120,), (84,), (84,), (10,),
    ]
    params = [r.params for r in rows]
    # conv1 6*(1*5*5)+6, conv2 16*(6*5*5)+16, fc 400*120+120, 120*84+84, 84*10+10
    assert params == [156, 0, 0, 2416, 0, 0, 0, 48120, 0, 10164, 0, 850]
    assert sum(params) == 61706
    # 2 FLOPs per multiply-add: conv1 28*28*6 outputs * 25 MACs, conv2 10*10*16 * 150, fc 400*120 ...
    assert rows[0].flops == 2 * 28 * 28 * 6 * 25 and rows[3].flops == 2 * 10 * 10 * 16 * 150
    assert rows[7].flops == 2 * 400 * 120 and rows[2].flops == 6 * 14 * 14 * 4
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "61,706" in out and "16x5x5" in out and "Conv2d(1->6, 5x5, pad 2)" in out


def test_summary_of_a_run_and_of_other_models(trained, capsys):
    assert main(["summary", str(trained)]) == 0
    assert "three_layer on 1x6x6" in capsys.readouterr().out
    assert main(["summary", "--model", "vgg_small", "--input-shape", "3,32,32"]) == 0
    assert "BatchNorm2d(32)" in capsys.readouterr().out


def test_gradcheck_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    for layer in ("Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "ReLU", "LeakyReLU", "Flatten", "Dropout", "BatchNorm1d", "BatchNorm2d", "CrossEntropyLoss"):
        assert layer in out
    assert "all 15 checks pass" in out


def test_gradcheck_fails_loudly_on_a_broken_layer(monkeypatch, capsys):
    from numcnn import functional

    # nn.ReLU's gradient is relu_backward's (the tape calls the pair), so break the pair
    original = functional.relu_backward
    monkeypatch.setattr(functional, "relu_backward", lambda dout, cache: original(dout, cache) * 1.01)
    assert main(["gradcheck"]) == 1
    out = capsys.readouterr().out
    assert "ReLU" in out and "FAIL" in out


def test_help_texts():
    for cmd in ("train", "evaluate", "predict", "summary", "gradcheck"):
        result = run_cli(cmd, "--help", timeout=60) if cmd == "train" else None
        if result is not None:
            assert result.returncode == 0 and "--resume" in result.stdout and "run folder" in result.stdout
        with pytest.raises(SystemExit) as exc:
            main([cmd, "--help"])
        assert exc.value.code == 0


# --- SIGKILL, then --resume -------------------------------------------------------------------
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


def test_summary_handles_adaptive_pools_and_transposed_conv():
    from numcnn import nn
    from numcnn.commands.summary import layer_table

    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.AdaptiveAvgPool2d((2, 2)), nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )
    rows = layer_table(model, (3, 8, 8))
    assert [r.output_shape for r in rows] == [(8, 8, 8), (8, 2, 2), (4, 4, 4), (4, 1, 1), (4,), (2,)]
    # transposed conv: each of the 8*2*2 inputs does 4*2*2 multiply-adds
    assert rows[2].flops == 2 * (8 * 2 * 2) * (4 * 2 * 2)
    assert rows[1].kind.startswith("AdaptiveAvgPool2d")
