"""numcnn.data.augment: random crop with padding and horizontal flip against per-pixel loops
written from the definitions (pad, then cut a window; mirror), determinism under a seed, and the
per-epoch draws that make augmentation independent of batch size and of what ran before."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numcnn.data import augment
from numcnn.data.augment import (
    EpochAugmentation,
    augment_batch,
    crop,
    default_crop_padding,
    draw_crop_offsets,
    draw_flips,
    horizontal_flip,
    random_crop,
    random_horizontal_flip,
)


# --- references: one pixel at a time, from the definitions ------------------------------------
def source_index(i: int, n: int, mode: str) -> int | None:
    """Which input row/column feeds padded position ``i`` (in input coordinates, -P..n+P-1) of a
    side of length ``n``; None for constant padding.  Valid for padding < n."""
    if 0 <= i < n:
        return i
    if mode == "constant":
        return None
    if mode == "edge":
        return min(max(i, 0), n - 1)
    if mode == "reflect":  # mirror about the edge pixel, which is not repeated
        return -i if i < 0 else 2 * (n - 1) - i
    if mode == "symmetric":  # mirror about the edge itself, which repeats the edge pixel
        return -i - 1 if i < 0 else 2 * n - 1 - i
    raise AssertionError(mode)


def reference_crop(x, padding, tops, lefts, size, mode, fill):
    n, c, height, width = x.shape
    h, w = size
    fill = np.broadcast_to(np.asarray(fill, dtype=x.dtype), (c,))
    out = np.empty((n, c, h, w), dtype=x.dtype)
    for k in range(n):
        for ch in range(c):
            for r in range(h):
                for q in range(w):
                    i = source_index(int(tops[k]) + r - padding, height, mode)
                    j = source_index(int(lefts[k]) + q - padding, width, mode)
                    out[k, ch, r, q] = fill[ch] if i is None or j is None else x[k, ch, i, j]
    return out


def reference_flip(x, flips):
    out = np.empty_like(x)
    for k in range(len(x)):
        for q in range(x.shape[3]):
            out[k, :, :, q] = x[k, :, :, x.shape[3] - 1 - q] if flips[k] else x[k, :, :, q]
    return out


def images(shape=(5, 3, 6, 7), dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).normal(size=shape) * 10
    x = x.astype(dtype)
    x.flags.writeable = False  # any write into the caller's array raises
    return x


# --- crop and flip against the references -----------------------------------------------------
@pytest.mark.parametrize("mode", augment.PADDING_MODES)
@pytest.mark.parametrize("padding, size", [(0, None), (1, None), (2, None), (3, (4, 5)), (2, 8)])
def test_crop_matches_the_pad_then_cut_loop(mode, padding, size):
    x = images()
    rng = np.random.default_rng(1)
    tops, lefts = draw_crop_offsets(rng, len(x), 6, 7, padding, size)
    fill = (-1.5, 0.25, 7.0)
    got = crop(x, padding, tops, lefts, size=size, padding_mode=mode, fill=fill)
    h, w = (6, 7) if size is None else (size, size) if isinstance(size, int) else size
    np.testing.assert_array_equal(got, reference_crop(x, padding, tops, lefts, (h, w), mode, fill))
    assert got.dtype == x.dtype and got.flags.writeable


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 4), c=st.integers(1, 3), height=st.integers(2, 6), width=st.integers(2, 6),
    padding=st.integers(0, 5), mode=st.sampled_from(augment.PADDING_MODES), seed=st.integers(0, 2**32 - 1),
)
def test_random_crop_is_crop_with_its_own_draws(n, c, height, width, padding, mode, seed):
    if mode != "constant":
        padding = min(padding, height - 1, width - 1)  # the reference mirrors only once
    x = images((n, c, height, width), np.float64, seed % 1000)
    got = random_crop(x, padding, np.random.default_rng(seed), padding_mode=mode, fill=2.5)
    tops, lefts = draw_crop_offsets(np.random.default_rng(seed), n, height, width, padding)
    assert tops.min(initial=0) >= 0 and tops.max(initial=0) <= 2 * padding
    np.testing.assert_array_equal(got, reference_crop(x, padding, tops, lefts, (height, width), mode, 2.5))


def test_every_crop_window_is_drawn_and_images_are_independent():
    tops, lefts = draw_crop_offsets(np.random.default_rng(0), 2000, 5, 5, 2)
    assert set(zip(tops.tolist(), lefts.tolist())) == {(t, l) for t in range(5) for l in range(5)}
    x = np.broadcast_to(images((1, 1, 5, 5)), (50, 1, 5, 5))
    crops = random_crop(x, 2, np.random.default_rng(0))
    assert len({c.tobytes() for c in crops}) > 10  # the same image, cropped differently


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0])
def test_flip_matches_the_mirror_loop(p):
    x = images()
    flips = draw_flips(np.random.default_rng(3), len(x), p)
    got = random_horizontal_flip(x, np.random.default_rng(3), p)
    np.testing.assert_array_equal(got, reference_flip(x, flips))
    assert flips.sum() == {0.0: 0, 1.0: len(x)}.get(p, flips.sum())
    np.testing.assert_array_equal(horizontal_flip(x, flips), got)


def test_flip_probability_is_p():
    assert abs(draw_flips(np.random.default_rng(0), 20000, 0.3).mean() - 0.3) < 0.02


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int16])
def test_dtype_kept_and_input_untouched(dtype):
    x = images(dtype=dtype)
    before = x.copy()
    for out in (
        random_crop(x, 2, np.random.default_rng(0)),
        random_crop(x, 2, np.random.default_rng(0), padding_mode="reflect"),
        random_horizontal_flip(x, np.random.default_rng(0)),
        augment_batch(x, np.random.default_rng(0), crop_padding=3, fill=7),
        augment_batch(x, np.random.default_rng(0), crop_padding=0, flip=False),
    ):
        assert out.dtype == x.dtype and out.shape == x.shape
        assert not np.shares_memory(out, x)
    np.testing.assert_array_equal(x, before)


def test_augment_batch_is_crop_then_flip_from_one_generator():
    x = images()
    rng = np.random.default_rng(9)
    tops, lefts = draw_crop_offsets(rng, len(x), 6, 7, 2)
    flips = draw_flips(rng, len(x))
    expected = reference_flip(reference_crop(x, 2, tops, lefts, (6, 7), "constant", -1.0), flips)
    np.testing.assert_array_equal(augment_batch(x, np.random.default_rng(9), crop_padding=2, fill=-1.0), expected)
    np.testing.assert_array_equal(augment_batch(x, np.random.default_rng(9), crop_padding=0, flip=False), x)


def test_same_seed_same_augmentation_other_seed_other():
    x = images((64, 3, 8, 8))
    a = augment_batch(x, np.random.default_rng(1))
    np.testing.assert_array_equal(a, augment_batch(x, np.random.default_rng(1)))
    assert not np.array_equal(a, augment_batch(x, np.random.default_rng(2)))


# --- one epoch's draws ------------------------------------------------------------------------
def epoch(seed=0, number=1, n=37, shape=(3, 8, 8), padding=2, flip=True, fill=(0.5, -1.0, 2.0)):
    return EpochAugmentation.draw(seed, number, n, shape, padding=padding, flip=flip, fill=fill)


@pytest.mark.parametrize("batch_size", [1, 5, 16, 37])
def test_epoch_augmentation_does_not_depend_on_the_batch_size(batch_size):
    x = images((37, 3, 8, 8))
    whole = epoch()(x, 0)
    chunks = np.concatenate([epoch()(x[s : s + batch_size], s) for s in range(0, 37, batch_size)])
    np.testing.assert_array_equal(chunks, whole)
    rng = np.random.default_rng([0, 1, augment._STREAM_TAG])  # the documented seed of epoch 1
    np.testing.assert_array_equal(whole, augment_batch(x, rng, crop_padding=2, fill=(0.5, -1.0, 2.0)))


def test_epoch_augmentation_is_a_function_of_seed_and_epoch_only():
    x = images((37, 3, 8, 8))
    np.random.default_rng(0).random(100)  # other generators' use changes nothing
    first = epoch(seed=4, number=2)(x, 0)
    np.testing.assert_array_equal(first, epoch(seed=4, number=2)(x, 0))
    assert not np.array_equal(first, epoch(seed=5, number=2)(x, 0))
    assert not np.array_equal(first, epoch(seed=4, number=3)(x, 0))


def test_epoch_augmentation_settings_and_describe():
    x = images((37, 3, 8, 8))
    off = epoch(padding=0, flip=False)
    np.testing.assert_array_equal(off(x, 0), x)
    assert off.describe() == "none"
    assert epoch(padding=0).describe() == "horizontal flip"
    assert epoch(flip=False).describe() == "random crop with padding 2"
    with pytest.raises(ValueError, match="positions 30..40 are outside this epoch's 37 images"):
        epoch()(x[:10], 30)


def test_default_crop_padding():
    assert [default_crop_padding(s, s) for s in (32, 28, 8, 4)] == [4, 3, 1, 1]
    assert default_crop_padding(64, 32) == 4


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda x, r: random_crop(x[0], 2, r), ValueError, r"batch must have shape \(N, C, H, W\), got shape \(3, 6, 7\)"),
        (lambda x, r: random_crop(x.tolist(), 2, r), TypeError, "batch must be a NumPy array"),
        (lambda x, r: random_crop(x, -1, r), ValueError, "padding must be >= 0, got -1"),
        (lambda x, r: random_crop(x, 1.5, r), TypeError, "padding must be a whole number"),
        (lambda x, r: random_crop(x, 2, 0), TypeError, "rng must be a numpy.random.Generator"),
        (lambda x, r: random_crop(x, 1, r, size=9), ValueError, r"size \(9, 9\) is larger than the padded image \(8, 9\)"),
        (lambda x, r: random_crop(x, 1, r, padding_mode="wrap"), ValueError, "padding_mode must be one of"),
        (lambda x, r: random_crop(x, 1, r, fill=(1, 2)), ValueError, r"fill must be a scalar or 3 values"),
        (lambda x, r: random_horizontal_flip(x, r, p=1.5), ValueError, r"p must be a probability in \[0, 1\]"),
        (lambda x, r: horizontal_flip(x, [1, 0, 1, 0, 1]), ValueError, r"flips must be 5 booleans .*, got int64"),
        (lambda x, r: crop(x, 1, [0] * 4, [0] * 5), ValueError, r"tops must be 5 integers .* shape \(4,\)"),
        (lambda x, r: crop(x, 1, [0, 0, 0, 0, 3], [0] * 5), ValueError, r"tops must lie in \[0, 2\]"),
    ],
)
def test_bad_input_is_named(call, error, message):
    with pytest.raises(error, match=message):
        call(images(), np.random.default_rng(0))
