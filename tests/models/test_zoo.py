"""The residual and U-Net models of the zoo without torch: parameter counts, shapes at any input
size, checkpoints, ``numcnn summary`` of non-sequential models, the ``digits_seg`` data set, and
one-epoch training runs from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import numcnn
import numcnn.errors
from numcnn import models
from numcnn.checkpoint import load_checkpoint, save_checkpoint
from numcnn.cli import main
from numcnn.commands.summary import layer_table
from numcnn.data import load_dataset
from numcnn.data.sources import read_digits, read_digits_seg
from numcnn.models import build_model, model_spec
from numcnn.train import TrainConfig, resume, train

from tests.cli import assert_user_error
from tests.test_train import assert_same_weights, make_npz

pytestmark = pytest.mark.usefixtures("no_plots")  # drawn in tests/test_plots.py (a ResNet's too); see conftest


def logits(model, x):
    model.eval()
    with numcnn.no_grad():
        return model(numcnn.tensor(x)).numpy()


@pytest.mark.parametrize(
    "name, count",
    [("resnet18", 11_689_512), ("resnet34", 21_797_672), ("resnet50", 25_557_032),
     ("resnet20", 269_722), ("resnet32", 464_154), ("resnet56", 853_018)],
)
def test_parameter_counts(name, count):
    model = models.MODELS[name]()  # the default input and classes (1000 for the ImageNet ones)
    assert model.num_parameters() == count


def test_cifar_resnet_shortcut_b_has_projections():
    model = models.resnet20(shortcut="B")
    assert model.num_parameters() == 272_474  # + 1x1 convs 16->32, 32->64 and their BatchNorms
    assert "layer2.0.downsample.0.weight" in model.state_dict()
    assert not any("downsample" in k for k in models.resnet20().state_dict())  # option A: none


@pytest.mark.parametrize("name, options, fragment", [
    ("resnet20", {"shortcut": "C"}, "shortcut must be 'A' or 'B'"),
    ("unet_small", {"widths": [8]}, "at least two positive channel counts"),
    ("resnet18", {"depth": 3}, "bad model options"),
])
def test_bad_options_are_user_errors(name, options, fragment):
    with pytest.raises(numcnn.errors.UserError, match=fragment):
        build_model(model_spec(name, (3, 8, 8), 10, **options))


def test_resnet18_state_dict_keys_follow_torchvision():
    keys = list(models.resnet18().state_dict())
    assert keys[:6] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked"]
    for key in ("layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer2.0.downsample.0.weight",
                "layer2.0.downsample.1.running_var", "layer4.1.bn2.num_batches_tracked", "fc.weight", "fc.bias"):
        assert key in keys
    assert "layer1.0.downsample.0.weight" not in keys
    assert len(keys) == 122


def test_resnet_init_is_torchvisions():
    numcnn.nn.init.manual_seed(0)
    model = models.resnet18()
    w = model.layer3[0].conv2.weight.data  # (256, 256, 3, 3): He-normal, fan_out = 256 * 9
    assert abs(w.std() - np.sqrt(2 / (256 * 9))) < 0.01 * np.sqrt(2 / (256 * 9))
    assert (model.layer3[0].bn1.weight.data == 1).all() and (model.layer3[0].bn1.bias.data == 0).all()
    assert np.abs(model.fc.weight.data).max() <= 1 / np.sqrt(512)  # Linear's default U(+-1/sqrt(in))


@pytest.mark.parametrize("name, shape", [("resnet18", (3, 8, 8)), ("resnet20", (1, 8, 8)), ("resnet20", (3, 5, 7)),
                                         ("unet_small", (1, 8, 8)), ("unet_small", (3, 5, 7))])
def test_any_input_size(name, shape):
    model = build_model(model_spec(name, shape, 4))
    out = logits(model, np.zeros((2, *shape), np.float32))
    assert out.shape == ((2, 4, *shape[1:]) if name == "unet_small" else (2, 4))
    assert out.dtype == np.float32


@pytest.mark.parametrize("name, shape", [("resnet20", (3, 12, 12)), ("unet_small", (1, 9, 8))])
def test_checkpoint_rebuilds_the_same_model(tmp_path, name, shape):
    numcnn.nn.init.manual_seed(1)
    spec = model_spec(name, shape, 6)
    model = build_model(spec)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    model.train()  # move the BatchNorm statistics away from their initial values
    model(numcnn.tensor(x))
    expected = logits(model, x)
    save_checkpoint(tmp_path / "ckpt.npz", model.state_dict(), None, {"spec": spec})
    state, _, meta = load_checkpoint(tmp_path / "ckpt.npz")
    numcnn.nn.init.manual_seed(2)  # other fresh weights, all replaced by the loaded ones
    rebuilt = build_model(meta["spec"])
    rebuilt.load_state_dict(state)
    np.testing.assert_array_equal(logits(rebuilt, x), expected)


def test_unet_gradients_reach_every_parameter():
    model = models.unet_small((1, 8, 8), 3)
    x = numcnn.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)).astype(np.float32))
    y = numcnn.tensor(np.random.default_rng(1).integers(0, 3, size=(2, 8, 8)))
    numcnn.nn.functional.cross_entropy(model(x), y).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not np.any(p.grad)]
    assert missing == []


def test_resnet_resume_gives_the_uninterrupted_weights(tmp_path):
    """Stopped after an epoch and resumed, a residual model (BatchNorm counters, the tape's
    gradients) ends bit for bit where the uninterrupted run does."""
    data = make_npz(tmp_path / "tiny.npz", n=48)
    config = TrainConfig(dataset="npz", data_dir=str(data), model="resnet20", epochs=2, batch_size=16, seed=4)
    train(config, tmp_path / "whole", quiet=True)
    train(config, tmp_path / "split", quiet=True, stop_after=1)
    resume(tmp_path / "split", quiet=True)
    whole, _, _ = load_checkpoint(tmp_path / "whole" / "checkpoint.npz")
    split, _, _ = load_checkpoint(tmp_path / "split" / "checkpoint.npz")
    assert_same_weights(whole, split)
    assert whole["bn1.num_batches_tracked"] == 2 * 3  # 2 epochs of 3 batches


# --- summary ------------------------------------------------------------------------------------
def test_summary_of_resnet20_records_every_layer_call():
    rows = layer_table(build_model(model_spec("resnet20", (3, 32, 32), 10)), (3, 32, 32))
    names = [r.name for r in rows]
    assert names[:3] == ["conv1", "bn1", "relu"]
    assert names.count("layer1.0.relu") == 2  # a block's ReLU runs twice: two rows, params once
    assert "layer2.0.downsample" in names and rows[names.index("layer2.0.downsample")].output_shape == (32, 16, 16)
    assert rows[-1].name == "fc" and rows[-1].output_shape == (10,)
    assert sum(r.params for r in rows) == 269_722
    conv = rows[names.index("layer3.1.conv1")]
    assert conv.output_shape == (64, 8, 8) and conv.flops == 2 * 64 * 8 * 8 * 64 * 9


def test_summary_of_unet_lists_the_decoder():
    rows = layer_table(build_model(model_spec("unet_small", (1, 8, 8), 11)), (1, 8, 8))
    shapes = {r.name: r.output_shape for r in rows}
    assert shapes["bottleneck.5"] == (64, 2, 2) and shapes["upsamples.0"] == (32, 4, 4)
    assert shapes["decoders.0.0"] == (32, 4, 4) and shapes["head"] == (11, 8, 8)
    assert sum(r.params for r in rows) == models.unet_small().num_parameters()


def test_summary_counts_modules_that_did_not_run():
    class Skips(numcnn.nn.Module):
        def __init__(self):
            super().__init__()
            self.used = numcnn.nn.Linear(4, 3)
            self.spare = numcnn.nn.Linear(4, 2)  # never called

        def forward(self, x):
            return self.used(x.flatten(1))

    model = Skips()
    rows = layer_table(model, (1, 2, 2))
    assert [(r.name, r.params) for r in rows] == [("used", 15), ("", 10)]
    assert not any("forward" in vars(m) for m in model.modules())  # the wrappers are removed


@pytest.mark.slow
def test_summary_resnet18_cli(capsys):
    assert main(["summary", "--model", "resnet18", "--input-shape", "3,224,224"]) == 0
    out = capsys.readouterr().out
    assert "11,689,512" in out and "layer2.0.downsample.0" in out and "512x7x7" in out


# --- digits_seg and training ------------------------------------------------------------------------
def test_digits_seg_labels_ink_with_the_digit():
    images, labels = read_digits()
    seg_images, masks = read_digits_seg()
    np.testing.assert_array_equal(seg_images, images)
    assert masks.shape == (len(labels), 8, 8) and masks.dtype == np.int64
    ink = images[:, 0] >= 8
    np.testing.assert_array_equal(masks[ink], np.broadcast_to(labels[:, None, None] + 1, masks.shape)[ink])
    assert (masks[~ink] == 0).all()
    splits = load_dataset("digits_seg")
    assert splits.num_classes == 11 and splits.classes[0] == "background"
    assert splits.train.y.shape[1:] == (8, 8)


def test_label_kind_mismatch_is_one_line(capsys):
    assert_user_error(main(["train", "--dataset", "digits_seg", "--model", "resnet20", "--epochs", "1", "--quiet"]),
                      capsys.readouterr().err, "one class per image", "unet_small")
    assert_user_error(main(["train", "--dataset", "digits", "--model", "unet_small", "--epochs", "1", "--quiet"]),
                      capsys.readouterr().err, "per pixel", "digits_seg")


@pytest.mark.slow
def test_train_resnet20_one_epoch_on_digits(tmp_path, capsys):
    assert main(["train", "--model", "resnet20", "--epochs", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["parameters"] == models.resnet20((1, 8, 8), 10).num_parameters()
    assert metrics["test_accuracy"] > 0.5  # chance is 0.1
    assert main(["evaluate", str(tmp_path / "run")]) == 0
    assert "accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_train_unet_small_one_epoch_on_digits_seg(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "digits_seg", "--model", "unet_small", "--epochs", "1", "--out", str(run), "--quiet"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    background = np.mean(load_dataset("digits_seg").test.y == 0)
    assert metrics["test_accuracy"] > background + 0.05  # pixel accuracy beats "all background"
    assert main(["evaluate", str(run)]) == 0
    assert "pixels" in capsys.readouterr().out
    np.save(tmp_path / "two.npy", read_digits()[0][:2])
    assert main(["predict", str(run), str(tmp_path / "two.npy")]) == 0
    out = capsys.readouterr().out
    assert "[1] class per pixel" in out and "0=background" in out
    assert len([line for line in out.splitlines() if line.startswith("  ")]) == 2 * 8  # an 8x8 map each
