"""Training-time image augmentation: random crop with padding and random horizontal flip, as
torchvision's ``RandomCrop(size, padding=P)`` and ``RandomHorizontalFlip(p)``, on whole NCHW batches.

Each random transform is split into a draw (``draw_crop_offsets``, ``draw_flips``: a few integers
or booleans per image, from an explicit ``numpy.random.Generator``) and a pure, vectorised apply
(``crop``, ``horizontal_flip``).  ``random_crop``/``random_horizontal_flip``/``augment_batch`` are
the two together.  The trainer does not draw per batch: ``EpochAugmentation`` draws the whole
epoch's parameters up front from a generator seeded by ``(seed, epoch)`` alone and indexes them by
each image's position in the epoch's (shuffled) order, so the augmentation of every image is the
same whatever happened before -- an interrupted run that is resumed, or several processes sharing
one epoch, see exactly the crops and flips of one uninterrupted run.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import UserError

__all__ = [
    "PADDING_MODES",
    "draw_crop_offsets",
    "draw_flips",
    "crop",
    "horizontal_flip",
    "random_crop",
    "random_horizontal_flip",
    "augment_batch",
    "default_crop_padding",
    "check_augment_options",
    "EpochAugmentation",
]

# torchvision's names for RandomCrop's padding_mode, which are also np.pad's modes.
PADDING_MODES = ("constant", "edge", "reflect", "symmetric")

# Third word of the augmentation generator's seed: keeps its stream apart from the other streams
# the trainer seeds from the same ``seed`` (e.g. the batch order's ``[seed, 0xDA7A]``).
_STREAM_TAG = 0xA06


# --- checks -----------------------------------------------------------------------------------
def _check_batch(batch, name: str = "batch") -> np.ndarray:
    if not isinstance(batch, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (N, C, H, W), got {type(batch).__name__}")
    if batch.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {batch.shape}")
    return batch


def _check_rng(rng) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def _check_padding(padding) -> int:
    if isinstance(padding, bool) or not isinstance(padding, numbers.Integral):
        raise TypeError(f"padding must be a whole number of pixels, got {padding!r}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return int(padding)


def _crop_size(size, height: int, width: int, padding: int) -> tuple[int, int]:
    """``size`` (None: the input's own, int: square, or (h, w)) checked against the padded image."""
    if size is None:
        return height, width
    pair = (size, size) if isinstance(size, numbers.Integral) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in pair):
        raise ValueError(f"size must be a positive int or a pair (h, w) of them, got {size!r}")
    h, w = int(pair[0]), int(pair[1])
    if h > height + 2 * padding or w > width + 2 * padding:
        raise ValueError(
            f"size {(h, w)} is larger than the padded image {(height + 2 * padding, width + 2 * padding)} "
            f"(images {(height, width)}, padding {padding})"
        )
    return h, w


# --- draws ------------------------------------------------------------------------------------
def draw_crop_offsets(rng: np.random.Generator, n: int, height: int, width: int, padding: int, size=None):
    """Top-left corners of ``n`` random crop windows in images of ``(height, width)`` padded by
    ``padding``: ``(tops, lefts)``, int64 ``(n,)`` each, uniform over every window that fits."""
    padding = _check_padding(padding)
    h, w = _crop_size(size, height, width, padding)
    _check_rng(rng)
    tops = rng.integers(0, height + 2 * padding - h + 1, size=n, dtype=np.int64)
    lefts = rng.integers(0, width + 2 * padding - w + 1, size=n, dtype=np.int64)
    return tops, lefts


