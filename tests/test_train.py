"""The trainer: determinism, resume bit for bit, run-folder contents, atomic files, checkpoints
that load without pickle, and the user errors of training."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from numcnn import checkpoint
from numcnn.checkpoint import atomic_write_bytes, load_checkpoint, pack_state, save_checkpoint, unpack_state
from numcnn.errors import UserError
from numcnn.train import TrainConfig, load_run_model, resume, train


def make_npz(path, n=96, size=6, classes=3, seed=0, label_offset=0):
    """A small learnable image set: each class lights up a different stripe."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = rng.integers(0, 60, size=(n, size, size))
    for c in range(classes):
        x[y == c, :, 2 * c : 2 * c + 2] += 180
    np.savez(path, x=x.astype(np.uint8), y=y + label_offset)
    return path


# A tiny VGG (BatchNorm + Dropout) so that resume has every kind of state to get right.
TINY_VGG = dict(model="vgg_small", model_options={"widths": [4, 8], "hidden": 12})


def config(data, **overrides):
    values = dict(dataset="npz", data_dir=str(data), epochs=4, batch_size=16, seed=3, **TINY_VGG)
    values.update(overrides)
    return TrainConfig(**values)


def weights(run_dir, name="checkpoint.npz"):
    model_state, _, meta = load_checkpoint(run_dir / name)
    return model_state, meta


def assert_same_weights(a, b):
    assert list(a) == list(b)
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def losses(meta):
    return [(h["train_loss"], h["val_loss"], h["lr"]) for h in meta["history"]]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_npz(tmp_path_factory.mktemp("data") / "tiny.npz")


def test_same_seed_same_run_other_seed_other_run(tmp_path, data):
    train(config(data, epochs=2), tmp_path / "a", quiet=True)
    train(config(data, epochs=2), tmp_path / "b", quiet=True)
    train(config(data, epochs=2, seed=4), tmp_path / "c", quiet=True)
    (wa, ma), (wb, mb), (wc, _) = weights(tmp_path / "a"), weights(tmp_path / "b"), weights(tmp_path / "c")
    assert_same_weights(wa, wb)
    assert losses(ma) == losses(mb)
    assert not np.array_equal(wa["0.weight"], wc["0.weight"])


@pytest.mark.parametrize("optimizer, scheduler", [("adamw", "cosine"), ("sgd", "plateau"), ("rmsprop", "step"), ("adam", "none")])
def test_interrupted_then_resumed_equals_straight_run(tmp_path, data, optimizer, scheduler):
    cfg = config(data, optimizer=optimizer, scheduler=scheduler, label_smoothing=0.1)
    train(cfg, tmp_path / "straight", quiet=True)
    partial = train(cfg, tmp_path / "resumed", quiet=True, stop_after=2)
    assert partial == {"epochs": 2, "finished": False}
    assert not (tmp_path / "resumed" / "metrics.json").exists()
    final = resume(tmp_path / "resumed", quiet=True)
    (ws, ms), (wr, mr) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert_same_weights(ws, wr)
    assert losses(ms) == losses(mr) and mr["epoch"] == 4
    assert_same_weights(weights(tmp_path / "straight", "best.npz")[0], weights(tmp_path / "resumed", "best.npz")[0])
    straight = json.loads((tmp_path / "straight" / "metrics.json").read_text())
    assert final["test_accuracy"] == straight["test_accuracy"]


def test_two_epochs_then_extended_to_four_equals_four_straight(tmp_path, data):
    train(config(data, epochs=4, scheduler="none"), tmp_path / "four", quiet=True)
    train(config(data, epochs=2, scheduler="none"), tmp_path / "two", quiet=True)
    assert json.loads((tmp_path / "two" / "metrics.json").read_text())["epochs"] == 2
    metrics = resume(tmp_path / "two", epochs=4, quiet=True)
    assert metrics["epochs"] == 4
    assert_same_weights(weights(tmp_path / "four")[0], weights(tmp_path / "two")[0])


def test_resume_of_a_finished_run_only_reevaluates(tmp_path, data):
    first = train(config(data, epochs=1), tmp_path / "r", quiet=True)
    before = (tmp_path / "r" / "checkpoint.npz").read_bytes()
    again = resume(tmp_path / "r", quiet=True)
    assert (tmp_path / "r" / "checkpoint.npz").read_bytes() == before
    assert again["test_accuracy"] == first["test_accuracy"]


def test_run_folder_contents_and_metrics(tmp_path, data):
    metrics = train(config(data, epochs=3, model="lenet5", model_options={}), tmp_path / "run", quiet=True)
    run = tmp_path / "run"
    for name in ("run.json", "checkpoint.npz", "best.npz", "history.json", "history.csv", "metrics.json"):
        assert (run / name).is_file(), name
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == metrics
    for key in ("test_accuracy", "best_val_accuracy", "epochs", "seconds"):
        assert key in saved
    assert saved["epochs"] == 3 and 0 <= saved["test_accuracy"] <= 1
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert saved["best_val_accuracy"] == max(h["val_accuracy"] for h in history)
    assert (run / "history.csv").read_text().splitlines()[0].startswith("epoch,train_loss")
    assert not [p for p in os.listdir(run) if p.endswith(".tmp")]
    model, meta = load_run_model(run)
    assert meta["spec"]["name"] == "lenet5" and meta["spec"]["input_shape"] == [1, 6, 6]
    pytest.importorskip("matplotlib")
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "filters.png").read_bytes()[:4] == b"\x89PNG"


