"""``numcnn train --dtype``: the model and the data in float64 when asked, saved in the run and
kept by resume, and the run's model usable by evaluate and predict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from numcnn.checkpoint import load_checkpoint
from numcnn.errors import UserError
from numcnn.train import TrainConfig, evaluate, load_run_model, load_splits, predict_proba, resume, train

SMALL = dict(model="vgg_small", model_options={"widths": [4, 8], "hidden": 12}, epochs=2, batch_size=64,
             val_size=0.5, test_size=0.3, optimizer="sgd", scheduler="none")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_weights_and_the_run_have_the_dtype(tmp_path, dtype):
    train(TrainConfig(dtype=dtype, **SMALL), tmp_path / "run", quiet=True)
    state, _, meta = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert {a.dtype for a in state.values() if a.dtype.kind == "f"} == {np.dtype(dtype)}
    assert meta["config"]["dtype"] == dtype
    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["dtype"] == dtype


def test_resume_keeps_float64_bit_for_bit(tmp_path):
    train(TrainConfig(dtype="float64", **SMALL), tmp_path / "straight", quiet=True)
    train(TrainConfig(dtype="float64", **SMALL), tmp_path / "resumed", quiet=True, stop_after=1)
    resume(tmp_path / "resumed", quiet=True)
    a, _, _ = load_checkpoint(tmp_path / "straight" / "checkpoint.npz")
    b, _, meta = load_checkpoint(tmp_path / "resumed" / "checkpoint.npz")
    assert meta["config"]["dtype"] == "float64"
    for key in a:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)


def test_a_float64_run_evaluates_and_predicts_float32_images(tmp_path):
    config = TrainConfig(dtype="float64", **SMALL)
    train(config, tmp_path / "run", quiet=True)
    model, _ = load_run_model(tmp_path / "run")
    test = load_splits(config).test  # float32, as the data sets load
    loss, accuracy = evaluate(model, test)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    assert predict_proba(model, test.x[:3]).shape == (3, 10)


def test_an_unknown_dtype_is_a_user_error():
    with pytest.raises(UserError, match="dtype"):
        TrainConfig(dtype="float16").validate()
    done = subprocess.run([sys.executable, "-m", "numcnn", "train", "--dtype", "float16"], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2 and "--dtype" in done.stderr
