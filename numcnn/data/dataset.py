"""Data sets as float32 NCHW arrays with labels, split into train/validation/test, normalised,
and served as shuffled mini-batches from an explicit ``numpy.random.Generator``.

``load_dataset(name, data_dir)`` is the one entry point the trainer and the CLI use.  Splits are
drawn with a fixed seed (``split_seed``, not the training seed), so every run of a data set is
tested on the same images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import UserError
from . import sources

__all__ = ["DATASETS", "DataSet", "Normalizer", "Splits", "load_dataset", "batches"]

DATASETS = ("digits", "digits_seg", "mnist", "fashion-mnist", "cifar10", "npz")

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class Normalizer:
    """``x -> (x * scale - mean[c]) / std[c]`` per channel, computed on the training split.

    ``scale`` maps raw pixel values to [0, 1] (1/255 for bytes, 1/16 for the built-in digits).
    Stored in checkpoints (``to_dict``) so ``evaluate``/``predict`` see inputs as training did.
    """

    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, x: np.ndarray, scale: float) -> "Normalizer":
        """Per-channel mean and std of ``x * scale`` (``x`` is ``(N, C, H, W)``)."""
        xs = x.astype(np.float64) * scale
        mean = xs.mean(axis=(0, 2, 3))
        std = xs.std(axis=(0, 2, 3))
        std = np.where(std > 1e-12, std, 1.0)
        return cls(float(scale), tuple(float(m) for m in mean), tuple(float(s) for s in std))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Float32 normalised copy of ``x`` ``(N, C, H, W)``."""
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1] != len(self.mean):
            raise UserError(f"expected images of shape (N, {len(self.mean)}, H, W), got {x.shape}")
        mean = np.asarray(self.mean, dtype=np.float32).reshape(1, -1, 1, 1)
        inv_std = (1.0 / np.asarray(self.std, dtype=np.float64)).astype(np.float32).reshape(1, -1, 1, 1)
        out = x.astype(np.float32) * np.float32(self.scale)
        out -= mean
        out *= inv_std
        return out

    def to_dict(self) -> dict:
        return {"scale": self.scale, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls(float(d["scale"]), tuple(d["mean"]), tuple(d["std"]))


@dataclass
class DataSet:
    """Images ``x`` ``(N, C, H, W)`` float32 (normalised) and int64 labels ``y``: ``(N,)``, or
    ``(N, H, W)`` (one per pixel) for segmentation sets."""

    x: np.ndarray
    y: np.ndarray

    def __post_init__(self):
        if len(self.x) != len(self.y):
            raise ValueError(f"x has {len(self.x)} images but y has {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.y)

    def batches(self, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Mini-batches in a random order drawn from ``rng`` (in order when ``rng`` is None)."""
        return batches(self.x, self.y, batch_size, rng)

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


def batches(x, y, batch_size: int, rng: np.random.Generator | None = None):
    """Yield ``(x[idx], y[idx])`` for consecutive chunks of ``rng.permutation(N)`` (or of
    ``arange(N)`` when ``rng`` is None); the last batch may be smaller.  One permutation is drawn
    per call, so the generator's state after an epoch determines the next epoch's order."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = len(y)
    order = rng.permutation(n) if rng is not None else None
    for start in range(0, n, batch_size):
        if order is None:
            yield x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            yield x[idx], y[idx]


@dataclass
class Splits:
    """A data set split three ways, with what is needed to describe and re-create it."""

    name: str
    train: DataSet
    val: DataSet
    test: DataSet
    normalizer: Normalizer
    num_classes: int
    classes: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.train.x.shape[1:])

    def describe(self) -> str:
        return (
            f"{self.name}: {len(self.train)} train / {len(self.val)} val / {len(self.test)} test images "
            f"of shape {'x'.join(map(str, self.input_shape))}, {self.num_classes} classes"
        )


def _take(n: int, count, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random (rest, chosen) index split of ``range(n)`` choosing ``count`` items."""
    order = rng.permutation(n)
    return np.sort(order[count:]), np.sort(order[:count])


def _count(size, n: int, what: str) -> int:
    """``size`` as an absolute count: a fraction in [0, 1) of ``n`` or an int."""
    if isinstance(size, float) and 0 <= size < 1:
        return int(round(size * n))
    size = int(size)
    if size < 0 or size >= n:
        raise UserError(f"{what} of {size} images leaves nothing to train on (only {n} available)")
    return size


def load_dataset(
    name: str = "digits",
    data_dir=None,
    *,
    val_size=0.1,
    test_size=0.2,
    split_seed: int = 0,
    normalizer: Normalizer | None = None,
) -> Splits:
    """Load a data set and split it into train/val/test.

    Parameters
    ----------
    name : {'digits', 'digits_seg', 'mnist', 'fashion-mnist', 'cifar10', 'npz'}
        ``digits`` is built in, and so is ``digits_seg``, the same images with a label per pixel
        (the digit + 1 on ink, 0 on background; see :func:`~numcnn.data.sources.read_digits_seg`);
        the others are read from ``data_dir``: IDX files
        (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-...``),
        CIFAR-10's python batches (``data_batch_1..5``, ``test_batch``), or an ``.npz`` file (or a
        directory holding one) with ``x``, ``y`` and optionally ``x_val``/``y_val``,
        ``x_test``/``y_test``.
    val_size, test_size : float or int
        Fraction (< 1) or number of images held out when the files have no such split.  For MNIST
        with only the ``t10k`` files present, ``test_size`` images are held out for testing and the
        rest is split into train and validation.
    split_seed : int
        Seed of the split (fixed, independent of the training seed).
    normalizer : Normalizer, optional
        Use this normalisation (from a checkpoint) instead of fitting one on the training split.

    Returns
    -------
    Splits
    """
    rng = np.random.default_rng(split_seed)
    notes: list[str] = []
    classes: tuple[str, ...] = ()
    scale = 1.0 / 255.0
    x_val = y_val = None
    if name in ("digits", "digits_seg"):
        x, y = sources.read_digits() if name == "digits" else sources.read_digits_seg()
        scale = 1.0 / 16.0
        rest, test_idx = _take(len(y), _count(test_size, len(y), "--test-size"), rng)
        x_test, y_test = x[test_idx], y[test_idx]
        x, y = x[rest], y[rest]
        classes = tuple(str(i) for i in range(10))
        if name == "digits_seg":
            classes = ("background",) + classes
    elif name in ("mnist", "fashion-mnist"):
        if data_dir is None:
            raise UserError(f"--dataset {name} needs --data-dir DIR holding the IDX files")
        directory = Path(data_dir)
        if not directory.is_dir():
            raise UserError(f"--data-dir {directory}: no such directory")
        train = sources.read_idx_split(directory, "train")
        test = sources.read_idx_split(directory, "t10k")
        if train is None and test is None:
            raise UserError(
                f"{directory}: no {name} IDX files found; expected train-images-idx3-ubyte[.gz], "
                f"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz] "
                f"{sources.describe_dir(directory)}"
            )
        if train is None or test is None:
            x, y = train or test
            which = "train" if train is not None else "t10k"
            rest, test_idx = _take(len(y), _count(test_size, len(y), "--test-size"), rng)
            x_test, y_test = x[test_idx], y[test_idx]
            x, y = x[rest], y[rest]
            notes.append(
                f"only the {which} files are in {directory}: split its {len(rest) + len(test_idx)} images into "
                f"{len(rest)} for training+validation and {len(test_idx)} held out for testing"
            )
        else:
            (x, y), (x_test, y_test) = train, test
        classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(i) for i in range(10))
    elif name == "cifar10":
        if data_dir is None:
            raise UserError("--dataset cifar10 needs --data-dir DIR (the cifar-10-batches-py folder)")
        (x, y), (x_test, y_test) = sources.read_cifar10(data_dir)
        classes = sources.CIFAR10_CLASSES
    elif name == "npz":
        if data_dir is None:
            raise UserError("--dataset npz needs --data-dir PATH (an .npz file with arrays x and y, or its folder)")
        arrays = sources.read_npz(data_dir)
        x, y = arrays["x"], arrays["y"]
        if x.dtype != np.uint8:
            scale = 1.0
        if "x_test" in arrays:
            x_test, y_test = arrays["x_test"], arrays["y_test"]
        else:
            rest, test_idx = _take(len(y), _count(test_size, len(y), "--test-size"), rng)
            x_test, y_test = x[test_idx], y[test_idx]
            x, y = x[rest], y[rest]
        if "x_val" in arrays:
            x_val, y_val = arrays["x_val"], arrays["y_val"]
        for other in (x_test, x_val):
            if other is not None and other.shape[1:] != x.shape[1:]:
                raise UserError(f"{data_dir}: train images are {x.shape[1:]} but another split has {other.shape[1:]}")
    else:
        raise UserError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")

    if x_val is None:
        rest, val_idx = _take(len(y), _count(val_size, len(y), "--val-size"), rng)
        x_val, y_val = x[val_idx], y[val_idx]
        x, y = x[rest], y[rest]
    if len(y) == 0:
        raise UserError(f"{name}: no training images left after the splits")
    num_classes = int(max(a.max() for a in (y, y_val, y_test) if len(a))) + 1
    if num_classes < 2:
        raise UserError(f"{name}: labels must cover at least 2 classes, found only class 0")
    if not classes or len(classes) < num_classes:
        classes = tuple(str(i) for i in range(num_classes))
    normalizer = normalizer or Normalizer.fit(x, scale)
    return Splits(
        name=name,
        train=DataSet(normalizer(x), y),
        val=DataSet(normalizer(x_val), y_val),
        test=DataSet(normalizer(x_test), y_test),
        normalizer=normalizer,
        num_classes=num_classes,
        classes=classes,
        notes=notes,
    )
