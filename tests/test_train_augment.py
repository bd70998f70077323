"""``numcnn train --augment``: training batches (only) are augmented, the run is a function of the
seed, the setting is saved in the run, and an interrupted run resumes bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest

from numcnn.checkpoint import load_checkpoint
from numcnn.cli import main
from numcnn.data import augment
from numcnn.errors import UserError
from numcnn.train import TrainConfig, _epoch_augmentation, evaluate, load_run_model, load_splits, resume, train

from tests.cli import assert_user_error, run_cli
from .test_train import assert_same_weights, config, losses, make_npz, weights

pytestmark = pytest.mark.usefixtures("no_plots")  # drawn in tests/test_plots.py; see conftest


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_npz(tmp_path_factory.mktemp("augment") / "tiny.npz")


def test_interrupted_then_resumed_equals_straight_run_with_augment(tmp_path, data):
    cfg = config(data, augment=True, crop_padding=2, optimizer="sgd", scheduler="step")
    assert train(cfg, tmp_path / "resumed", quiet=True, stop_after=2) == {"epochs": 2, "finished": False}
    train(cfg, tmp_path / "straight", quiet=True)  # in between: resume may not lean on this process's state
    final = resume(tmp_path / "resumed", quiet=True)
    (ws, ms), (wr, mr) = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert_same_weights(ws, wr)
    assert losses(ms) == losses(mr) and mr["epoch"] == 4
    assert final["test_accuracy"] == json.loads((tmp_path / "straight" / "metrics.json").read_text())["test_accuracy"]
    saved = json.loads((tmp_path / "resumed" / "run.json").read_text())["config"]
    assert (saved["augment"], saved["crop_padding"], saved["flip"]) == (True, 2, True)
    assert mr["config"]["augment"] is True


def test_augment_changes_training_and_repeats_under_the_seed(tmp_path, data):
    for name, options in (("a", {}), ("b", {}), ("plain", {"augment": False}), ("noflip", {"flip": False})):
        train(config(data, epochs=1, **{"augment": True, **options}), tmp_path / name, quiet=True)
    runs = {name: weights(tmp_path / name)[0]["0.weight"] for name in ("a", "b", "plain", "noflip")}
    np.testing.assert_array_equal(runs["a"], runs["b"])
    assert not np.array_equal(runs["a"], runs["plain"])
    assert not np.array_equal(runs["a"], runs["noflip"])


def test_only_training_batches_are_augmented_each_image_once(tmp_path, data, monkeypatch):
    calls = []
    original = augment.EpochAugmentation.__call__

    def spy(self, batch, start):
        calls.append((start, len(batch)))
        return original(self, batch, start)

    monkeypatch.setattr(augment.EpochAugmentation, "__call__", spy)
    cfg = config(data, epochs=2, augment=True)
    train(cfg, tmp_path / "r", quiet=True)
    splits = load_splits(cfg)
    n = len(splits.train)
    expected = [(s, min(cfg.batch_size, n - s)) for s in range(0, n, cfg.batch_size)]
    assert calls == expected * 2  # positions 0..n-1 once per epoch, and nothing else
    # Validation saw the plain images: its loss is the evaluation of the saved model on them.
    model, meta = load_run_model(tmp_path / "r", which="last")
    val_loss, _ = evaluate(model, splits.val, label_smoothing=cfg.label_smoothing)
    assert meta["history"][-1]["val_loss"] == val_loss


def test_crops_pad_with_a_normalised_black_pixel(data):
    cfg = config(data, augment=True, crop_padding=3).validate()
    splits = load_splits(cfg)
    first = _epoch_augmentation(cfg, splits, 1)
    assert first.padding == 3 and first.flip
    black = float(splits.normalizer(np.zeros((1, 1, 1, 1), np.uint8))[0, 0, 0, 0])
    assert first.fill == (black,)
    assert _epoch_augmentation(config(data), splits, 1) is None
    assert _epoch_augmentation(config(data, augment=True), splits, 1).padding == augment.default_crop_padding(6, 6)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"crop_padding": 2}, "only change --augment"),
        ({"flip": False}, "only change --augment"),
        ({"augment": True, "crop_padding": -1}, "--crop-padding must be a whole number >= 0, got -1"),
    ],
)
def test_config_errors(data, options, message):
    with pytest.raises(UserError, match=message):
        config(data, **options).validate()


# --- the command ------------------------------------------------------------------------------
def test_cli_flags_are_saved_and_resume_reuses_them(tmp_path, data, capsys):
    run = tmp_path / "run"
    args = ["train", "--dataset", "npz", "--data-dir", str(data), "--model", "three_layer", "--epochs", "2", "--quiet"]
    assert main([*args, "--augment", "--crop-padding", "1", "--no-flip", "--out", str(run)]) == 0
    saved = json.loads((run / "run.json").read_text())["config"]
    assert (saved["augment"], saved["crop_padding"], saved["flip"]) == (True, 1, False)
    assert load_checkpoint(run / "checkpoint.npz")[2]["config"] == saved
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--augment"]) == 2
    assert_user_error(2, capsys.readouterr().err, "remove --augment")


def test_resume_in_a_new_process_equals_the_straight_run(tmp_path, data):
    """Two processes (2 epochs, then --resume to 4) against four epochs in this one."""
    args = ["--dataset", "npz", "--data-dir", data, "--model", "three_layer", "--scheduler", "none", "--batch-size", "8",
            "--augment", "--crop-padding", "2", "--seed", "7", "--quiet"]
    first = run_cli("train", *args, "--epochs", "2", "--out", tmp_path / "split")
    assert first.returncode == 0, first.stderr
    second = run_cli("train", "--resume", tmp_path / "split", "--epochs", "4", "--quiet")
    assert second.returncode == 0, second.stderr
    straight = TrainConfig(dataset="npz", data_dir=str(data), model="three_layer", scheduler="none", batch_size=8,
                           augment=True, crop_padding=2, seed=7, epochs=4)
    train(straight, tmp_path / "straight", quiet=True)
    (ws, ms), (wr, mr) = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert_same_weights(ws, wr)
    assert losses(ms) == losses(mr)


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--augment", "--crop-padding", "-1"], ["--crop-padding", "whole number of pixels >= 0", "'-1'"]),
        (["--augment", "--crop-padding", "two"], ["--crop-padding", "'two'"]),
        (["--no-flip"], ["--no-flip", "add --augment"]),
    ],
)
def test_cli_user_errors(capsys, args, fragments):
    try:
        code = main(["train", *args])
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code == 2
    assert_user_error(code, capsys.readouterr().err, *fragments)


def test_cli_help_documents_the_flags(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for fragment in ("--augment", "--crop-padding P", "--no-flip", "RandomCrop", "training batches only"):
        assert fragment in out
