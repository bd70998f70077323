"""Data-parallel training over MPI (``mpiexec -n K``), for the trainer and for users' own loops.

::

    import numcnn.distributed as dist
    dist.init()                                  # a group of one without mpiexec
    dist.broadcast_parameters(model)             # start from rank 0's weights
    for batch in batches:                        # the same global batches on every rank
        part = dist.shard(batch)                 # this rank's contiguous share
        ...forward and backward on part, loss as the mean over part...
        dist.allreduce_gradients(model.parameters(), scale=len(part) / len(batch))
        optimizer.step()
"""

from .comm import (
    allreduce,
    barrier,
    broadcast,
    broadcast_object,
    init,
    is_initialized,
    is_main,
    local_size,
    rank,
    world_size,
)
from .data_parallel import allreduce_gradients, broadcast_parameters, shard, shard_bounds

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
    "allreduce_gradients",
    "broadcast_parameters",
    "shard",
    "shard_bounds",
]
