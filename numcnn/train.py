"""The training loop: epochs of shuffled mini-batches, validation each epoch, a tqdm progress bar,
best-on-validation checkpointing, early stopping, and resume -- bit for bit.

Everything random comes from two generators seeded by ``seed``: ``numcnn.nn.init``'s (weight
initialisation, then Dropout masks) and the data generator (the order of the mini-batches).
After every epoch their states, the weights, the optimizer and scheduler state, the history and
the early-stopping counters are saved in ONE atomically written ``checkpoint.npz``, so a run
killed at any moment loses at most the epoch in progress, and ``resume(run_dir)`` continues
exactly as if it had never stopped (same weights, bit for bit).

A run folder holds::

    run.json        the configuration (written first; marks the folder as a numcnn run)
    checkpoint.npz  the state after the last complete epoch (what --resume continues from)
    best.npz        the weights of the epoch with the best validation accuracy
    history.json    per-epoch metrics (also history.csv)
    metrics.json    final numbers: test_accuracy, best_val_accuracy, epochs, seconds, ...
    curves.png      loss and accuracy per epoch      (when matplotlib is importable)
    filters.png     the first layer's filters         (when matplotlib is importable)
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from . import distributed as dist
from . import optim as optim_mod
from .checkpoint import atomic_write_json, load_checkpoint, save_checkpoint
from .data import DataSet, Normalizer, Splits, load_dataset
from .data.augment import EpochAugmentation, check_augment_options, default_crop_padding
from .errors import UserError
from .functional import softmax
from .models import MODELS, build_model, check_label_kind, model_spec
from .nn import init
from .run_folder import BEST, CHECKPOINT, RUN_FILE, check_out, load_run_model, prepare_out, remove_unfinished, write_history
from .train_step import evaluation_sums, logits_of, train_step

__all__ = ["TrainConfig", "train", "resume", "evaluate", "predict_proba", "load_run_model", "OPTIMIZERS", "SCHEDULERS"]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
SCHEDULERS = ("none", "step", "cosine", "plateau")
DEFAULT_LR = {"sgd": 0.05, "adam": 2e-3, "adamw": 2e-3, "rmsprop": 1e-3}
DTYPES = ("float32", "float64")



@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in ``run.json`` and every checkpoint).

    ``lr=None`` takes the optimizer's default (``DEFAULT_LR``).  ``patience=0`` disables early
    stopping.  ``val_size``/``test_size`` are fractions (< 1) or counts of held-out images.
    ``augment`` turns on random crops (``crop_padding``; None: ``default_crop_padding``) and
    horizontal flips (``flip``) of the training batches (see ``numcnn.data.augment``).
    ``dtype`` is the model's and the data's floating type.
    """

    dataset: str = "digits"
    data_dir: str | None = None
    model: str = "lenet5"
    epochs: int = 30
    batch_size: int = 32
    lr: float | None = None
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    patience: int = 0
    label_smoothing: float = 0.1
    seed: int = 0
    val_size: float | int = 0.1
    test_size: float | int = 0.2
    model_options: dict = dataclasses.field(default_factory=dict)
    augment: bool = False
    crop_padding: int | None = None
    flip: bool = True
    dtype: str = "float32"

    def validate(self) -> "TrainConfig":
        if self.model not in MODELS:
            raise UserError(f"unknown model {self.model!r}; choose from {', '.join(MODELS)}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            raise UserError(f"unknown scheduler {self.scheduler!r}; choose from {', '.join(SCHEDULERS)}")
        for name in ("epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise UserError(f"--lr must be a positive number, got {self.lr}")
        if self.patience < 0:
            raise UserError(f"--patience must be >= 0 (0 disables early stopping), got {self.patience}")
        if not 0 <= self.label_smoothing < 1:
            raise UserError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        check_augment_options(self.augment, self.crop_padding, self.flip)
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; choose from {', '.join(DTYPES)}")
        return self

    @property
    def learning_rate(self) -> float:
        return float(self.lr if self.lr is not None else DEFAULT_LR[self.optimizer])


# --- building blocks --------------------------------------------------------------------------
def make_optimizer(config: TrainConfig, params):
    lr, wd = config.learning_rate, config.weight_decay
    if config.optimizer == "sgd":
        return optim_mod.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adam":
        return optim_mod.Adam(params, lr=lr, weight_decay=wd)
    if config.optimizer == "adamw":
        return optim_mod.AdamW(params, lr=lr, weight_decay=wd)
    return optim_mod.RMSprop(params, lr=lr, weight_decay=wd)


def make_scheduler(config: TrainConfig, optimizer):
    if config.scheduler == "step":
        return optim_mod.lr_scheduler.StepLR(optimizer, step_size=max(1, config.epochs // 3), gamma=0.1)
    if config.scheduler == "cosine":
        return optim_mod.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.scheduler == "plateau":
        return optim_mod.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.1, patience=2)
    return None


def current_lr(optimizer) -> float:
    return float(optimizer.param_groups[0]["lr"])


def load_splits(config: TrainConfig, normalizer: Normalizer | None = None) -> Splits:
    return load_dataset(
        config.dataset, config.data_dir, val_size=config.val_size, test_size=config.test_size, normalizer=normalizer
    )


def evaluate(model, data: DataSet, batch_size: int = 500, label_smoothing: float = 0.0) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` (in eval mode) on ``data``; (nan, nan) when empty.
    For per-pixel labels ``(N, H, W)`` the accuracy is the fraction of pixels classified right."""
    if len(data) == 0:
        return float("nan"), float("nan")
    was_training = model.training
    model.eval()
    try:  # under mpiexec each rank evaluates a part and all get the totals
        total_loss, correct = evaluation_sums(model, data, batch_size, label_smoothing)
    finally:
        model.train(was_training)
    return total_loss / len(data), correct / data.y.size


def predict_proba(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Class probabilities ``(N, num_classes)`` (per pixel: ``(N, num_classes, H, W)``) float64
    for normalised images ``x``."""
    model.eval()
    out = [softmax(logits_of(model, x[i : i + batch_size]).astype(np.float64), axis=1) for i in range(0, len(x), batch_size)]
    return np.concatenate(out)


def check_labels(data: Splits | DataSet, num_classes: int, where: str) -> None:
    sets = [data.train, data.val, data.test] if isinstance(data, Splits) else [data]
    for ds in sets:
        if len(ds) and (ds.y.min() < 0 or ds.y.max() >= num_classes):
            raise UserError(
                f"{where}: labels out of range: found {int(ds.y.min())}..{int(ds.y.max())} but the model has "
                f"{num_classes} classes (0..{num_classes - 1})"
            )


class _Printer:
    def __init__(self, quiet: bool, stream=None):
        self.quiet = quiet
        self.stream = stream or sys.stdout

    def __call__(self, message: str) -> None:
        if not self.quiet:
            from tqdm import tqdm

            tqdm.write(message, file=self.stream)
            self.stream.flush()


def _progress(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    disable = quiet or not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    return tqdm(total=total, desc=desc, leave=False, disable=disable, unit="batch", dynamic_ncols=True)


# --- the loop ---------------------------------------------------------------------------------
def _checked_data_and_model(config: TrainConfig) -> tuple[Splits, dict]:
    """The data splits and the model spec of a new run, with every check on them done."""
    splits = load_splits(config)
    spec = model_spec(config.model, splits.input_shape, splits.num_classes, **config.model_options)
    build_model(spec)  # the architecture's own checks (e.g. an input too small for it)
    check_labels(splits, spec["num_classes"], config.dataset)
    return splits, spec


def train(config: TrainConfig, out, *, overwrite: bool = False, quiet: bool = False, stop_after: int | None = None) -> dict:
    """Train a zoo model on a data set into a new run folder ``out``; return the final metrics.

    Parameters
    ----------
    config : TrainConfig
    out : path-like
        The run folder.  An existing non-empty folder is an error unless ``overwrite`` (and it is
        a numcnn run folder, which is then deleted first).
    quiet : bool
        No progress bar and no per-epoch lines.
    stop_after : int, optional
        Stop (as if interrupted) after this many epochs of this session; ``resume`` continues.
    """
    config = dataclasses.replace(config).validate()
    out = Path(out)
    # Everything that can be wrong with the request is found before the folder exists: a failed
    # check must not leave a folder that blocks the retry with the same --out.  One writer: rank 0;
    # the others learn of its errors at the agreement in _run.
    if dist.is_main():
        check_out(out, overwrite)
    splits, spec = _checked_data_and_model(config)
    created = prepare_out(out, overwrite) if dist.is_main() else None
    try:
        if dist.is_main():
            atomic_write_json(out / RUN_FILE, {"numcnn": __version__, "config": dataclasses.asdict(config)})
        return _run(out, config, None, quiet=quiet, stop_after=stop_after, splits=splits, spec=spec)
    except BaseException:  # divergence, a bug, Ctrl-C: a folder without a complete epoch goes
        if dist.is_main():
            remove_unfinished(out, created)
        raise


def resume(run_dir, *, epochs: int | None = None, data_dir=None, quiet: bool = False, stop_after: int | None = None) -> dict:
    """Continue the run in ``run_dir`` from its last complete epoch (to ``epochs`` in total when
    given, else to the configured number).  A run that already finished is only re-evaluated."""
    run_dir = Path(run_dir)
    if not (run_dir / RUN_FILE).is_file():
        raise UserError(f"--resume {run_dir}: not a numcnn run folder (no {RUN_FILE})")
    try:
        saved = json.loads((run_dir / RUN_FILE).read_text())["config"]
        config = TrainConfig(**saved)
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"--resume {run_dir}: unreadable {RUN_FILE} ({exc})") from exc
    for stale in run_dir.glob(".*.tmp") if dist.is_main() else ():  # left by a process killed mid-write
        stale.unlink()
    checkpoint = None
    if (run_dir / CHECKPOINT).is_file():
        checkpoint = load_checkpoint(run_dir / CHECKPOINT)
        config = TrainConfig(**checkpoint[2]["config"])
    if epochs is not None:
        done = checkpoint[2]["epoch"] if checkpoint else 0
        if int(epochs) < done:
            raise UserError(
                f"{run_dir} has already trained {done} epochs; --epochs {epochs} must be at least {done} "
                "(or omit it to finish the run)"
            )
        config.epochs = int(epochs)
    if data_dir is not None:
        config.data_dir = str(data_dir)
    config.validate()
    if checkpoint is not None:
        return _run(run_dir, config, checkpoint, quiet=quiet, stop_after=stop_after)
    splits, spec = _checked_data_and_model(config)  # a bad --data-dir keeps the folder
    try:
        return _run(run_dir, config, None, quiet=quiet, stop_after=stop_after, splits=splits, spec=spec)
    except BaseException:  # still no complete epoch: as for a failed fresh run, the folder goes
        if dist.is_main():
            remove_unfinished(run_dir, created=run_dir)
        raise


def _replan_cosine(optimizer, start_lr: float, remaining: int):
    """A cosine schedule for the ``remaining`` epochs of a run whose total was changed on resume.

    It starts from ``start_lr``, the lr of the last completed epoch, as position 0 of a cosine of
    ``remaining + 1`` steps and is stepped once here, so the next epoch trains at position 1 and
    the last at position ``remaining``: never rising, and never 0 (0 would be the step after the
    last epoch, as in a planned run).  Its state is saved like any scheduler's, so a later resume
    continues it bit for bit.
    """
    for group in optimizer.param_groups:
        group["lr"] = group["initial_lr"] = float(start_lr)
    scheduler = optim_mod.lr_scheduler.CosineAnnealingLR(optimizer, T_max=remaining + 1)
    scheduler.step()
    return scheduler


def _run(
    run_dir: Path, config: TrainConfig, checkpoint, *, quiet: bool, stop_after: int | None,
    splits: Splits | None = None, spec: dict | None = None,
) -> dict:
    quiet = quiet or not dist.is_main()
    say = _Printer(quiet)
    meta = checkpoint[2] if checkpoint else {}
    if splits is None:
        normalizer = Normalizer.from_dict(meta["normalizer"]) if checkpoint else None
        splits = load_splits(config, normalizer)
    splits = _as_dtype(splits, config.dtype)
    for note in splits.notes:
        say(f"note: {note}")
    spec = spec or meta.get("spec") or model_spec(config.model, splits.input_shape, splits.num_classes, **config.model_options)
    if tuple(spec["input_shape"]) != splits.input_shape:
        raise UserError(f"the data's images are {splits.input_shape} but the run's model takes {tuple(spec['input_shape'])}")
    check_labels(splits, spec["num_classes"], config.dataset)
    check_label_kind(spec["name"], splits.train.y, config.dataset)

    init.manual_seed(config.seed)
    model = build_model(spec).to(config.dtype)
    optimizer = make_optimizer(config, list(model.parameters()))
    scheduler = make_scheduler(config, optimizer)
    data_rng = np.random.default_rng([config.seed, 0xDA7A])

    history: list[dict] = []
    epoch, best_acc, best_epoch, bad_epochs, seconds, stopped = 0, -1.0, 0, 0, 0.0, False
    if checkpoint:
        model_state, state, meta = checkpoint
        model.load_state_dict(model_state)
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        data_rng.bit_generator.state = state["data_rng"]
        init.get_rng().bit_generator.state = state["init_rng"]
        history = meta["history"]
        epoch, best_acc, best_epoch = meta["epoch"], meta["best_val_accuracy"], meta["best_epoch"]
        bad_epochs, seconds, stopped = meta["bad_epochs"], meta["seconds"], meta["stopped_early"]
        planned = meta["config"]["epochs"]
        if epoch >= config.epochs:
            say(f"nothing to train: {run_dir} has already trained {epoch} epochs; evaluating its best weights")
        else:
            replanned = ""
            if config.scheduler == "cosine" and config.epochs != planned and history and not stopped:
                scheduler = _replan_cosine(optimizer, history[-1]["lr"], config.epochs - epoch)
                replanned = (
                    f" (was {planned}): the cosine schedule is re-planned from lr {history[-1]['lr']:.3g} "
                    f"down over the remaining {config.epochs - epoch} epochs"
                )
            say(f"resuming {run_dir} after epoch {epoch} of {config.epochs}{replanned}")
    else:
        say(f"{splits.describe()}")
        n_params = sum(p.data.size for p in model.parameters())
        say(
            f"model {config.model} ({n_params:,} parameters), {config.optimizer} lr {config.learning_rate:g}, "
            f"{config.scheduler} schedule, batch {config.batch_size}, {config.epochs} epochs, seed {config.seed} -> {run_dir}"
        )
        if config.augment:
            say(f"augmentation of the training batches: {_epoch_augmentation(config, splits, 1).describe()}")
    dist.agree()  # every rank is set up (else all raise the first failure), so training may begin
    dist.broadcast_parameters(model)

    base_meta = {
        "config": dataclasses.asdict(config),
        "spec": spec,
        "normalizer": splits.normalizer.to_dict(),
        "classes": list(splits.classes),
        "dataset": splits.describe(),
        "input_range": list(splits.raw_range),  # raw pixel values seen in training (predict warns outside)
    }
    has_val = len(splits.val) > 0
    session_epochs = 0
    while epoch < config.epochs and not stopped and (stop_after is None or session_epochs < stop_after):
        epoch += 1
        t0 = time.perf_counter()
        augmentation = _epoch_augmentation(config, splits, epoch)
        train_loss, train_acc = _train_epoch(model, optimizer, splits.train, data_rng, config, epoch, quiet, augmentation)
        val_loss, val_acc = evaluate(model, splits.val, label_smoothing=config.label_smoothing)
        lr = current_lr(optimizer)
        if scheduler is not None:
            if config.scheduler == "plateau":
                scheduler.step(val_loss if has_val else train_loss)
            else:
                scheduler.step()
        improved = (val_acc if has_val else train_acc) > best_acc
        if improved:
            best_acc, best_epoch, bad_epochs = (val_acc if has_val else train_acc), epoch, 0
        else:
            bad_epochs += 1
        stopped = bool(config.patience and bad_epochs >= config.patience and epoch < config.epochs)
        epoch_seconds = time.perf_counter() - t0
        seconds += epoch_seconds
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss if has_val else None,
            "val_accuracy": val_acc if has_val else None,
            "lr": lr,
            "seconds": epoch_seconds,
        }
        history.append(row)
        meta = dict(
            base_meta,
            epoch=epoch,
            history=history,
            best_val_accuracy=best_acc,
            best_epoch=best_epoch,
            bad_epochs=bad_epochs,
            seconds=seconds,
            stopped_early=stopped,
        )
        model_state = model.state_dict()
        # best.npz first, checkpoint.npz last: the checkpoint is the commit point of an epoch.
        if improved and dist.is_main():
            save_checkpoint(run_dir / BEST, model_state, None, meta)
        state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "data_rng": data_rng.bit_generator.state,
            "init_rng": init.get_rng().bit_generator.state,
        }
        if dist.is_main():
            write_history(run_dir, history)
            save_checkpoint(run_dir / CHECKPOINT, model_state, state, meta)
        session_epochs += 1
        val_text = f"val loss {val_loss:.4f} acc {val_acc:.2%}" if has_val else "no validation set"
        say(
            f"epoch {epoch}/{config.epochs}  train loss {train_loss:.4f} acc {train_acc:.2%}  {val_text}  "
            f"lr {lr:.3g}  {epoch_seconds:.1f}s{'  *best' if improved else ''}"
        )
        if stopped:
            say(f"early stopping: no improvement in validation accuracy for {config.patience} epochs")

    if epoch < config.epochs and not stopped:
        say(f"stopped after epoch {epoch}; continue with: numcnn train --resume {run_dir}")
        return {"epochs": epoch, "finished": False}
    return _finish(run_dir, config, splits, model, meta if epoch else None, say)


def _as_dtype(splits: Splits, dtype: str) -> Splits:
    """``splits`` with images of ``dtype`` (the data sets load as float32)."""
    if np.dtype(dtype) == np.float32:
        return splits
    cast = lambda ds: DataSet(ds.x.astype(dtype), ds.y)  # noqa: E731
    return dataclasses.replace(splits, train=cast(splits.train), val=cast(splits.val), test=cast(splits.test))


def _epoch_augmentation(config: TrainConfig, splits: Splits, epoch: int) -> EpochAugmentation | None:
    """This epoch's crops and flips (None without ``--augment``): a function of the seed and the
    epoch only, so resume needs no state for them.  Crops pad with a black raw pixel as
    normalised, as torchvision's RandomCrop before Normalize does."""
    if not config.augment:
        return None
    c, h, w = splits.input_shape
    padding = default_crop_padding(h, w) if config.crop_padding is None else config.crop_padding
    black = splits.normalizer(np.zeros((1, c, 1, 1), dtype=np.float32)).ravel()
    return EpochAugmentation.draw(config.seed, epoch, len(splits.train), splits.input_shape, padding=padding, flip=config.flip, fill=black)


def _train_epoch(model, optimizer, data: DataSet, rng, config: TrainConfig, epoch: int, quiet: bool, augmentation=None):
    model.train()
    total_loss, correct, seen, seen_labels = 0.0, 0, 0, 0
    bar = _progress(data.num_batches(config.batch_size), f"epoch {epoch}/{config.epochs}", quiet)
    # A diverging run overflows before its loss turns non-finite; that is reported as a
    # UserError below, so NumPy's overflow warnings would only be noise.
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            for i, (xb, yb) in enumerate(data.batches(config.batch_size, rng)):
                # every rank: its shard of the global batch; seen: the batch's position in the epoch
                loss, batch_correct = train_step(model, optimizer, xb, yb, label_smoothing=config.label_smoothing,
                                                 augmentation=augmentation, seen=seen)
                if not math.isfinite(loss):
                    raise UserError(
                        f"training diverged: the loss became {loss} at epoch {epoch}, batch {i + 1}; "
                        + _divergence_advice(epoch, current_lr(optimizer))
                    )
                total_loss += loss * len(yb)
                correct += batch_correct
                seen += len(yb)
                seen_labels += yb.size  # pixels, for per-pixel labels
                bar.update(1)
                if i % 10 == 0:
                    bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen_labels:.2%}", refresh=False)
    finally:
        bar.close()
    return total_loss / seen, correct / seen_labels


def _divergence_advice(epoch: int, lr: float) -> str:
    # With no complete epoch the run folder is removed, so the same command with a lower --lr
    # works; after one, the folder stays and --resume keeps the saved lr, so a new run is needed.
    if epoch == 1:
        return f"run it again with a lower --lr (now {lr:g})"
    return (
        f"--resume keeps the saved lr, so start a new run with a lower --lr (now {lr:g}) "
        "and another --out (or --force to replace this run)"
    )


def _finish(run_dir: Path, config: TrainConfig, splits: Splits, model, meta, say) -> dict:
    if meta is None:
        raise UserError(f"{run_dir}: no epoch completed")
    best_path = run_dir / BEST
    if dist.is_main() and best_path.is_file():  # rank 0 wrote it; the others get its weights below
        best_state, _, _ = load_checkpoint(best_path)
        model.load_state_dict(best_state)
    dist.broadcast_parameters(model)
    # test_loss is the plain cross-entropy, as `numcnn evaluate` prints it; the losses of the
    # history are the training objective (with --label-smoothing), named so in its plots.
    has_test = len(splits.test) > 0
    test_loss, test_acc = evaluate(model, splits.test) if has_test else (None, None)
    metrics = {
        "test_accuracy": test_acc,
        "test_loss": test_loss,
        "label_smoothing": config.label_smoothing,
        "best_val_accuracy": meta["best_val_accuracy"] if len(splits.val) else None,
        "best_epoch": meta["best_epoch"],
        "epochs": meta["epoch"],
        "stopped_early": meta["stopped_early"],
        "seconds": meta["seconds"],
        "dataset": config.dataset,
        "data": splits.describe(),
        "model": config.model,
        "parameters": int(sum(p.data.size for p in model.parameters())),
        "seed": config.seed,
        "numcnn": __version__,
    }
    if not dist.is_main():
        return metrics
    atomic_write_json(run_dir / "metrics.json", metrics)
    from . import plots

    sample = splits.test.x[:1] if has_test else splits.train.x[:1]
    written = plots.plot_run(run_dir, meta["history"], model, sample, config.label_smoothing)
    best = f"val {meta['best_val_accuracy']:.2%}" if len(splits.val) else "by training accuracy: no validation set"
    result = f"test accuracy {test_acc:.2%}" if has_test else "no test set (--test-size 0): no test accuracy"
    say(
        f"{result} (best epoch {meta['best_epoch']}, {best}); "
        f"{meta['seconds']:.1f}s training; wrote {run_dir}/metrics.json"
        + (f", {', '.join(written)}" if written else " (install matplotlib for curves.png and filters.png)")
    )
    return metrics