def test_the_model_learns(tmp_path, data):
    cfg = config(data, epochs=8, lr=1e-2, model="three_layer", model_options={"num_filters": 4, "filter_size": 3, "hidden_dim": 16})
    metrics = train(cfg, tmp_path / "r", quiet=True)
    assert metrics["test_accuracy"] >= 0.9


def test_early_stopping(tmp_path, data):
    # lr tiny enough that validation accuracy cannot improve after the first epoch.
    metrics = train(config(data, epochs=10, patience=2, lr=1e-12, optimizer="sgd", momentum=0.0), tmp_path / "r", quiet=True)
    assert metrics["stopped_early"] and metrics["epochs"] == 3 and metrics["best_epoch"] == 1


def test_existing_run_folder_is_never_overwritten_silently(tmp_path, data):
    train(config(data, epochs=1), tmp_path / "r", quiet=True)
    with pytest.raises(UserError, match="already exists.*--resume.*--force"):
        train(config(data, epochs=1), tmp_path / "r", quiet=True)
    train(config(data, epochs=1, seed=9), tmp_path / "r", quiet=True, overwrite=True)
    assert json.loads((tmp_path / "r" / "run.json").read_text())["config"]["seed"] == 9
    (tmp_path / "notarun").mkdir()
    (tmp_path / "notarun" / "precious.txt").write_text("keep me")
    with pytest.raises(UserError, match="not a numcnn run folder"):
        train(config(data, epochs=1), tmp_path / "notarun", quiet=True, overwrite=True)
    assert (tmp_path / "notarun" / "precious.txt").read_text() == "keep me"


def test_diverging_loss_is_a_user_error(tmp_path, data):
    with pytest.raises(UserError, match="diverged.*--lr"):
        train(config(data, model="lenet5", model_options={}, optimizer="sgd", lr=1e12, epochs=3), tmp_path / "r", quiet=True)


def test_labels_out_of_range_for_the_model(tmp_path, data):
    train(config(data, epochs=1), tmp_path / "r", quiet=True)
    shifted = make_npz(tmp_path / "shifted.npz", label_offset=5)
    with pytest.raises(UserError, match="labels out of range"):
        resume(tmp_path / "r", epochs=2, data_dir=shifted, quiet=True)


def test_bad_configs_are_user_errors(tmp_path, data):
    for bad, message in [
        (dict(model="resnet"), "unknown model"),
        (dict(optimizer="lbfgs"), "unknown optimizer"),
        (dict(epochs=0), "--epochs"),
        (dict(lr=-1.0), "--lr"),
    ]:
        with pytest.raises(UserError, match=message):
            train(config(data, **bad), tmp_path / "x", quiet=True)
    with pytest.raises(UserError, match="not a numcnn run folder"):
        resume(tmp_path / "nothing-here", quiet=True)


def test_resume_before_the_first_checkpoint_starts_over(tmp_path, data):
    train(config(data, epochs=2), tmp_path / "ref", quiet=True)
    train(config(data, epochs=2), tmp_path / "r", quiet=True, stop_after=0)  # killed before epoch 1 ended
    assert not (tmp_path / "r" / "checkpoint.npz").exists()
    resume(tmp_path / "r", quiet=True)
    assert_same_weights(weights(tmp_path / "ref")[0], weights(tmp_path / "r")[0])


# --- checkpoints and atomic files -------------------------------------------------------------
def test_checkpoint_round_trip_without_pickle(tmp_path):
    state = {
        "optimizer": {"state": {0: {"step": 3, "exp_avg": np.ones((2, 2), np.float32)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
        "rng": np.random.default_rng(5).bit_generator.state,  # 128-bit integers
        "scalar": np.float32(1.5),
        "none": None,
    }
    model_state = {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "1.running_mean": np.zeros(3)}
    save_checkpoint(tmp_path / "c.npz", model_state, state, {"epoch": 7})
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:  # every entry loads without pickle
        assert all(f[k].dtype != object for k in f.files)
    m, s, meta = load_checkpoint(tmp_path / "c.npz")
    assert meta == {"epoch": 7} and list(m) == ["0.weight", "1.running_mean"]
    assert_same_weights(m, model_state)
    assert s["optimizer"]["state"][0]["step"] == 3 and 0 in s["optimizer"]["state"]
    assert s["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert s["rng"] == state["rng"]
    assert s["scalar"] == np.float32(1.5) and isinstance(s["scalar"], np.float32)
    assert s["none"] is None


def test_pack_state_rejects_objects():
    with pytest.raises(TypeError):
        pack_state({"f": object()})
    skeleton, arrays = pack_state([1, (2, np.int64(3))])
    assert unpack_state(json.loads(json.dumps(skeleton)), arrays) == [1, (2, 3)]


def test_damaged_checkpoint_is_a_user_error(tmp_path):
    (tmp_path / "c.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(UserError, match="not a readable numcnn checkpoint"):
        load_checkpoint(tmp_path / "c.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(UserError):
        load_checkpoint(tmp_path / "other.npz")


def test_atomic_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    atomic_write_bytes(target, b"old")

    def boom(src, dst):
        raise KeyboardInterrupt  # e.g. Ctrl-C between writing the temp file and renaming it

    monkeypatch.setattr(checkpoint.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new" * 1000)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.json"]  # the temporary file is cleaned up
    monkeypatch.undo()
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.json"]


def test_no_validation_set(tmp_path, data):
    metrics = train(config(data, epochs=2, val_size=0), tmp_path / "r", quiet=True)
    assert metrics["best_val_accuracy"] is None and metrics["epochs"] == 2
    history = json.loads((tmp_path / "r" / "history.json").read_text())
    assert history[0]["val_loss"] is None and history[0]["train_loss"] > 0
