"""Readers for the data sets' files on disk: the built-in digits, IDX (MNIST, Fashion-MNIST),
CIFAR-10's python batches and plain ``.npz`` files.

Every reader returns raw arrays, images ``(N, C, H, W)`` in their stored dtype (uint8 for all the
standard sets) and labels ``(N,)`` int64; scaling and normalisation happen in
:mod:`numcnn.data.dataset`.  A missing or corrupt file raises :class:`~numcnn.errors.UserError`
naming the files that were expected and the directory that was searched.  Nothing here can run
code from a file: ``.npz`` files are read with ``allow_pickle=False`` and CIFAR's pickles with an
unpickler that can only build plain containers and numeric arrays.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import UserError

__all__ = [
    "read_digits",
    "read_digits_seg",
    "read_idx",
    "read_idx_split",
    "read_cifar10",
    "read_npz",
    "safe_unpickle",
]

_HERE = Path(__file__).resolve().parent
DIGITS_PATH = _HERE / "digits.npz"


# --- built-in digits -------------------------------------------------------------------------
def read_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 built-in 8×8 digits: images ``(1797, 1, 8, 8)`` uint8 in 0..16, labels int64.

    Provenance and licence: ``numcnn/data/DIGITS.md`` (UCI Optical Recognition of Handwritten
    Digits, E. Alpaydin and C. Kaynak, 1998, CC BY 4.0).
    """
    try:
        with np.load(DIGITS_PATH, allow_pickle=False) as f:
            images, labels = f["images"], f["labels"]
    except (OSError, KeyError, ValueError, zlib.error, zipfile.BadZipFile) as exc:
        raise UserError(f"the built-in digits file {DIGITS_PATH} is missing or damaged ({exc}); reinstall numcnn") from exc
    return images[:, None, :, :], labels.astype(np.int64)


# Pixels at least this bright (of 16) are ink in ``digits_seg``: half intensity, about a third of
# all pixels.
DIGITS_INK_THRESHOLD = 8


def read_digits_seg() -> tuple[np.ndarray, np.ndarray]:
    """The built-in digits as a segmentation set: images ``(1797, 1, 8, 8)`` uint8 and per-pixel
    labels ``(1797, 8, 8)`` int64, ``digit + 1`` where the pixel is ink (value >= 8 of 16) and
    0 (background) elsewhere: 11 classes."""
    images, labels = read_digits()
    ink = images[:, 0] >= DIGITS_INK_THRESHOLD
    return images, np.where(ink, labels[:, None, None] + 1, 0).astype(np.int64)


# --- IDX (MNIST, Fashion-MNIST) ---------------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_maybe_gzip(path: Path) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise UserError(f"{path}: corrupt gzip data ({exc})") from exc
    return data


def read_idx(path, expected_ndim: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or not), checking its magic number and size.

    Parameters
    ----------
    path : path-like
        The file, e.g. ``train-images-idx3-ubyte`` or ``train-images-idx3-ubyte.gz``.
    expected_ndim : int, optional
        3 for image files, 1 for label files.

    Returns
    -------
    numpy.ndarray
        The array with the shape stored in the header (``(N, H, W)`` for images, ``(N,)`` for
        labels), native byte order.
    """
    path = Path(path)
    data = _open_maybe_gzip(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise UserError(f"{path}: not an IDX file (bad magic number {data[:4].hex() or 'empty'})")
    ndim = data[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise UserError(f"{path}: IDX file has {ndim} dimensions, expected {expected_ndim}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise UserError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise UserError(
            f"{path}: IDX header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header} bytes; the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def read_idx_split(directory, prefix: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Images ``(N, 1, H, W)`` and int64 labels of one MNIST-style split (``prefix`` is ``'train'``
    or ``'t10k'``), or None when neither of its two files is in ``directory``.

    One of the pair present without the other, or files that disagree, is a UserError.
    """
    directory = Path(directory)
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    found = [_find(directory, s) for s in stems]
    if found == [None, None]:
        return None
    if None in found:
        missing = stems[found.index(None)]
        raise UserError(f"{directory}: found {found[1 - found.index(None)].name} but not {missing}[.gz]")
    images = read_idx(found[0], expected_ndim=3)
    labels = read_idx(found[1], expected_ndim=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise UserError(f"{directory}: MNIST-style IDX files must hold unsigned bytes")
    if len(images) != len(labels):
        raise UserError(f"{directory}: {found[0].name} has {len(images)} images but {found[1].name} has {len(labels)} labels")
    return images[:, None, :, :], labels.astype(np.int64)


# --- CIFAR-10 python batches ------------------------------------------------------------------
def _reconstruct_ndarray(cls, shape, typecode):
    # Stand-in for numpy's pickle helper ``_reconstruct``: it may only ever make a plain ndarray.
    if cls is not np.ndarray:
        raise pickle.UnpicklingError("only numpy.ndarray may be reconstructed")
    return np.ndarray.__new__(np.ndarray, shape, typecode)


def _make_dtype(spec, align=False, copy=False):
    dtype = np.dtype(spec, align, copy)
    if dtype.hasobject:
        raise pickle.UnpicklingError("object arrays are not allowed")
    return dtype


def _latin1_bytes(text, encoding="latin1"):
    # Python 3 writes bytes into protocol-2 pickles as ``_codecs.encode(str, 'latin1')``.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 str -> bytes conversion is allowed")
    return text.encode("latin1")


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds builtin containers, strings, numbers and numeric NumPy arrays, nothing else.

    A pickle names the callables it wants run; ``find_class`` is the only door to them.  Here it
    opens onto harmless stand-ins (array and dtype construction with object dtypes refused, and
    latin-1 text to bytes), so a crafted file cannot reach ``os.system`` or anything else.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct_ndarray,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): _make_dtype,
        ("_codecs", "encode"): _latin1_bytes,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file") from None


