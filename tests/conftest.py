"""Suite-wide guard: tests write only to temporary directories."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _listing(folder: Path):
    return sorted(os.listdir(folder)) if folder.is_dir() else None


@pytest.fixture(autouse=True)
def _checkout_runs_untouched():
    """Fail a test that leaves anything in the checkout's ``runs/`` (the default run folder of
    ``numcnn train`` run from the repository root)."""
    runs = ROOT / "runs"
    before = _listing(runs)
    yield
    after = _listing(runs)
    assert after == before, f"the test wrote into {runs}: {sorted(set(after or ()) - set(before or ()))}"
