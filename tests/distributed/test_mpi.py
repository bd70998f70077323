"""``mpiexec -n K`` on loopback: the same weights as one process, resume across process counts,
one writer, and faults that end the job.  Each test launches its own processes; skipped where
mpi4py (the ``mpi`` extra: mpi4py and the mpich wheel) is not installed."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
if MPIEXEC is None:
    pytest.skip("no mpiexec next to the interpreter or on PATH", allow_module_level=True)

from numcnn.checkpoint import load_checkpoint  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RUN_CLI = Path(__file__).with_name("run_cli.py")


@pytest.fixture
def run(tmp_path):
    """The run options of these tests: vgg_small (BatchNorm and Dropout) on 200 of the built-in
    digits as an npz, so a run takes a second; 140 training images in batches of 45, so every batch
    splits unevenly over 2 and 3 processes.  SGD, because Adam turns the rounding noise of a
    gradient that is zero in exact arithmetic (a bias before BatchNorm) into steps of the
    learning rate."""
    import numcnn.data

    digits = np.load(Path(numcnn.data.__file__).with_name("digits.npz"))
    path = tmp_path / "digits200.npz"
    np.savez(path, x=digits["images"][:200], y=digits["labels"][:200].astype(np.int64))
    return ["--dataset", "npz", "--data-dir", str(path), "--val-size", "30", "--test-size", "30",
            "--model", "vgg_small", "--dtype", "float64", "--optimizer", "sgd", "--batch-size", "45", "--scheduler", "none"]


def launch(args, processes=1, env=None, timeout=120, cwd=ROOT, script=RUN_CLI):
    """``numcnn ARGS`` (or ``script``) on ``processes`` processes; the finished process."""
    command = [sys.executable, str(script), *args]
    if processes > 1:
        command = [MPIEXEC, "-n", str(processes), *command]
    environment = dict(os.environ, PYTHONPATH=str(ROOT), NUMCNN_TEST_NO_PLOTS="1", **(env or {}))
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=timeout)


def weights(run_dir):
    state, _, meta = load_checkpoint(Path(run_dir) / "checkpoint.npz")
    return state, meta


def assert_same_weights(a, b, atol=1e-12):
    (sa, _), (sb, _) = weights(a), weights(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_allclose(sb[key], sa[key], rtol=0, atol=atol, err_msg=key)


@pytest.mark.parametrize("processes", [2, 3])
def test_k_processes_end_with_the_weights_of_one(tmp_path, run, processes):
    args = ["train", *run, "--augment", "--epochs", "1"]
    one = launch([*args, "--out", str(tmp_path / "one")])
    many = launch([*args, "--out", str(tmp_path / "many")], processes)
    assert one.returncode == 0, one.stderr
    assert many.returncode == 0, many.stderr
    assert_same_weights(tmp_path / "one", tmp_path / "many")
    (_, meta_one), (_, meta_many) = weights(tmp_path / "one"), weights(tmp_path / "many")
    for row_one, row_many in zip(meta_one["history"], meta_many["history"]):
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
            assert row_many[key] == pytest.approx(row_one[key], rel=1e-12), key
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("one", "many")]
    assert metrics[0]["test_accuracy"] == metrics[1]["test_accuracy"]
    # one writer: the same files, and every line printed once, by rank 0
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == sorted(p.name for p in (tmp_path / "many").iterdir())
    assert many.stdout.count("epoch 1/1") == 1 and many.stdout.count("test accuracy") == 1
    assert len(many.stdout.splitlines()) == len(one.stdout.splitlines())


@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)])
def test_resume_with_another_process_count(tmp_path, run, first, then):
    straight = launch(["train", *run, "--epochs", "2", "--out", str(tmp_path / "straight"), "-q"])
    assert straight.returncode == 0, straight.stderr
    out = str(tmp_path / "resumed")
    started = launch(["train", *run, "--epochs", "1", "--out", out, "-q"], first)
    assert started.returncode == 0, started.stderr
    resumed = launch(["train", "--resume", out, "--epochs", "2", "-q"], then)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(tmp_path / "straight", out)
    assert weights(out)[1]["config"]["dtype"] == "float64"


def interrupt_after_a_checkpoint(tmp_path, run, signal_number, target):
    """Start a long 2-process run, send ``signal_number`` to ``target`` ('mpiexec' or 'rank1')
    once the first checkpoint is written, and return the finished job and the run folder."""
    out, pids = tmp_path / "run", tmp_path / "pids"
    pids.mkdir()
    command = [MPIEXEC, "-n", "2", sys.executable, str(RUN_CLI), "train", *run, "--epochs", "300", "--out", str(out), "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMCNN_TEST_NO_PLOTS="1", NUMCNN_TEST_PID_DIR=str(pids))
    job = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / "checkpoint.npz").is_file() or not (pids / "rank1.pid").is_file():
            assert job.poll() is None, job.communicate()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.05)
        os.kill(job.pid if target == "mpiexec" else int((pids / "rank1.pid").read_text()), signal_number)
        sent = time.monotonic()
        job.stdout_text, job.stderr_text = job.communicate(timeout=30)  # never hangs in a collective
        print(f"job ended {time.monotonic() - sent:.2f} s after signal {signal_number}, status {job.returncode}")
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()
    return job, out


def test_a_killed_rank_ends_the_job_and_the_checkpoint_resumes(tmp_path, run):
    job, out = interrupt_after_a_checkpoint(tmp_path, run, signal.SIGKILL, "rank1")
    assert job.returncode != 0
    epoch = weights(out)[1]["epoch"]  # a complete checkpoint, never half of one
    assert 1 <= epoch < 300
    resumed = launch(["train", "--resume", str(out), "--epochs", str(epoch + 1), "-q"])
    assert resumed.returncode == 0, resumed.stderr
    assert weights(out)[1]["epoch"] == epoch + 1


def test_ctrl_c_ends_every_rank_with_status_130(tmp_path, run):
    job, out = interrupt_after_a_checkpoint(tmp_path, run, signal.SIGINT, "mpiexec")
    assert job.returncode == 130
    assert weights(out)[1]["epoch"] >= 1


def test_an_exception_on_one_rank_is_printed_once_and_ends_the_job(tmp_path):
    job = launch(["train", "--epochs", "3", "--out", str(tmp_path / "run"), "-q"], 2,
                 env={"NUMCNN_TEST_FAIL": "1:3"}, timeout=60)
    assert job.returncode != 0
    assert job.stderr.count("rank 1 of 2 failed") == 1, job.stderr
    assert job.stderr.count("RuntimeError: injected failure at step 3") == 1, job.stderr


def test_a_user_error_on_every_rank_is_printed_once_with_status_2(tmp_path):
    job = launch(["train", "--resume", str(tmp_path / "missing")], 2, timeout=60)
    assert job.returncode == 2
    assert job.stderr.count("not a numcnn run folder") == 1, job.stderr


def test_a_user_error_seen_by_rank_0_alone_ends_every_rank_with_status_2(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    job = launch(["train", "--out", str(taken)], 2, timeout=60)
    assert job.returncode == 2
    assert job.stderr.count("already exists") == 1, job.stderr
    assert [p.name for p in taken.iterdir()] == ["keep.txt"]


def test_the_example_runs_under_mpiexec(tmp_path):
    example = ROOT / "examples" / "distributed_train.py"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    one = launch([], 1, cwd=tmp_path / "one", script=example)
    two = launch([], 2, cwd=tmp_path / "two", script=example)
    assert one.returncode == 0 and two.returncode == 0, one.stderr + two.stderr
    assert two.stdout.count("epoch 3:") == 1 and "on 2 process(es)" in two.stdout
    a = np.load(tmp_path / "one" / "distributed_example_weights.npz")
    b = np.load(tmp_path / "two" / "distributed_example_weights.npz")
    for key in a.files:  # float32: the order of the sums shows at about 1e-6
        np.testing.assert_allclose(b[key], a[key], rtol=1e-4, atol=1e-4, err_msg=key)


def test_a_user_error_on_every_rank_mid_training_is_printed_once_with_status_2(tmp_path):
    job = launch(["train", "--out", str(tmp_path / "run"), "--optimizer", "sgd", "--lr", "1e8", "-q"], 2, timeout=60)
    assert job.returncode == 2
    assert job.stderr.count("training diverged") == 1, job.stderr


def test_each_process_defaults_to_its_share_of_the_cpus(tmp_path):
    script = tmp_path / "threads.py"
    script.write_text(
        "import os\n"
        "import numcnn.distributed as dist\n"
        "from numcnn._threads import get_num_threads\n"
        "dist.init()\n"
        "row = (dist.rank(), dist.world_size(), dist.local_size(), get_num_threads(), len(os.sched_getaffinity(0)))\n"
        f"open(os.path.join({str(tmp_path)!r}, f'rank{{dist.rank()}}.txt'), 'w').write(' '.join(map(str, row)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NUMCNN_NUM_THREADS"}
    job = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script)], env=dict(env, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    assert job.returncode == 0, job.stderr
    rows = [tuple(int(v) for v in (tmp_path / f"rank{r}.txt").read_text().split()) for r in range(2)]
    assert [r[:3] for r in rows] == [(0, 2, 2), (1, 2, 2)]
    for *_, threads, cpus in rows:
        assert threads == max(1, cpus // 2)
