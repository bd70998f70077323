"""Data-parallel scaling: samples per second of ResNet-20 training steps (CIFAR-shaped synthetic
data, 3x32x32 float32, 10 classes, SGD with momentum, the trainer's own step,
``numcnn.train_step.train_step``) at 1 process x 1 thread, 2 processes x 1 thread and 1 process x
2 threads, and the time per step spent inside MPI calls (all of them: the gradient allreduce, the
synchronised BatchNorm's small reductions and the step's metrics; waiting for the slower rank
included), inside the gradient allreduce alone, and the same calls replayed without the compute
("calls alone": the cost of the communication itself, without waiting for a slower rank).

    PYTHONPATH=. python benchmarks/scaling.py [--steps 20] [--batch-size 128] [--repeat 2]

Each configuration runs in fresh processes (``mpiexec -n K`` for K > 1, with numcnn's and BLAS's
threads set by the environment); the configurations take turns, and the best of ``--repeat`` runs
of each is reported, after one warm-up step.  Run it on a quiet machine: the numbers are only as steady as the load allows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ((1, 1), (2, 1), (1, 2))  # (processes, threads per process)


def worker(steps: int, batch_size: int) -> None:
    import numpy as np

    import numcnn.distributed as dist
    from numcnn import nn, optim, train_step as step_module
    from numcnn.models import resnet20

    dist.init()
    nn.init.manual_seed(0)
    model = resnet20((3, 32, 32), 10)
    dist.broadcast_parameters(model)
    optimizer = optim.SGD(list(model.parameters()), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size, 3, 32, 32), dtype=np.float32)
    y = rng.integers(0, 10, batch_size)
    grad_seconds = [0.0]
    allreduce_gradients = dist.allreduce_gradients

    def timed_allreduce_gradients(params, scale=1.0):
        start = time.perf_counter()
        allreduce_gradients(params, scale)
        grad_seconds[0] += time.perf_counter() - start

    dist.allreduce_gradients = timed_allreduce_gradients
    model.train()
    from numcnn.distributed import comm

    sizes, allreduce = [], comm.allreduce

    def recorded_allreduce(array):  # the warm-up step's calls, replayed below without the compute
        sizes.append((array.size, array.dtype))
        return allreduce(array)

    comm.allreduce = recorded_allreduce
    step_module.train_step(model, optimizer, x, y, label_smoothing=0.0)  # warm-up
    comm.allreduce = allreduce
    dist.barrier()
    dist.communication_time(reset=True)
    grad_seconds[0] = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        step_module.train_step(model, optimizer, x, y, label_smoothing=0.0)
    dist.barrier()
    seconds = time.perf_counter() - start
    comm_seconds, calls = dist.communication_time()
    buffers = [np.zeros(size, dtype) for size, dtype in sizes]
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        for buffer in buffers:
            dist.allreduce(buffer)
    replay_seconds = time.perf_counter() - start
    if dist.is_main():
        from numcnn._threads import get_num_threads

        print(json.dumps({
            "samples_per_second": steps * batch_size / seconds,
            "seconds_per_step": seconds / steps,
            "comm_ms_per_step": 1e3 * comm_seconds / steps,
            "grad_allreduce_ms_per_step": 1e3 * grad_seconds[0] / steps,
            "comm_alone_ms_per_step": 1e3 * replay_seconds / steps,
            "mpi_calls_per_step": calls / steps,
            "threads": get_num_threads(),
        }))


def run_config(processes: int, threads: int, steps: int, batch_size: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMCNN_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    command = [sys.executable, __file__, "--worker", "--steps", str(steps), "--batch-size", str(batch_size)]
    if processes > 1:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
        if mpiexec is None:
            raise SystemExit("scaling.py: no mpiexec; pip install -e '.[mpi]'")
        command = [mpiexec, "-n", str(processes), *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"scaling.py: {' '.join(command)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.steps, args.batch_size)
        return
    print(f"ResNet-20 training steps, batch {args.batch_size} (global), {args.steps} steps, best of {args.repeat}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'processes x threads':>20} {'samples/s':>10} {'s/step':>8} {'speed-up':>9} {'MPI ms/step':>12} "
          f"{'grad allreduce ms':>18} {'MPI calls':>10} {'calls alone ms':>15}")
    runs = {config: [] for config in CONFIGS}
    for _ in range(args.repeat):  # round robin, so a change in the machine's load hits every row alike
        for processes, threads in CONFIGS:
            runs[processes, threads].append(run_config(processes, threads, args.steps, args.batch_size))
    base = None
    for (processes, threads), results in runs.items():
        best = max(results, key=lambda r: r["samples_per_second"])
        base = base or best["samples_per_second"]
        print(f"{f'{processes} x {threads}':>20} {best['samples_per_second']:10.1f} {best['seconds_per_step']:8.3f} "
              f"{best['samples_per_second'] / base:8.2f}x {best['comm_ms_per_step']:12.2f} "
              f"{best['grad_allreduce_ms_per_step']:18.2f} {best['mpi_calls_per_step']:10.0f} "
              f"{best['comm_alone_ms_per_step']:15.2f}")


if __name__ == "__main__":
    main()
