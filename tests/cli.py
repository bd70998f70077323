"""Shared by the CLI tests: ``python -m numcnn`` in a subprocess, the one-line user error
check, and fixtures: every test in a temporary working directory, a tiny data set and a run
trained on it (once per module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from numcnn.cli import main

from tests.test_train import make_npz


ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, timeout=120):
    """``python -m numcnn ARGS`` run in the current directory (a temporary one: see below)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "numcnn", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path_factory, monkeypatch):
    """Every command runs in a temporary directory, so a run folder written to the default
    ``runs/...`` by mistake lands there, never in the checkout."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def assert_user_error(code, err, *fragments):
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_npz(tmp_path_factory.mktemp("cli") / "tiny.npz", n=80)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data):
    run = tmp_path_factory.mktemp("runs") / "run"
    code = main(["train", "--dataset", "npz", "--data-dir", str(data), "--model", "three_layer", "--epochs", "3",
                 "--lr", "0.01", "--out", str(run), "--quiet"])
    assert code == 0
    return run
