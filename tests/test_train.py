"""The trainer: determinism, resume bit for bit, run-folder contents, atomic files, checkpoints
that load without pickle, and the user errors of training."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from numcnn import checkpoint
from numcnn.checkpoint import atomic_write_bytes, load_checkpoint, pack_state, save_checkpoint, unpack_state
from numcnn.errors import UserError
from numcnn.train import TrainConfig, load_run_model, resume, train

pytestmark = pytest.mark.usefixtures("no_plots")  # drawn in tests/test_plots.py; see conftest


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


@pytest.mark.draws_plots
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


# --- changing the total on resume -------------------------------------------------------------
def lrs(run_dir):
    return [row["lr"] for row in json.loads((run_dir / "history.json").read_text())]


def test_extending_a_cosine_run_replans_from_the_lr_reached(tmp_path, data):
    train(config(data, epochs=2), tmp_path / "r", quiet=True)
    resume(tmp_path / "r", epochs=5, quiet=True)
    got = lrs(tmp_path / "r")
    assert len(got) == 5 and got[:2] == [2e-3, 1e-3]  # the first two epochs of a 2-epoch cosine
    # the remaining 3 epochs: a cosine from the lr reached (1e-3) whose 0 would be the 4th step
    expected = [1e-3 * (1 + math.cos(math.pi * k / 4)) / 2 for k in (1, 2, 3)]
    np.testing.assert_allclose(got[2:], expected, rtol=1e-12)
    assert all(a > b > 0 for a, b in zip(got, got[1:]))  # never rising, never 0


def test_an_extended_run_interrupted_resumes_bit_for_bit(tmp_path, data):
    for name in ("straight", "killed"):
        train(config(data, epochs=2), tmp_path / name, quiet=True)
    resume(tmp_path / "straight", epochs=5, quiet=True)
    assert resume(tmp_path / "killed", epochs=5, quiet=True, stop_after=1)["finished"] is False
    resume(tmp_path / "killed", quiet=True)  # the extended total and its schedule are kept
    assert lrs(tmp_path / "killed") == lrs(tmp_path / "straight")
    assert_same_weights(weights(tmp_path / "straight")[0], weights(tmp_path / "killed")[0])


def test_shortening_an_interrupted_cosine_run_still_anneals(tmp_path, data):
    train(config(data, epochs=8), tmp_path / "r", quiet=True, stop_after=2)
    resume(tmp_path / "r", epochs=4, quiet=True)
    got = lrs(tmp_path / "r")
    assert len(got) == 4 and all(a > b > 0 for a, b in zip(got, got[1:]))
    np.testing.assert_allclose(got[2:], [0.75 * got[1], 0.25 * got[1]], rtol=1e-12)  # cos(pi/3), cos(2pi/3)


def test_resume_with_fewer_epochs_than_done_is_refused(tmp_path, data):
    train(config(data, epochs=3), tmp_path / "r", quiet=True)
    with pytest.raises(UserError, match=r"already trained 3 epochs; --epochs 2 must be at least 3 \(or omit it"):
        resume(tmp_path / "r", epochs=2, quiet=True)


def test_resume_with_epochs_equal_to_done_says_there_is_nothing_to_train(tmp_path, data, capsys):
    train(config(data, epochs=4), tmp_path / "r", quiet=True, stop_after=2)
    before = (tmp_path / "r" / "checkpoint.npz").read_bytes()
    metrics = resume(tmp_path / "r", epochs=2)
    assert "nothing to train" in capsys.readouterr().out
    assert metrics["epochs"] == 2 and (tmp_path / "r" / "metrics.json").is_file()
    assert (tmp_path / "r" / "checkpoint.npz").read_bytes() == before


# --- metrics ----------------------------------------------------------------------------------
def test_test_loss_is_the_plain_cross_entropy_that_evaluate_reports(tmp_path, data):
    from numcnn.data import Normalizer, load_dataset
    from numcnn.train import evaluate

    metrics = train(config(data, epochs=2, label_smoothing=0.2), tmp_path / "r", quiet=True)
    model, meta = load_run_model(tmp_path / "r")
    splits = load_dataset("npz", data, normalizer=Normalizer.from_dict(meta["normalizer"]))
    loss, acc = evaluate(model, splits.test)  # what `numcnn evaluate` prints
    assert metrics["test_loss"] == pytest.approx(loss, rel=1e-12) and metrics["test_accuracy"] == acc
    assert metrics["label_smoothing"] == 0.2


def test_no_test_set_writes_no_test_metrics_and_strict_json(tmp_path, data):
    metrics = train(config(data, epochs=1, test_size=0), tmp_path / "r", quiet=True)
    assert metrics["test_accuracy"] is None and metrics["test_loss"] is None

    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")

    assert json.loads((tmp_path / "r" / "metrics.json").read_text(), parse_constant=refuse) == metrics


def test_a_float_size_above_one_is_refused(tmp_path, data):
    for field in ("val_size", "test_size"):
        with pytest.raises(UserError, match=r"fraction must be in \(0, 1\)"):
            train(config(data, epochs=1, **{field: 2.0}), tmp_path / field, quiet=True)
        assert not (tmp_path / field).exists()


# --- failed runs leave nothing that blocks the retry ------------------------------------------
def _bad_labels(path):
    np.savez(path, x=np.zeros((20, 6, 6), np.uint8), y=np.arange(20) * 0.5)


def _not_an_npz(path):
    path.write_bytes(b"not an npz")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(data_dir="{tmp}/missing.npz"), "no such .npz"),
        (dict(data_dir="{tmp}/junk.npz"), "not a readable .npz"),
        (dict(data_dir="{tmp}/labels.npz"), "integer class labels"),
        (dict(dataset="cifar10", data_dir="{tmp}"), "CIFAR-10"),
        (dict(dataset="mnist", data_dir="{tmp}/nowhere"), "no such directory"),
        (dict(model="lenet5", model_options={"nonsense": 1}), "bad model options"),
        (dict(model="lenet5", model_options={}, optimizer="sgd", lr=1e12), "diverged.*run it again with a lower --lr"),
    ],
)
def test_a_failed_run_leaves_no_folder_and_the_retry_works(tmp_path, data, overrides, message):
    _not_an_npz(tmp_path / "junk.npz")
    _bad_labels(tmp_path / "labels.npz")
    overrides = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in overrides.items()}
    with pytest.raises(UserError, match=message):
        train(config(data, epochs=1, **overrides), tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()
    train(config(data, epochs=1), tmp_path / "r", quiet=True)  # the same --out, fixed


def test_interrupted_before_the_first_epoch_leaves_no_folder(tmp_path, data, monkeypatch):
    from numcnn import train as train_mod

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "_train_epoch", interrupted)
    (tmp_path / "empty").mkdir()  # an empty folder given by the user stays, still empty
    for out in (tmp_path / "new", tmp_path / "empty"):
        with pytest.raises(KeyboardInterrupt):
            train(config(data, epochs=2), out, quiet=True)
    assert not (tmp_path / "new").exists() and os.listdir(tmp_path / "empty") == []


def test_a_run_with_a_completed_epoch_stays_after_a_failure(tmp_path, data, monkeypatch):
    from numcnn import train as train_mod

    real = train_mod._train_epoch

    def fails_in_epoch_2(model, optimizer, data_set, rng, cfg, epoch, quiet, *rest):
        if epoch == 2:
            raise KeyboardInterrupt
        return real(model, optimizer, data_set, rng, cfg, epoch, quiet, *rest)

    monkeypatch.setattr(train_mod, "_train_epoch", fails_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train(config(data, epochs=3), tmp_path / "r", quiet=True)
    assert load_checkpoint(tmp_path / "r" / "checkpoint.npz")[2]["epoch"] == 1
    monkeypatch.undo()
    assert resume(tmp_path / "r", quiet=True)["epochs"] == 3


def test_force_keeps_the_old_run_when_the_new_one_is_invalid(tmp_path, data):
    train(config(data, epochs=1), tmp_path / "r", quiet=True)
    with pytest.raises(UserError, match="no such .npz"):
        train(config(data, epochs=1, data_dir=str(tmp_path / "missing.npz")), tmp_path / "r", quiet=True, overwrite=True)
    assert (tmp_path / "r" / "checkpoint.npz").is_file()


def test_divergence_after_an_epoch_advises_a_new_run(tmp_path, data, monkeypatch):
    from numcnn import train as train_mod

    real = train_mod._train_epoch

    def diverges_in_epoch_2(model, optimizer, data_set, rng, cfg, epoch, quiet, *rest):
        if epoch == 2:
            optimizer.param_groups[0]["lr"] = 1e12
        return real(model, optimizer, data_set, rng, cfg, epoch, quiet, *rest)

    monkeypatch.setattr(train_mod, "_train_epoch", diverges_in_epoch_2)
    cfg = config(data, epochs=3, model="lenet5", model_options={}, optimizer="sgd", scheduler="none")
    with pytest.raises(UserError, match="--resume keeps the saved lr.*lower --lr.*another --out"):
        train(cfg, tmp_path / "r", quiet=True)
    assert (tmp_path / "r" / "checkpoint.npz").is_file()


def test_run_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a", b"x")
        os.umask(0o077)
        atomic_write_bytes(tmp_path / "b", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "a").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b").stat().st_mode & 0o777 == 0o600


def test_random_bytes_are_refused_without_pickle_advice(tmp_path):
    (tmp_path / "c.npz").write_bytes(np.random.default_rng(0).bytes(3000))
    with pytest.raises(UserError, match="not a readable numcnn checkpoint") as err:
        load_checkpoint(tmp_path / "c.npz")
    assert "allow_pickle" not in str(err.value) and "pickle.load" not in str(err.value)
