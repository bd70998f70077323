"""Pictures of a run: ``curves.png`` (loss and accuracy per epoch) and ``filters.png`` (the first
convolution's filters, enlarged, and for one-channel inputs their feature maps on one test image).
matplotlib is optional: it is imported lazily with the Agg backend, and without it nothing is
drawn."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write_bytes

__all__ = ["plot_run", "plot_curves", "plot_filters", "have_matplotlib"]


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def have_matplotlib() -> bool:
    return _pyplot() is not None


def _save(fig, plt, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(history: list[dict], path, label_smoothing: float = 0.0) -> bool:
    """Loss and accuracy per epoch (train and validation) into ``path``; False without matplotlib.

    The losses are those of the history: the training objective, which includes label smoothing.
    """
    plt = _pyplot()
    if plt is None or not history:
        return False
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))

    def column(key, scale=1.0):
        return [np.nan if row.get(key) is None else scale * row[key] for row in history]

    for split, style in (("train", "-o"), ("val", "-s")):
        if all(row.get(f"{split}_loss") is None for row in history):
            continue
        ax_loss.plot(epochs, column(f"{split}_loss"), style, ms=3, label=split)
        ax_acc.plot(epochs, column(f"{split}_accuracy", 100.0), style, ms=3, label=split)
    loss_name = f"cross-entropy, label smoothing {label_smoothing:g}" if label_smoothing else "cross-entropy"
    ax_loss.set(xlabel="epoch", ylabel=f"loss ({loss_name})", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # epochs are whole: no 1.2, 1.4
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, plt, Path(path))
    return True


def _first_conv_index(model) -> int | None:
    for i, module in enumerate(model):
        if type(module).__name__ == "Conv2d":
            return i
    return None


def first_conv_weight(model) -> np.ndarray | None:
    """The weight ``(C_out, C_in, kH, kW)`` of the model's first 2-D convolution, or None."""
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if weight is not None and type(module).__name__ == "Conv2d":
            return np.asarray(weight.data)
    return None


def first_layer_maps(model, image: np.ndarray) -> tuple[np.ndarray, str] | None:
    """The first convolution's output ``(C_out, H', W')`` on one normalised image ``(1, C, H, W)``,
    after the activation that follows it, if any; and a name for what is shown."""
    if not hasattr(model, "__getitem__"):  # only a Sequential can be run up to its first conv
        return None
    i = _first_conv_index(model)
    if i is None:
        return None
    end, name = i + 1, "conv output"
    if end < len(model) and type(model[end]).__name__ in ("ReLU", "LeakyReLU"):
        end, name = end + 1, f"after {type(model[end]).__name__}"
    was_training = model.training
    model.eval()
    try:
        maps = np.asarray(model[:end](image), dtype=np.float64)
    finally:
        model.train(was_training)
    return maps[0], name


def _enlarge(image: np.ndarray, pixels: int = 48) -> np.ndarray:
    """Nearest-neighbour enlargement of ``(H, W[, 3])`` to about ``pixels`` on its longer side,
    so a 3x3 filter shows as crisp blocks rather than a blur."""
    factor = max(1, pixels // max(image.shape[:2]))
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def _stretch(a: np.ndarray) -> np.ndarray:
    """``a`` scaled to [0, 1] by its own min and max (a constant array becomes 0.5)."""
    lo, hi = float(a.min()), float(a.max())
    return np.full_like(a, 0.5) if hi - lo < 1e-12 else (a - lo) / (hi - lo)


def plot_filters(model, path, image: np.ndarray | None = None) -> bool:
    """The first convolution's filters, enlarged, each with its own contrast: RGB with every
    channel stretched on its own for 3 input channels, else channel 0 on a blue-white-red scale
    symmetric about 0 (red positive).  For a one-channel ``image`` ``(1, 1, H, W)`` (normalised)
    each filter's feature map on it is drawn under the filter.  False without matplotlib or a
    Conv2d."""
    plt = _pyplot()
    weight = first_conv_weight(model)
    if plt is None or weight is None:
        return False
    n, c_in = weight.shape[:2]
    maps = first_layer_maps(model, image) if image is not None and c_in == 1 and image.shape[1] == 1 else None
    cols = min(n, 8)
    blocks = math.ceil(n / cols)
    rows_per_block = 2 if maps is not None else 1
    extra = 1 if maps is not None else 0  # a first column for the input image
    fig, axes = plt.subplots(
        blocks * rows_per_block, cols + extra, squeeze=False,
        figsize=(1.25 * (cols + extra), 1.35 * blocks * rows_per_block + 0.6),
    )
    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        row, col = (i // cols) * rows_per_block, i % cols + extra
        f = weight[i].astype(np.float64)
        ax = axes[row, col]
        if c_in == 3:
            rgb = np.stack([_stretch(ch) for ch in f], axis=-1)
            ax.imshow(_enlarge(rgb), interpolation="nearest")
        else:
            bound = float(np.abs(f[0]).max()) or 1.0
            ax.imshow(_enlarge(f[0]), cmap="RdBu_r", vmin=-bound, vmax=bound, interpolation="nearest")
        ax.set_title(f"filter {i}", fontsize=7)
        if maps is not None:
            axes[row + 1, col].imshow(_enlarge(_stretch(maps[0][i])), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    if maps is not None:
        axes[0, 0].imshow(_enlarge(_stretch(image[0, 0].astype(np.float64))), cmap="gray", interpolation="nearest")
        axes[0, 0].set_title("test image", fontsize=7)
        axes[1, 0].text(0.5, 0.5, f"feature\nmaps\n({maps[1]})", ha="center", va="center", fontsize=7)
    kind = "RGB, each channel stretched" if c_in == 3 else "channel 0; red +, blue -" if c_in > 1 else "red +, blue -"
    fig.suptitle(f"first-layer filters {tuple(weight.shape)} ({kind})", fontsize=9)
    fig.tight_layout()
    _save(fig, plt, Path(path))
    return True


def plot_run(run_dir, history: list[dict], model, image: np.ndarray | None = None, label_smoothing: float = 0.0) -> list[str]:
    """Draw ``curves.png`` and ``filters.png`` (with feature maps on ``image`` ``(1, C, H, W)``,
    normalised, when given) into ``run_dir``; the names written."""
    run_dir = Path(run_dir)
    written = []
    if plot_curves(history, run_dir / "curves.png", label_smoothing):
        written.append("curves.png")
    if plot_filters(model, run_dir / "filters.png", image):
        written.append("filters.png")
    return written
