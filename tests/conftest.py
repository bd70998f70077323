"""Suite-wide guard: tests write only to temporary directories."""

from __future__ import annotations

import os
import sys
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


def _blas_threads():
    from numcnn import _threads

    controller = _threads._blas_controller()
    return controller, (None if controller is None else [lib.num_threads for lib in controller.lib_controllers])


@pytest.fixture(autouse=True)
def _thread_settings_restored():
    """Restore numcnn's thread count, BLAS's and PyTorch's after every test.

    Results depend on the thread count through the order of floating-point sums, so a test that
    leaves them changed (``numcnn bench --threads 1`` run in-process sets all three and keeps them)
    makes a later bit-exact comparison with a subprocess, which starts with the defaults, fail.
    """
    from numcnn import _threads

    saved = _threads._num_threads
    controller, blas = _blas_threads()
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    yield
    _threads._num_threads = saved
    if controller is not None and _blas_threads()[1] != blas:
        for lib, n in zip(controller.lib_controllers, blas):
            lib.set_num_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch_threads is not None and torch.get_num_threads() != torch_threads:
        torch.set_num_threads(torch_threads)


@pytest.fixture
def no_plots(request, monkeypatch):
    """Runs skip drawing ``curves.png`` and ``filters.png`` (most of a tiny run's time), and
    report them written as with matplotlib; a test marked ``draws_plots`` gets them drawn.

    The drawing itself is tested in tests/test_plots.py and by the tests marked so."""
    if request.node.get_closest_marker("draws_plots") is None:
        from numcnn import plots

        monkeypatch.setattr(plots, "plot_run", lambda run_dir, *args, **kwargs: ["curves.png", "filters.png"])


@pytest.fixture(scope="session")
def cli_data(tmp_path_factory):
    """A tiny data set for the CLI tests (tests/cli.py's ``data``)."""
    from tests.test_train import make_npz

    return make_npz(tmp_path_factory.mktemp("cli") / "tiny.npz", n=80)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, cli_data):
    """A run of ``numcnn train`` on ``cli_data``, shared by the CLI tests, which only read it."""
    from numcnn.cli import main

    run = tmp_path_factory.mktemp("runs") / "run"
    code = main(["train", "--dataset", "npz", "--data-dir", str(cli_data), "--model", "three_layer", "--epochs", "3",
                 "--lr", "0.01", "--out", str(run), "--quiet"])
    assert code == 0
    return run
