"""``python tests/distributed/run_cli.py ARGS...``: ``numcnn ARGS...`` for the MPI tests, with two
faults to inject from the environment:

- ``NUMCNN_TEST_NO_PLOTS=1``: matplotlib is hidden, so a run writes no plots (a second saved
  per run; the plots are rank 0's like every other file);
- ``NUMCNN_TEST_PID_DIR``: each rank writes its process id to ``rank<r>.pid`` there;
- ``NUMCNN_TEST_FAIL=RANK:STEP[:user]``: rank RANK raises a RuntimeError (a UserError with
  ``:user``) at its STEP-th training step.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, as `python -m` would

import numcnn.distributed as dist  # noqa: E402
from numcnn import cli, train  # noqa: E402
from numcnn.errors import UserError  # noqa: E402


def main() -> int:
    if os.environ.get("NUMCNN_TEST_NO_PLOTS"):
        sys.modules["matplotlib"] = None  # import matplotlib raises ImportError
    dist.init()
    pid_dir = os.environ.get("NUMCNN_TEST_PID_DIR")
    if pid_dir:
        (Path(pid_dir) / f"rank{dist.rank()}.pid").write_text(str(os.getpid()))
    fail = os.environ.get("NUMCNN_TEST_FAIL")
    if fail:
        fail_rank, fail_step = (int(v) for v in fail.split(":")[:2])
        kind = UserError if fail.endswith(":user") else RuntimeError
        step, steps = train.train_step, [0]

        def failing_step(*args, **kwargs):
            steps[0] += 1
            if dist.rank() == fail_rank and steps[0] == fail_step:
                raise kind(f"injected failure at step {fail_step}")
            return step(*args, **kwargs)

        train.train_step = failing_step
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
