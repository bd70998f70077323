"""Data sets: the built-in 8x8 digits, MNIST/Fashion-MNIST (IDX), CIFAR-10 (python batches) and
any ``.npz`` with ``x``/``y``; split, normalised, float32 NCHW, served as seeded mini-batches."""

from .dataset import DATASETS, DataSet, Normalizer, Splits, batches, load_dataset
from .sources import read_cifar10, read_digits, read_idx, read_npz, safe_unpickle

__all__ = [
    "DATASETS",
    "DataSet",
    "Normalizer",
    "Splits",
    "batches",
    "load_dataset",
    "read_digits",
    "read_idx",
    "read_cifar10",
    "read_npz",
    "safe_unpickle",
]
