"""Data-parallel training over MPI (``mpiexec -n K``), for the trainer and for users' own loops.

::

    import numcnn.distributed as dist
    dist.init()                                  # a group of one without mpiexec
    dist.broadcast_parameters(model)             # start from rank 0's weights
    for batch in batches:                        # the same global batches on every rank
        with dist.global_batch(len(batch)) as (start, stop):  # Dropout: the global batch's masks
            part = batch[start:stop]             # this rank's contiguous share
            ...forward on part, loss as the mean over part, and backward from
            dloss * (len(part) / len(batch)): this share of the global batch's mean loss...
        dist.allreduce_gradients(model.parameters())   # one flat buffer: the global gradient
        optimizer.step()

(examples/distributed_train.py is this loop in full.)  Seeding the backward with the share,
rather than scaling the gradients afterwards (``allreduce_gradients(..., scale=share)``), keeps
the gradient exact with synchronised BatchNorm when the shards differ in size.

BatchNorm in training mode uses the global batch's statistics whenever the group has several
processes (``set_sync_batch_norm(False)`` for per-shard statistics), so every rank must run the
same forward passes in training mode.
"""

from .comm import (
    abort,
    agree,
    allreduce,
    barrier,
    broadcast,
    broadcast_object,
    communication_time,
    init,
    is_initialized,
    is_main,
    local_size,
    rank,
    world_size,
)
from .data_parallel import (
    allreduce_gradients,
    batch_norm_reducer,
    batch_rows,
    broadcast_parameters,
    global_batch,
    set_sync_batch_norm,
    shard,
    shard_bounds,
)

__all__ = [
    "init",
    "is_initialized",
    "rank",
    "world_size",
    "local_size",
    "is_main",
    "barrier",
    "allreduce",
    "broadcast",
    "broadcast_object",
    "agree",
    "abort",
    "communication_time",
    "allreduce_gradients",
    "broadcast_parameters",
    "shard",
    "shard_bounds",
    "global_batch",
    "batch_rows",
    "batch_norm_reducer",
    "set_sync_batch_norm",
]
