"""Data parallelism on the process group: shards of every global batch, one flat allreduce of the
gradients per step, and the initial state broadcast from rank 0 (Horovod's and ChainerMN's design).

Results do not depend on the number of processes: every rank sees the batch order of the
one-process run, takes a contiguous shard of each global batch, and scales its gradient by its
share of the batch before the sum, so the reduced gradient is the global batch's mean gradient
up to the order of floating-point sums.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from . import comm

__all__ = [
    "shard_bounds",
    "shard",
    "allreduce_gradients",
    "broadcast_parameters",
    "global_batch",
    "batch_rows",
    "batch_norm_reducer",
    "set_sync_batch_norm",
]

_rows: tuple[int, int] | None = None  # (start, total) of this rank's shard in the current global batch
_sync_batch_norm = True


def shard_bounds(n: int, rank: int | None = None, world: int | None = None) -> tuple[int, int]:
    """``(start, stop)`` of ``rank``'s contiguous shard of a batch of ``n`` samples.

    Shards are disjoint and cover the batch; the first ``n % world`` ranks take one sample more
    (as ``np.array_split``), so a batch that does not divide evenly still loses nothing.  A rank
    may get an empty shard when ``n < world``.
    """
    rank = comm.rank() if rank is None else rank
    world = comm.world_size() if world is None else world
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank must be in [0, {world}) for a world of {world}, got {rank}")
    if n < 0:
        raise ValueError(f"batch size must be non-negative, got {n}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def shard(batch, rank: int | None = None, world: int | None = None):
    """This rank's part of ``batch`` (an array or sequence of sample indices or samples)."""
    start, stop = shard_bounds(len(batch), rank, world)
    return batch[start:stop]


_buffers: dict = {}  # (dtype, size) -> the flat buffer reused from step to step


def _flat_buffer(dtype, size: int) -> np.ndarray:
    key = (np.dtype(dtype), size)
    buf = _buffers.get(key)
    if buf is None:
        buf = _buffers[key] = np.empty(size, dtype=dtype)
    return buf


def allreduce_gradients(params, scale: float = 1.0) -> None:
    """Replace each parameter's ``.grad`` by the sum over ranks of ``scale * grad``.

    One flat buffer per dtype and one MPI call per buffer, never one per parameter.  A parameter
    with no gradient on this rank counts as zeros (and has one afterwards, as on every rank).
    With ``scale = local batch / global batch`` and per-rank mean losses, the result is the
    gradient of the global batch's mean loss -- when the backward pass is local to the rank.  With
    synchronised BatchNorm (the default under mpiexec) seed the backward with that share instead
    and keep ``scale = 1``: its reduced backward then sums consistently scaled terms.
    """
    params = [p for p in params]
    by_dtype: dict = {}
    for p in params:
        by_dtype.setdefault(p.data.dtype, []).append(p)
    for dtype, group in by_dtype.items():
        buf = _flat_buffer(dtype, sum(p.data.size for p in group))
        offset = 0
        for p in group:
            part = buf[offset : offset + p.data.size]
            if p.grad is None:
                part[...] = 0
            else:
                np.multiply(p.grad.reshape(-1), dtype.type(scale), out=part)
            offset += p.data.size
        comm.allreduce(buf)
        offset = 0
        for p in group:
            p.grad = buf[offset : offset + p.data.size].reshape(p.data.shape).copy()
            offset += p.data.size


def broadcast_parameters(module) -> None:
    """Give every rank rank 0's parameters and floating buffers (one call per dtype)."""
    if comm.world_size() == 1:
        return
    arrays = [p.data for p in module.parameters()]
    for _, sub in module.named_modules():
        for name in sub._buffers:
            value = getattr(sub, name)
            if isinstance(value, np.ndarray) and value.size:
                arrays.append(value)
    by_dtype: dict = {}
    for a in arrays:
        by_dtype.setdefault(a.dtype, []).append(a)
    for dtype, group in by_dtype.items():
        buf = np.concatenate([a.reshape(-1) for a in group]) if group else np.empty(0, dtype)
        comm.broadcast(buf)
        offset = 0
        for a in group:
            a.reshape(-1)[...] = buf[offset : offset + a.size]
            offset += a.size


@contextmanager
def global_batch(n: int):
    """Inside the block, forward passes run on this rank's shard (:func:`shard`) of a global batch
    of ``n`` samples: Dropout draws the global batch's masks and keeps this shard's rows, so its
    generator stays in step on every rank and the masks are the one-process run's."""
    global _rows
    start, stop = shard_bounds(n)
    previous, _rows = _rows, (start, n)
    try:
        yield start, stop
    finally:
        _rows = previous


def batch_rows() -> tuple[int, int] | None:
    """``(start, total)`` of this rank's shard inside :func:`global_batch`, else None."""
    return _rows


def set_sync_batch_norm(enabled: bool) -> None:
    """Whether BatchNorm in training mode uses the statistics of the global batch when the group has
    several processes (True, the default, as PyTorch's SyncBatchNorm) or of each rank's shard."""
    global _sync_batch_norm
    _sync_batch_norm = bool(enabled)


def batch_norm_reducer():
    """The ``reduce`` for :func:`numcnn.functional.batch_norm_forward` in training mode: the sum over
    the group (:func:`comm.allreduce`) with several processes and sync on, else None."""
    return comm.allreduce if _sync_batch_norm and comm.world_size() > 1 else None
