"""The run folder on disk: checking and preparing ``--out``, removing a run that completed no
epoch, the history files, and loading a run's model back."""

from __future__ import annotations

import shutil
from pathlib import Path

from .checkpoint import atomic_write_json, atomic_write_text, load_checkpoint
from .errors import UserError
from .models import build_model

__all__ = ["RUN_FILE", "CHECKPOINT", "BEST", "check_out", "prepare_out", "remove_unfinished", "write_history",
           "load_run_model"]

RUN_FILE = "run.json"
CHECKPOINT = "checkpoint.npz"
BEST = "best.npz"


def check_out(out: Path, overwrite: bool) -> None:
    """Refuse an ``--out`` that cannot become the run folder (nothing is created or deleted)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(
                f"run folder {out} already exists; continue it with --resume {out}, or replace it with --force"
            )
        if not (out / RUN_FILE).is_file():
            raise UserError(f"--force: {out} is not a numcnn run folder (no {RUN_FILE}); refusing to delete it")


def prepare_out(out: Path, overwrite: bool) -> Path | None:
    """Make ``out`` an empty run folder (deleting an old run with ``overwrite``); return the
    outermost folder created here (``out`` or a new parent such as ``runs/``), or None."""
    check_out(out, overwrite)
    if out.is_dir() and any(out.iterdir()):
        shutil.rmtree(out)
    created = None
    for folder in (out, *out.parents):
        if folder.exists():
            break
        created = folder
    out.mkdir(parents=True, exist_ok=True)
    return created


def remove_unfinished(out: Path, created: Path | None) -> None:
    """Remove a run folder in which no epoch completed, so a retry can use the same ``--out``.
    Everything in it was written by this run (the folder was new, or empty before); parents
    created with it (up to ``created``) are removed too when empty."""
    if (out / CHECKPOINT).is_file():
        return  # at least one complete epoch: the folder stays, resumable
    if created is not None:
        shutil.rmtree(out, ignore_errors=True)
        for parent in out.parents:  # new parents, each only if empty: another run may use it now
            if parent == created.parent:
                break
            try:
                parent.rmdir()
            except OSError:
                break
        return
    for child in out.iterdir():
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def write_history(run_dir: Path, history: list[dict]) -> None:
    atomic_write_json(run_dir / "history.json", history)
    if history:
        keys = list(history[0])
        lines = [",".join(keys)] + [",".join(repr(row[k]) if isinstance(row[k], float) else str(row[k]) for k in keys) for row in history]
        atomic_write_text(run_dir / "history.csv", "\n".join(lines) + "\n")


def load_run_model(run_dir, which: str = "best"):
    """The model of a run folder (``best.npz``, else ``checkpoint.npz``) and its metadata."""
    run_dir = Path(run_dir)
    path = run_dir / BEST if which == "best" and (run_dir / BEST).is_file() else run_dir / CHECKPOINT
    if run_dir.is_file() and run_dir.suffix == ".npz":
        path = run_dir
    elif not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run folder")
    elif not path.is_file():
        raise UserError(f"{run_dir}: no checkpoint in this folder (expected {BEST} or {CHECKPOINT}); did training complete an epoch?")
    model_state, _, meta = load_checkpoint(path)
    model = build_model(meta["spec"])
    model.load_state_dict(model_state)
    model.eval()
    return model, meta
