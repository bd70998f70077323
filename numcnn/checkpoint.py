"""Checkpoints and atomic files.

A checkpoint is ONE ``.npz`` file: the model's state dict under ``model/<key>`` (PyTorch's keys),
every array of the remaining state (optimizer moments, ...) under ``state/<n>``, and a JSON
document under ``__meta__`` (architecture, hyper-parameters, epoch, RNG states, scalar optimizer
state) in which each array is replaced by ``{"__array__": "state/<n>"}``.  Loading uses
``np.load(allow_pickle=False)``, so a checkpoint from a stranger cannot run code.  Because it is
one file, written atomically, the weights and the RNG/optimizer state it holds always belong to
the same moment.

Every file is written atomically: a temporary file in the same directory, flushed and fsync'ed,
then ``os.replace``'d over the target (and the directory fsync'ed), so a reader or a killed process
sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import UserError, load_error_reason

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "save_checkpoint", "load_checkpoint"]

META_KEY = "__meta__"
FORMAT = "numcnn-checkpoint-1"


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process umask (read without changing it where /proc allows)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename).

    The file gets the mode of an ordinary new file (0666 less the umask, e.g. 0644), not the
    0600 that ``mkstemp`` gives its temporary file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# --- nested state <-> (JSON, arrays) ----------------------------------------------------------
def _pack(obj, arrays: dict):
    """JSON-able copy of ``obj`` with every array (and NumPy scalar) moved into ``arrays``."""
    if isinstance(obj, (np.ndarray, np.generic)):
        key = f"state/{len(arrays)}"
        arrays[key] = np.asarray(obj)
        return {"__array__": key, "scalar": isinstance(obj, np.generic)}
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"checkpoint state keys must be str or int, got {k!r}")
        return {"__dict__": [[k, _pack(v, arrays)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_pack(v, arrays) for v in obj]}
    if isinstance(obj, list):
        return [_pack(v, arrays) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _unpack(obj, arrays):
    if isinstance(obj, dict):
        if "__array__" in obj:
            value = arrays[obj["__array__"]]
            return value[()] if obj.get("scalar") else value
        if "__dict__" in obj:
            return {k: _unpack(v, arrays) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_unpack(v, arrays) for v in obj["__tuple__"])
        raise ValueError(f"unknown checkpoint node {sorted(obj)}")
    if isinstance(obj, list):
        return [_unpack(v, arrays) for v in obj]
    return obj


def pack_state(obj) -> tuple[object, dict]:
    """Split nested state into a JSON-able skeleton and a dict of arrays."""
    arrays: dict = {}
    return _pack(obj, arrays), arrays


def unpack_state(skeleton, arrays):
    """Inverse of :func:`pack_state`; arrays and NumPy scalars come back with their dtypes."""
    return _unpack(skeleton, arrays)


# --- checkpoints ------------------------------------------------------------------------------
def save_checkpoint(path, model_state: dict, state: dict | None = None, meta: dict | None = None) -> None:
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    model_state : dict of str -> ndarray
        ``model.state_dict()``.
    state : dict, optional
        Nested training state (dicts with str/int keys, lists, tuples, numbers, strings, arrays):
        optimizer and scheduler state dicts, RNG states, ...
    meta : dict, optional
        JSON-able description (architecture, hyper-parameters, history, ...).
    """
    skeleton, arrays = pack_state(state or {})
    document = {"format": FORMAT, "meta": meta or {}, "state": skeleton, "model_keys": list(model_state)}
    payload = {f"model/{k}": np.asarray(v) for k, v in model_state.items()}
    payload.update(arrays)
    payload[META_KEY] = np.array(json.dumps(document))
    buffer = io.BytesIO()
    np.savez(buffer, **payload)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path) -> tuple[dict, dict, dict]:
    """Read a checkpoint written by :func:`save_checkpoint` with ``allow_pickle=False``.

    Returns
    -------
    model_state : dict of str -> ndarray (in the saved order)
    state : dict (arrays restored in place of their placeholders)
    meta : dict
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such checkpoint")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        document = json.loads(str(arrays.pop(META_KEY)[()]))
    except (OSError, ValueError, KeyError, zlib.error, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable numcnn checkpoint ({load_error_reason(exc)})") from None
    if document.get("format") != FORMAT:
        raise UserError(f"{path}: unknown checkpoint format {document.get('format')!r}")
    try:
        model_state = {k: arrays[f"model/{k}"] for k in document["model_keys"]}
        state = unpack_state(document["state"], arrays)
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path}: damaged checkpoint ({exc})") from exc
    return model_state, state, document["meta"]
