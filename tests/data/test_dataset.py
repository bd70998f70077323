"""numcnn.data: the built-in digits, IDX/CIFAR/npz readers on generated files (including corrupt
and missing ones), splits, normalisation and seeded batching."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from numcnn.data import DataSet, Normalizer, load_dataset, read_digits, read_idx, read_npz, safe_unpickle
from numcnn.data.sources import read_cifar10
from numcnn.errors import UserError


# --- file factories ---------------------------------------------------------------------------
def idx_bytes(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.tobytes()


def write_idx_split(directory, prefix, images, labels, gz: bool):
    for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = idx_bytes(array)
        if gz:
            (directory / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (directory / stem).write_bytes(data)


def fake_mnist(n, rng, size=28):
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, size, size)).astype(np.uint8)
    return images, labels


def write_cifar(directory, rng, per_batch=6):
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        # As the real files: a dict with bytes keys, pickled with protocol 2.
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        (directory / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = (data, labels)
    return batches


# --- built-in digits --------------------------------------------------------------------------
def test_digits_builtin_shape_range_and_class_counts():
    x, y = read_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == np.uint8
    assert x.min() == 0 and x.max() == 16
    assert np.bincount(y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_splits_are_disjoint_fixed_and_normalised():
    a = load_dataset("digits")
    b = load_dataset("digits")
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert a.train.x.dtype == np.float32 and a.train.x.shape[1:] == (1, 8, 8)
    np.testing.assert_array_equal(a.test.x, b.test.x)  # fixed split seed
    assert abs(float(a.train.x.mean())) < 1e-5 and abs(float(a.train.x.std()) - 1) < 1e-4
    rows = {r.tobytes() for r in a.train.x.reshape(len(a.train), -1)}
    # The UCI digits contain a few exact duplicates, so test disjointness by index counts instead.
    assert len(a.val) == round(0.1 * (1797 - len(a.test))) and len(a.test) == round(0.2 * 1797)
    assert len(rows) > 0.95 * len(a.train)


# --- IDX --------------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_train_and_test(tmp_path, gz):
    rng = np.random.default_rng(0)
    tr_x, tr_y = fake_mnist(50, rng)
    te_x, te_y = fake_mnist(20, rng)
    write_idx_split(tmp_path, "train", tr_x, tr_y, gz)
    write_idx_split(tmp_path, "t10k", te_x, te_y, gz)
    s = load_dataset("mnist", tmp_path, val_size=10)
    assert (len(s.train), len(s.val), len(s.test)) == (40, 10, 20)
    assert s.input_shape == (1, 28, 28) and s.num_classes == 10 and not s.notes
    # The test split is exactly t10k, normalised with the training statistics.
    np.testing.assert_array_equal(s.test.y, te_y)
    np.testing.assert_allclose(s.test.x, s.normalizer(te_x[:, None]), rtol=0, atol=0)
    assert s.normalizer.scale == pytest.approx(1 / 255)


def test_read_idx_gz_equals_raw(tmp_path):
    rng = np.random.default_rng(1)
    x, _ = fake_mnist(5, rng, size=4)
    (tmp_path / "a").write_bytes(idx_bytes(x))
    (tmp_path / "b.gz").write_bytes(gzip.compress(idx_bytes(x)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), x)
    np.testing.assert_array_equal(read_idx(tmp_path / "b.gz"), x)


def test_mnist_only_t10k_is_split_three_ways_and_says_so(tmp_path):
    rng = np.random.default_rng(2)
    x, y = fake_mnist(100, rng)
    write_idx_split(tmp_path, "t10k", x, y, gz=True)
    s = load_dataset("mnist", tmp_path)
    assert (len(s.train), len(s.val), len(s.test)) == (72, 8, 20)
    assert s.notes and "t10k" in s.notes[0]


def test_mnist_missing_files_name_expected_files_and_dir(tmp_path):
    with pytest.raises(UserError) as err:
        load_dataset("mnist", tmp_path)
    assert "train-images-idx3-ubyte" in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(UserError, match="no such directory"):
        load_dataset("fashion-mnist", tmp_path / "nope")
    with pytest.raises(UserError, match="--data-dir"):
        load_dataset("mnist", None)


def test_mnist_half_a_pair_is_an_error(tmp_path):
    rng = np.random.default_rng(3)
    x, _ = fake_mnist(5, rng)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(x))
    with pytest.raises(UserError, match="train-labels-idx1-ubyte"):
        load_dataset("mnist", tmp_path)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: b"\x00\x00\x08\x07" + d[4:], "dimensions"),  # wrong ndim in the magic
        (lambda d: b"PK\x03\x04" + d[4:], "magic"),  # not IDX at all
        (lambda d: d[:-7], "truncated"),  # short data
        (lambda d: d[:6], "truncated"),  # short header
        (lambda d: gzip.compress(d)[:-20], "gzip"),  # broken gzip stream
    ],
)
def test_corrupt_idx_files_are_user_errors(tmp_path, damage, message):
    rng = np.random.default_rng(4)
    x, y = fake_mnist(10, rng)
    write_idx_split(tmp_path, "t10k", x, y, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(UserError, match=message):
        load_dataset("mnist", tmp_path)


def test_idx_image_label_count_mismatch(tmp_path):
    rng = np.random.default_rng(5)
    x, y = fake_mnist(10, rng)
    write_idx_split(tmp_path, "t10k", x, y[:9], gz=False)
    with pytest.raises(UserError, match="10 images but .* 9 labels"):
        load_dataset("mnist", tmp_path)


# --- CIFAR-10 ---------------------------------------------------------------------------------
def test_cifar10_batches(tmp_path):
    rng = np.random.default_rng(6)
    batches = write_cifar(tmp_path, rng)
    (x_tr, y_tr), (x_te, y_te) = read_cifar10(tmp_path)
    assert x_tr.shape == (30, 3, 32, 32) and x_te.shape == (6, 3, 32, 32)
    np.testing.assert_array_equal(x_te, batches["test_batch"][0].reshape(6, 3, 32, 32))
    np.testing.assert_array_equal(y_tr[:6], batches["data_batch_1"][1])
    s = load_dataset("cifar10", tmp_path, val_size=5)
    assert (len(s.train), len(s.val), len(s.test)) == (25, 5, 6) and s.classes[0] == "airplane"
    assert len(s.normalizer.mean) == 3


def test_cifar10_missing_batch_names_the_files(tmp_path):
    write_cifar(tmp_path, np.random.default_rng(7))
    os.remove(tmp_path / "data_batch_3")
    with pytest.raises(UserError, match="data_batch_3") as err:
        load_dataset("cifar10", tmp_path)
    assert str(tmp_path) in str(err.value) and "cifar-10-batches-py" in str(err.value)
    assert "data_batch_1" not in str(err.value)  # only what is missing


def test_cifar10_missing_files_are_each_named_once(tmp_path):
    with pytest.raises(UserError) as err:
        load_dataset("cifar10", tmp_path)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        assert str(err.value).count(name) == 1, str(err.value)


def test_random_bytes_npz_is_refused_without_pickle_advice(tmp_path):
    (tmp_path / "d.npz").write_bytes(np.random.default_rng(2).bytes(2000))
    with pytest.raises(UserError, match="not a readable .npz") as err:
        load_dataset("npz", tmp_path / "d.npz")
    assert "allow_pickle" not in str(err.value) and "pickle.load" not in str(err.value)


@pytest.mark.parametrize("size", [1.0, 2.0, 1.5])
def test_a_float_size_of_one_or_more_is_refused(size):
    with pytest.raises(UserError, match=r"fraction must be in \(0, 1\)"):
        load_dataset("digits", val_size=size)
    with pytest.raises(UserError, match=r"fraction must be in \(0, 1\)"):
        load_dataset("digits", test_size=size)


def test_a_whole_count_is_a_number_of_images():
    s = load_dataset("digits", val_size=2, test_size=0)
    assert len(s.val) == 2 and len(s.test) == 0 and s.raw_range == (0.0, 16.0)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_pickle_cannot_run_code(tmp_path):
    write_cifar(tmp_path, np.random.default_rng(8))
    evil = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Exploit()}
    (tmp_path / "test_batch").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(UserError, match="refusing to load .*system"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(pickle.UnpicklingError):
        safe_unpickle(pickle.dumps(_Exploit()))
    with pytest.raises(pickle.UnpicklingError, match="object"):
        safe_unpickle(pickle.dumps(np.array([1, "a"], dtype=object)))


def test_cifar_corrupt_batch(tmp_path):
    write_cifar(tmp_path, np.random.default_rng(9))
    (tmp_path / "data_batch_2").write_bytes(b"\x80\x02}q\x00(")  # truncated pickle
    with pytest.raises(UserError, match="data_batch_2"):
        load_dataset("cifar10", tmp_path)
    (tmp_path / "data_batch_2").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}, protocol=2))
    with pytest.raises(UserError, match="3072"):
        load_dataset("cifar10", tmp_path)


def test_safe_unpickle_reads_plain_containers_and_arrays():
    value = {"a": [1, 2.5, "s", b"b", None, True], "arr": np.arange(6, dtype=np.float32).reshape(2, 3)}
    out = safe_unpickle(pickle.dumps(value, protocol=2))
    assert out["a"] == value["a"]
    np.testing.assert_array_equal(out["arr"], value["arr"])
    assert out["arr"].dtype == np.float32


# --- npz --------------------------------------------------------------------------------------
def test_npz_channels_last_and_given_test_split(tmp_path):
    rng = np.random.default_rng(10)
    x = rng.integers(0, 256, size=(40, 6, 6, 3)).astype(np.uint8)
    y = rng.integers(0, 4, size=40)
    np.savez(tmp_path / "d.npz", x=x, y=y, x_test=x[:5], y_test=y[:5])
    s = load_dataset("npz", tmp_path / "d.npz", val_size=0.25)
    assert s.input_shape == (3, 6, 6) and (len(s.train), len(s.val), len(s.test)) == (30, 10, 5)
    np.testing.assert_array_equal(s.test.y, y[:5])
    # A folder holding exactly one .npz works too.
    assert load_dataset("npz", tmp_path).input_shape == (3, 6, 6)


def test_npz_float_images_are_not_rescaled(tmp_path):
    x = np.random.default_rng(11).standard_normal((20, 4, 4)).astype(np.float32) * 3 + 7
    np.savez(tmp_path / "f.npz", x=x, y=np.arange(20) % 2)
    s = load_dataset("npz", tmp_path / "f.npz")
    assert s.normalizer.scale == 1.0 and s.num_classes == 2


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((4, 2, 2))}, "'x' and 'y'"),
        ({"x": np.zeros((4, 2, 2)), "y": np.zeros(3, int)}, r"shape \(4,\)"),
        ({"x": np.zeros((4, 2, 2)), "y": np.array([0, 1, -1, 0])}, "negative"),
        ({"x": np.zeros((4, 2, 2)), "y": np.array([0.5, 1, 1, 0])}, "integer"),
        ({"x": np.zeros((4, 2)), "y": np.zeros(4, int)}, "(N, H, W)"),
        ({"x": np.zeros((4, 2, 2)), "y": np.zeros(4, int), "x_test": np.zeros((2, 2, 2))}, "come together"),
    ],
)
def test_bad_npz_contents(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(UserError, match=message):
        read_npz(tmp_path / "bad.npz")


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([None, 1], dtype=object), y=np.zeros(2, int))
    with pytest.raises(UserError, match="obj.npz"):
        read_npz(tmp_path / "obj.npz")


def test_npz_missing_or_corrupt(tmp_path):
    with pytest.raises(UserError, match="no such .npz"):
        read_npz(tmp_path / "none.npz")
    (tmp_path / "c.npz").write_bytes(b"garbage, not a zip")
    with pytest.raises(UserError, match="not a readable .npz"):
        read_npz(tmp_path / "c.npz")


def test_unknown_dataset():
    with pytest.raises(UserError, match="unknown data set 'imagenet'"):
        load_dataset("imagenet")


# --- batching and normalisation ---------------------------------------------------------------
def test_batches_cover_everything_once_and_follow_the_generator():
    x = np.arange(23, dtype=np.float32).reshape(23, 1, 1, 1)
    ds = DataSet(x, np.arange(23))
    got = [yb for _, yb in ds.batches(5, np.random.default_rng(0))]
    assert [len(b) for b in got] == [5, 5, 5, 5, 3]
    assert sorted(np.concatenate(got).tolist()) == list(range(23))
    again = [yb for _, yb in ds.batches(5, np.random.default_rng(0))]
    assert all(np.array_equal(a, b) for a, b in zip(got, again))
    other = np.concatenate([yb for _, yb in ds.batches(5, np.random.default_rng(1))])
    assert not np.array_equal(np.concatenate(got), other)
    assert np.concatenate([yb for _, yb in ds.batches(5)]).tolist() == list(range(23))  # no rng: in order
    for xb, yb in ds.batches(4, np.random.default_rng(2)):
        np.testing.assert_array_equal(xb.ravel(), yb)  # images stay with their labels


def test_normalizer_round_trip_and_channel_check():
    x = np.random.default_rng(12).integers(0, 256, size=(10, 3, 4, 4)).astype(np.uint8)
    n = Normalizer.fit(x, 1 / 255)
    out = n(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert Normalizer.from_dict(n.to_dict()) == n
    with pytest.raises(UserError, match="3, H, W"):
        n(np.zeros((2, 1, 4, 4)))


def test_fashion_mnist_reads_the_same_idx_files_with_its_class_names(tmp_path):
    rng = np.random.default_rng(13)
    x, y = fake_mnist(30, rng)
    write_idx_split(tmp_path, "train", x, y, gz=True)
    write_idx_split(tmp_path, "t10k", x[:10], y[:10], gz=False)  # mixed .gz and raw files
    s = load_dataset("fashion-mnist", tmp_path, val_size=0)
    assert (len(s.train), len(s.val), len(s.test)) == (30, 0, 10)
    assert s.classes[0] == "T-shirt/top" and s.classes[9] == "Ankle boot"
