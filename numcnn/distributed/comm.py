"""The process group: MPI when the program runs under ``mpiexec``, one process otherwise.

``init()`` is idempotent and cheap.  Without mpi4py, or in a process that ``mpiexec`` did not
start, everything here works as a group of one (rank 0 of 1), so a training script written for
many processes also runs as a plain ``python script.py``.

A process that raises an uncaught exception prints it once, naming its rank, and aborts the
whole job (``MPI_Abort``): no other rank is left waiting in a collective for a peer that is gone.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

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
]

_comm = None  # mpi4py's COMM_WORLD, or None for a group of one
_agreement_comm = None  # a duplicate of it, so agreeing on a failure never meets a training collective
_local_size = 1
_initialized = False
_seconds_in_calls = [0.0, 0]  # seconds inside allreduce/broadcast, and the number of calls


def _launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (so importing mpi4py is worth its cost)."""
    markers = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD")
    return any(m in os.environ for m in markers)


def _launcher_size() -> int:
    """The number of processes the launcher says it started (1 when it does not say)."""
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 1


def init(threads: int | None = None) -> None:
    """Join the job's process group and set this process's thread count.

    On one host each process defaults to (CPUs on the host) / (processes on the host) threads,
    for numcnn's batch split and for BLAS alike; ``threads`` (or ``NUMCNN_NUM_THREADS``)
    overrides it.  A group of one keeps numcnn's usual default.
    """
    global _comm, _agreement_comm, _local_size, _initialized
    if _initialized:
        return
    _initialized = True
    if not _launched_by_mpi():
        return
    try:
        from mpi4py import MPI
    except ImportError:
        if _launcher_size() > 1:
            raise RuntimeError(
                "started by mpiexec with several processes, but mpi4py is not installed: "
                "pip install 'numcnn[mpi]'"
            ) from None
        return
    comm = MPI.COMM_WORLD
    if comm.Get_size() == 1:
        if _launcher_size() > 1:  # every process would think it is rank 0 and write the run folder
            raise RuntimeError(
                f"started by an mpiexec for {_launcher_size()} processes, but mpi4py's MPI sees a group of one: "
                "the mpiexec belongs to another MPI than mpi4py's (use the one next to this Python, "
                "from pip install 'numcnn[mpi]')"
            )
        return
    _comm = comm
    _agreement_comm = comm.Dup()
    _local_size = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    _install_abort_on_exception()
    _set_threads(threads)


def _set_threads(threads: int | None) -> None:
    from .. import _threads

    if threads is None and not os.environ.get("NUMCNN_NUM_THREADS"):
        cpus = _threads._default_threads()  # the CPUs this process may run on
        threads = max(1, cpus // _local_size) if cpus >= _local_size else 1
    if threads is not None:
        _threads.set_num_threads(threads)
    try:  # BLAS's own pool too, or each process's GEMMs would claim every core of the host
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    threadpool_limits(limits=_threads.get_num_threads(), user_api="blas")


def _install_abort_on_exception() -> None:
    def abort_on_exception(kind, value, tb):
        import traceback

        report = "".join(traceback.format_exception(kind, value, tb))
        abort(1, f"numcnn: rank {rank()} of {world_size()} failed; ending the job\n{report}")

    sys.excepthook = abort_on_exception


def abort(status: int, message: str = "") -> None:
    """End every process of the job now with ``status`` (``MPI_Abort``), after writing ``message``
    to stderr; nothing in one process.

    For an interrupt (Ctrl-C): the ranks receive it at different moments, and one that leaves
    normally would leave the others waiting in a collective for it.
    """
    if _comm is None:
        return
    sys.stdout.flush()
    if message:  # one write, then a moment for mpiexec to forward it before the job is killed
        sys.stderr.write(message)
    sys.stderr.flush()
    time.sleep(0.2)
    _comm.Abort(status)


def is_initialized() -> bool:
    return _initialized


def rank() -> int:
    """This process's index in the group, 0 .. world_size() - 1."""
    return 0 if _comm is None else _comm.Get_rank()


def world_size() -> int:
    """The number of processes in the group (1 without MPI)."""
    return 1 if _comm is None else _comm.Get_size()


def local_size() -> int:
    """The number of processes of the group on this host."""
    return _local_size


def is_main() -> bool:
    """Whether this is rank 0: the one process that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    if _comm is not None:
        _comm.Barrier()


def allreduce(array: np.ndarray) -> np.ndarray:
    """The element-wise sum of ``array`` over all ranks, in place (one MPI call), returned.

    ``array`` must be contiguous and have the same shape and dtype on every rank.
    """
    if _comm is not None:
        from mpi4py import MPI

        start = time.perf_counter()
        _comm.Allreduce(MPI.IN_PLACE, array, op=MPI.SUM)
        _count_call(start)
    return array


def _count_call(start: float) -> None:
    _seconds_in_calls[0] += time.perf_counter() - start
    _seconds_in_calls[1] += 1


def communication_time(reset: bool = False) -> tuple[float, int]:
    """``(seconds, calls)`` spent inside :func:`allreduce` and :func:`broadcast` by this process
    since the start (or the last ``reset``): the communication cost of a step, waiting for slower
    ranks included."""
    seconds, calls = _seconds_in_calls
    if reset:
        _seconds_in_calls[:] = [0.0, 0]
    return seconds, calls


def broadcast(array: np.ndarray, root: int = 0) -> np.ndarray:
    """Overwrite ``array`` (contiguous, same shape and dtype everywhere) with ``root``'s values."""
    if _comm is not None:
        start = time.perf_counter()
        _comm.Bcast(array, root=root)
        _count_call(start)
    return array


def broadcast_object(obj, root: int = 0):
    """A small picklable value (a config, a path) from ``root`` to every rank."""
    return obj if _comm is None else _comm.bcast(obj, root=root)


def agree(error: str | None = None, *, timeout: float | None = None) -> None:
    """Collective: every rank says whether it failed (``error``, a one-line message) and all learn
    the outcome.  Returns None when no rank failed; otherwise every rank gets the message of the
    lowest failing rank, as the return value when ``error`` was given here and as a raised
    :class:`numcnn.errors.UserError` (with ``agreed = True``) on the ranks that had not failed.

    It runs on a communicator of its own, so a rank that fails and calls ``agree(message)`` while
    the others are still in a training collective does not corrupt that collective; with
    ``timeout`` (seconds) such a rank stops waiting, prints its message naming itself, and ends
    the whole job (``MPI_Abort``, status 2): a failure on one rank never leaves the job hanging.
    """
    if _comm is None:
        return error
    from mpi4py import MPI

    me = rank()
    first = np.array([me if error is not None else world_size()], dtype=np.int64)
    lowest = np.empty_like(first)
    request = _agreement_comm.Iallreduce(first, lowest, op=MPI.MIN)
    if timeout is None:
        request.Wait()
    else:
        deadline = time.monotonic() + timeout
        while not request.Test():
            if time.monotonic() > deadline:
                abort(2, f"numcnn: rank {me} of {world_size()} failed alone (the others did not join within "
                         f"{timeout:g} s); ending the job: {error}\n")
            time.sleep(0.005)
    if lowest[0] == world_size():
        return None
    message = _agreement_comm.bcast(error, root=int(lowest[0]))
    if error is not None:
        return message
    from ..errors import UserError

    failure = UserError(message)
    failure.agreed = True
    raise failure
