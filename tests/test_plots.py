"""curves.png and filters.png: whole-number epoch ticks, enlarged filters, feature maps."""

from __future__ import annotations

import numpy as np
import pytest

from numcnn import plots
from numcnn.models import build_model, model_spec
from numcnn.nn import init

pytest.importorskip("matplotlib")


@pytest.fixture
def figures(monkeypatch):
    """The figures the plotting functions save, kept open for inspection."""
    saved = []

    def keep(fig, plt, path):
        saved.append(fig)
        fig.canvas.draw()
        path.write_bytes(b"\x89PNG")

    monkeypatch.setattr(plots, "_save", keep)
    yield saved
    import matplotlib.pyplot as plt

    for fig in saved:
        plt.close(fig)


def history(n):
    return [dict(epoch=e, train_loss=1.0 / e, train_accuracy=0.5, val_loss=1.1 / e, val_accuracy=0.4, lr=1e-3) for e in range(1, n + 1)]


@pytest.mark.parametrize("epochs", [1, 2, 3, 5])
def test_curves_have_whole_epoch_ticks(tmp_path, figures, epochs):
    assert plots.plot_curves(history(epochs), tmp_path / "curves.png", label_smoothing=0.1)
    (fig,) = figures
    for ax in fig.axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert "label smoothing 0.1" in fig.axes[0].get_ylabel()


def _model(input_shape):
    init.manual_seed(0)
    return build_model(model_spec("lenet5", input_shape, 10))


def test_filters_are_enlarged_and_one_channel_models_show_feature_maps(tmp_path, figures):
    model = _model((1, 8, 8))
    image = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    assert plots.plot_filters(model, tmp_path / "filters.png", image)
    (fig,) = figures
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    weight = plots.first_conv_weight(model)
    # the input image, each filter and each feature map
    assert len(shown) == 1 + 2 * weight.shape[0]
    filters = [a for ax, a in zip([ax for ax in fig.axes if ax.images], shown) if ax.get_title().startswith("filter")]
    assert len(filters) == weight.shape[0]
    assert all(a.shape[0] >= 8 * weight.shape[2] for a in filters)  # 3x3 drawn as at least 24x24 blocks
    maps, name = plots.first_layer_maps(model, image)
    assert maps.shape == (weight.shape[0], 8, 8) and name == "after ReLU" and maps.min() >= 0


def test_filter_contrast_is_per_filter_and_per_channel(tmp_path, figures):
    model = _model((3, 32, 32))
    conv = next(m for m in model.modules() if type(m).__name__ == "Conv2d")
    conv.weight.data[0] *= 1e-3  # a weak filter still shows its full contrast
    conv.weight.data[1, 2] *= 1e-3  # so does a weak channel
    assert plots.plot_filters(model, tmp_path / "filters.png", np.zeros((1, 3, 32, 32), np.float32))
    (fig,) = figures
    rgb = [np.asarray(ax.images[0].get_array()) for ax in fig.axes if ax.images]
    assert len(rgb) == conv.weight.data.shape[0]  # no feature maps for 3 channels
    for channel in (*rgb[0].transpose(2, 0, 1), rgb[1][:, :, 2]):
        assert channel.min() == 0.0 and channel.max() == 1.0


def test_a_model_that_is_not_a_sequential_shows_its_stem_convolution_maps(tmp_path, figures):
    """A ResNet cannot be run up to its first convolution as a chain: its stem convolution's
    output on the image is shown beside its filters (it raised a TypeError before)."""
    init.manual_seed(0)
    model = build_model(model_spec("resnet20", (1, 8, 8), 10))
    image = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    maps, name = plots.first_layer_maps(model, image)
    assert name == "first conv output"
    np.testing.assert_array_equal(maps, np.asarray(model.conv1(image), dtype=np.float64)[0])
    assert plots.plot_filters(model, tmp_path / "filters.png", image)
    (fig,) = figures
    # the test image, each filter and each filter's map
    assert len([ax for ax in fig.axes if ax.images]) == 1 + 2 * plots.first_conv_weight(model).shape[0]