def draw_flips(rng: np.random.Generator, n: int, p: float = 0.5) -> np.ndarray:
    """Which of ``n`` images to flip: bool ``(n,)``, each True with probability ``p``."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return _check_rng(rng).random(n) < p


# --- applies ----------------------------------------------------------------------------------
def crop(batch: np.ndarray, padding: int, tops, lefts, *, size=None, padding_mode: str = "constant", fill=0) -> np.ndarray:
    """Pad every image by ``padding`` on each side, then cut image ``i``'s window at
    ``(tops[i], lefts[i])`` of the padded image.

    Parameters
    ----------
    batch : ndarray (N, C, H, W)
    padding : int >= 0
    tops, lefts : int arrays (N,)
        Window corners in padded coordinates, ``0 <= tops[i] <= H + 2*padding - h``.
    size : None, int or (h, w)
        The window; None keeps ``(H, W)`` (torchvision's ``RandomCrop(H, padding=P)``).
    padding_mode : {'constant', 'edge', 'reflect', 'symmetric'}
        As torchvision's (and ``np.pad``'s) modes of the same names.
    fill : scalar or sequence of C scalars
        The padding value for ``'constant'``, per channel when a sequence.

    Returns
    -------
    ndarray (N, C, h, w), ``batch``'s dtype; a new array.
    """
    batch = _check_batch(batch)
    padding = _check_padding(padding)
    n, c, height, width = batch.shape
    h, w = _crop_size(size, height, width, padding)
    tops, lefts = np.asarray(tops), np.asarray(lefts)
    for name, corner, limit in (("tops", tops, height + 2 * padding - h), ("lefts", lefts, width + 2 * padding - w)):
        if corner.shape != (n,) or not np.issubdtype(corner.dtype, np.integer):
            raise ValueError(f"{name} must be {n} integers (one per image), got {corner.dtype} array of shape {corner.shape}")
        if n and (corner.min() < 0 or corner.max() > limit):
            raise ValueError(f"{name} must lie in [0, {limit}] for this size and padding, got {corner.min()}..{corner.max()}")
    padded = _pad(batch, padding, padding_mode, fill)
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, Hp-h+1, Wp-w+1, h, w), no copy
    return windows[np.arange(n), :, tops, lefts]  # one gather: (N, C, h, w)


def _pad(batch: np.ndarray, padding: int, padding_mode: str, fill) -> np.ndarray:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {padding_mode!r}")
    if padding == 0:
        return batch
    n, c, height, width = batch.shape
    if padding_mode != "constant":
        return np.pad(batch, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode=padding_mode)
    values = np.asarray(fill)
    if values.ndim > 1 or values.size not in (1, c):
        raise ValueError(f"fill must be a scalar or {c} values (one per channel), got shape {values.shape}")
    padded = np.empty((n, c, height + 2 * padding, width + 2 * padding), dtype=batch.dtype)
    padded[...] = values.astype(batch.dtype).reshape(1, -1, 1, 1)
    padded[:, :, padding : padding + height, padding : padding + width] = batch
    return padded


def horizontal_flip(batch: np.ndarray, flips) -> np.ndarray:
    """``batch`` with the images where ``flips`` (bool ``(N,)``) is True mirrored left-right
    (``(N, C, H, W)``, same dtype, a new array)."""
    batch = _check_batch(batch)
    flips = np.asarray(flips)
    if flips.shape != (len(batch),) or flips.dtype != np.bool_:
        raise ValueError(f"flips must be {len(batch)} booleans (one per image), got {flips.dtype} array of shape {flips.shape}")
    out = batch.copy()
    out[flips] = batch[flips, :, :, ::-1]
    return out


# --- draw + apply -----------------------------------------------------------------------------
def random_crop(batch: np.ndarray, padding: int, rng: np.random.Generator, *, size=None, padding_mode: str = "constant", fill=0) -> np.ndarray:
    """torchvision's ``RandomCrop(size, padding=padding, fill=fill, padding_mode=padding_mode)``
    applied to each image of ``batch`` ``(N, C, H, W)`` independently: pad, then cut a window of
    ``size`` (default ``(H, W)``) at a uniformly random position.  Same dtype, a new array."""
    batch = _check_batch(batch)
    tops, lefts = draw_crop_offsets(rng, len(batch), batch.shape[2], batch.shape[3], padding, size)
    return crop(batch, padding, tops, lefts, size=size, padding_mode=padding_mode, fill=fill)


def random_horizontal_flip(batch: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """torchvision's ``RandomHorizontalFlip(p)`` applied to each image of ``batch`` ``(N, C, H, W)``
    independently.  Same dtype, a new array."""
    batch = _check_batch(batch)
    return horizontal_flip(batch, draw_flips(rng, len(batch), p))


def augment_batch(batch: np.ndarray, rng: np.random.Generator, crop_padding: int = 4, flip: bool = True, *, padding_mode: str = "constant", fill=0) -> np.ndarray:
    """The CIFAR recipe: ``random_crop(padding=crop_padding)`` (none when 0) then
    ``random_horizontal_flip`` (when ``flip``), drawn in that order from ``rng``.

    ``(N, C, H, W)`` in and out, same dtype, a new array.
    """
    batch = _check_batch(batch)
    draws = _draw(rng, len(batch), batch.shape, _check_padding(crop_padding), flip)
    return _apply(batch, crop_padding, draws, padding_mode, fill)


def _draw(rng, n: int, shape, padding: int, flip: bool):
    tops, lefts = draw_crop_offsets(rng, n, shape[2], shape[3], padding) if padding else (None, None)
    return tops, lefts, (draw_flips(rng, n) if flip else None)


def _apply(batch, padding: int, draws, padding_mode: str, fill) -> np.ndarray:
    tops, lefts, flips = draws
    out = batch if tops is None else crop(batch, padding, tops, lefts, padding_mode=padding_mode, fill=fill)
    if flips is not None:
        return horizontal_flip(out, flips)
    return batch.copy() if out is batch else out  # a new array even when nothing is drawn


# --- the trainer's recipe ---------------------------------------------------------------------
def default_crop_padding(height: int, width: int) -> int:
    """An eighth of the smaller image side, at least 1: 4 for CIFAR's 32x32 (the usual recipe),
    3 for MNIST's 28x28, 1 for the 8x8 digits."""
    return max(1, min(height, width) // 8)


def check_augment_options(augment: bool, crop_padding, flip: bool) -> None:
    """Raise ``UserError`` naming the CLI flag when the augmentation settings are inconsistent."""
    if crop_padding is not None and (isinstance(crop_padding, bool) or not isinstance(crop_padding, numbers.Integral) or crop_padding < 0):
        raise UserError(f"--crop-padding must be a whole number >= 0, got {crop_padding!r}")
    if not augment and (crop_padding is not None or not flip):
        raise UserError("--crop-padding and --no-flip only change --augment; add --augment, or remove them")


@dataclass(frozen=True)
class EpochAugmentation:
    """One epoch's crops and flips, drawn for all ``n`` training images up front from
    ``np.random.default_rng([seed, epoch, tag])`` and indexed by position in the epoch's order.

    ``self(batch, start)`` augments the images at positions ``start .. start + len(batch)`` of the
    epoch (the mini-batches are consecutive chunks of the shuffled order).  Nothing here depends on
    the batch size or on what ran before, so a resumed run or a process holding only part of an
    epoch reproduces the same augmentation for every image.

    ``fill`` is the padding value per channel; the trainer passes what a black (0) raw pixel
    becomes after normalisation, which is what torchvision's ``RandomCrop`` before ``Normalize``
    pads with.
    """

    n: int
    padding: int
    flip: bool
    fill: tuple
    draws: tuple  # (tops, lefts, flips), each (n,) or None when that transform is off

    @classmethod
    def draw(cls, seed: int, epoch: int, n: int, image_shape, *, padding: int, flip: bool = True, fill=0) -> "EpochAugmentation":
        rng = np.random.default_rng([seed, epoch, _STREAM_TAG])
        padding = _check_padding(padding)
        draws = _draw(rng, n, (n, *tuple(image_shape)), padding, flip)
        return cls(int(n), padding, bool(flip), tuple(np.atleast_1d(fill).tolist()), draws)

    def __call__(self, batch: np.ndarray, start: int) -> np.ndarray:
        batch = _check_batch(batch)
        stop = start + len(batch)
        if start < 0 or stop > self.n:
            raise ValueError(f"positions {start}..{stop} are outside this epoch's {self.n} images")
        part = tuple(None if d is None else d[start:stop] for d in self.draws)
        return _apply(batch, self.padding, part, "constant", self.fill)

    def describe(self) -> str:
        parts = ([f"random crop with padding {self.padding}"] if self.padding else []) + (["horizontal flip"] if self.flip else [])
        return " + ".join(parts) or "none"