def safe_unpickle(data: bytes):
    """Unpickle ``data`` (Python 2 pickles included, bytes kept as bytes) without running code."""
    return _RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()


CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST = "test_batch"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = safe_unpickle(path.read_bytes())
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, AttributeError, KeyError) as exc:
        raise UserError(f"{path}: not a readable CIFAR-10 python batch ({exc})") from exc
    if not isinstance(batch, dict):
        raise UserError(f"{path}: not a CIFAR-10 python batch (a {type(batch).__name__}, not a dict)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise UserError(f"{path}: CIFAR-10 batch lacks 'data' or 'labels' (keys: {sorted(map(str, batch))})")
    data = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (len(data),):
        raise UserError(
            f"{path}: CIFAR-10 'data' must be uint8 (N, 3072) with N labels, got {data.dtype} {data.shape} "
            f"and labels of shape {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar10(directory) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10's python version from ``directory`` (the ``cifar-10-batches-py`` folder):
    ``((x_train, y_train), (x_test, y_test))``, images ``(N, 3, 32, 32)`` uint8."""
    directory = Path(directory)
    names = CIFAR10_TRAIN + (CIFAR10_TEST,)
    missing = [n for n in names if not (directory / n).is_file()]
    if missing:
        raise UserError(
            f"{directory}: CIFAR-10 python batches not found (missing {', '.join(missing)}); expected "
            f"{', '.join(names)} as in cifar-10-batches-py"
        )
    train = [_read_cifar_batch(directory / n) for n in CIFAR10_TRAIN]
    test = _read_cifar_batch(directory / CIFAR10_TEST)
    return (np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train])), test


# --- any .npz with x and y --------------------------------------------------------------------
def read_npz(path) -> dict[str, np.ndarray]:
    """Arrays of an ``.npz`` file holding ``x`` and ``y`` (and optionally ``x_test``/``y_test``,
    ``x_val``/``y_val``), loaded with ``allow_pickle=False``.

    ``x`` may be ``(N, H, W)`` (one channel), ``(N, C, H, W)`` or ``(N, H, W, C)`` with C in
    {1, 3, 4} (channels-last is transposed); ``y`` holds integer class labels ``(N,)``.
    """
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.npz"))
        if len(candidates) != 1:
            raise UserError(f"{path}: expected exactly one .npz file holding arrays 'x' and 'y', found {len(candidates)}")
        path = candidates[0]
    if not path.is_file():
        raise UserError(f"{path}: no such .npz file (expected an .npz holding arrays 'x' and 'y')")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError, zlib.error, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable .npz file ({exc})") from exc
    if "x" not in arrays or "y" not in arrays:
        raise UserError(f"{path}: the .npz must hold arrays 'x' and 'y', it holds {sorted(arrays)}")
    out = {}
    for split in ("", "_val", "_test"):
        if f"x{split}" in arrays or f"y{split}" in arrays:
            if f"x{split}" not in arrays or f"y{split}" not in arrays:
                raise UserError(f"{path}: 'x{split}' and 'y{split}' must come together")
            out[f"x{split}"] = _as_nchw(arrays[f"x{split}"], path, f"x{split}")
            out[f"y{split}"] = _as_labels(arrays[f"y{split}"], len(out[f"x{split}"]), path, f"y{split}")
    return out


def _as_nchw(x: np.ndarray, path: Path, name: str) -> np.ndarray:
    if x.dtype.kind not in "uif" or x.dtype == np.float16:
        raise UserError(f"{path}: '{name}' must be a numeric (integer or float32/64) array, got {x.dtype}")
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[1] not in (1, 3, 4) and x.shape[3] in (1, 3, 4):
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x
    raise UserError(f"{path}: '{name}' must be (N, H, W), (N, C, H, W) or (N, H, W, C), got shape {x.shape}")


def _as_labels(y: np.ndarray, n: int, path: Path, name: str) -> np.ndarray:
    if y.dtype.kind not in "ui" and not (y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0)):
        raise UserError(f"{path}: '{name}' must hold integer class labels, got {y.dtype}")
    if y.shape != (n,):
        raise UserError(f"{path}: '{name}' must have shape ({n},) to match its images, got {y.shape}")
    if n and y.min() < 0:
        raise UserError(f"{path}: '{name}' holds negative labels (min {y.min()}); labels must be 0..num_classes-1")
    return y.astype(np.int64)


def describe_dir(directory) -> str:
    """A short listing of ``directory`` for error messages."""
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return "(directory does not exist)"
    return "(contains: " + (", ".join(names[:8]) + (" ..." if len(names) > 8 else "") if names else "nothing") + ")"
