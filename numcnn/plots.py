"""Pictures of a run: ``curves.png`` (loss and accuracy per epoch) and ``filters.png`` (the first
convolution's filters as an image grid).  matplotlib is optional: it is imported lazily with the
Agg backend, and without it nothing is drawn."""

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


def plot_curves(history: list[dict], path) -> bool:
    """Loss and accuracy per epoch (train and validation) into ``path``; False without matplotlib."""
    plt = _pyplot()
    if plt is None or not history:
        return False
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    def column(key, scale=1.0):
        return [np.nan if row.get(key) is None else scale * row[key] for row in history]

    for split, style in (("train", "-o"), ("val", "-s")):
        if all(row.get(f"{split}_loss") is None for row in history):
            continue
        ax_loss.plot(epochs, column(f"{split}_loss"), style, ms=3, label=split)
        ax_acc.plot(epochs, column(f"{split}_accuracy", 100.0), style, ms=3, label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, plt, Path(path))
    return True


def first_conv_weight(model) -> np.ndarray | None:
    """The weight ``(C_out, C_in, kH, kW)`` of the model's first 2-D convolution, or None."""
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if weight is not None and type(module).__name__ == "Conv2d":
            return np.asarray(weight.data)
    return None


def plot_filters(model, path) -> bool:
    """The first convolution's filters as a grid (RGB for 3 input channels, else channel 0 in
    grey), each scaled to its own range; False without matplotlib or a Conv2d."""
    plt = _pyplot()
    weight = first_conv_weight(model)
    if plt is None or weight is None:
        return False
    n = weight.shape[0]
    cols = min(n, 8)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        f = weight[i].astype(np.float64)
        f = (f - f.min()) / (f.max() - f.min() + 1e-12)
        if f.shape[0] == 3:
            ax.imshow(f.transpose(1, 2, 0), interpolation="nearest")
        else:
            ax.imshow(f[0], cmap="gray", interpolation="nearest")
    fig.suptitle(f"first-layer filters {tuple(weight.shape)}")
    _save(fig, plt, Path(path))
    return True


def plot_run(run_dir, history: list[dict], model) -> list[str]:
    """Draw ``curves.png`` and ``filters.png`` into ``run_dir``; the names written."""
    run_dir = Path(run_dir)
    written = []
    if plot_curves(history, run_dir / "curves.png"):
        written.append("curves.png")
    if plot_filters(model, run_dir / "filters.png"):
        written.append("filters.png")
    return written
