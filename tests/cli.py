"""Shared by the CLI tests: ``python -m numcnn`` in a subprocess, the one-line user error
check, and fixtures: every test in a temporary working directory, a tiny data set and a run
trained on it (tests/conftest.py: once per session, the tests only read it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.fixture
def data(cli_data):
    """The tiny data set the session's ``trained`` run learnt (tests/conftest.py)."""
    return cli_data
