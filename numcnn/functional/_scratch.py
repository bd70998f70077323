"""Scratch buffers that a pass reuses from one call to the next, one set per thread.

A conv pass needs several megabytes of scratch (im2col chunks, GEMM outputs).  A fresh NumPy
array of that size is a fresh mmap from the C allocator, and the kernel then zero-fills every
page the first time it is touched: measured on the 2-core machine of notes/perf.md, 2,000-3,000
page faults and about as many microseconds per conv3d pass.  So the passes take their scratch
from here instead.  Each buffer is owned by one thread and one call site (``name``), never
leaves the pass that took it, and is kept for the next call; a thread keeps at most
``_MAX_BYTES`` in all (larger requests are allocated and dropped as before).
"""

from __future__ import annotations

import threading
import weakref

import math

import numpy as np

from ._window import pad_constant

__all__ = ["scratch", "clear", "pad_into_scratch"]

_MAX_BYTES = 64 << 20
_local = threading.local()
_lock = threading.Lock()


class _Store(dict):
    """One thread's buffers by name: a dict that a WeakSet can hold (by identity)."""

    __hash__ = object.__hash__
    __eq__ = object.__eq__


# every live thread's store, for clear(); a finished thread's store goes with its thread-local
_stores: weakref.WeakSet = weakref.WeakSet()


def scratch(name: str, size: int, dtype) -> np.ndarray:
    """An uninitialised 1-D array of ``size`` elements, this thread's buffer for ``name``.

    The next call with the same ``name`` on the same thread returns the same memory, so the
    caller must be done with it by then (every pass uses it within its own call).
    """
    dtype = np.dtype(dtype)
    nbytes = size * dtype.itemsize
    store = getattr(_local, "store", None)
    if store is None:
        store = _local.store = _Store()
        with _lock:
            _stores.add(store)
    buf = store.get(name)
    if buf is None or buf.nbytes < nbytes:
        kept = sum(b.nbytes for key, b in store.items() if key != name)
        buf = np.empty(nbytes, dtype=np.uint8)
        if kept + nbytes <= _MAX_BYTES:
            store[name] = buf
        else:
            store.pop(name, None)
    return buf[:nbytes].view(dtype)


def pad_into_scratch(a: np.ndarray, pads, name: str, value=0) -> np.ndarray:
    """:func:`pad_constant` of ``a`` (spatial ``pads``, (before, after) each) into this thread's
    buffer ``name``; ``a`` itself when there is nothing to pad.  Valid until the next use of
    ``name`` on this thread."""
    size = a.shape[0] * a.shape[1] * math.prod(n + lo + hi for n, (lo, hi) in zip(a.shape[2:], pads))
    return pad_constant(a, pads, value, buf=scratch(name, size, a.dtype))


def clear() -> None:
    """Drop every thread's scratch buffers (while no pass is running), e.g. before measuring a
    pass's peak memory, which then includes its scratch."""
    with _lock:
        for store in list(_stores):
            store.clear()
