"""``numcnn train``: train a zoo model on a data set into a run folder (or resume one)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
import time
from pathlib import Path

from .. import distributed as dist
from ..data import DATASETS
from ..errors import UserError
from ..models import MODELS
from ..train import DEFAULT_LR, DTYPES, OPTIMIZERS, SCHEDULERS, TrainConfig, resume, train

_DEFAULTS = TrainConfig()

# Options that define a run; with --resume they come from the run folder instead.
_RUN_OPTIONS = (
    "dataset", "model", "batch_size", "lr", "optimizer", "momentum", "weight_decay", "scheduler",
    "patience", "label_smoothing", "seed", "val_size", "test_size", "augment", "crop_padding", "flip", "dtype",
)


def _size(text: str):
    """A held-out size: a fraction in (0, 1) of the images, or a whole count of images (0: none)."""
    try:
        return int(text)  # a count: "500", "0"
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction like 0.1 or a count like 500, got {text!r}") from None
    if value == 0:
        return 0
    if not 0 < value < 1:  # "2.0" is far more likely a slip for 0.2 than a request for 2 images
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1) or a whole count like 500, got {text!r}")
    return value


def _pixels(text: str) -> int:
    """A padding in pixels: a whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels >= 0, got {text!r}")
    return value


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a CNN (default: LeNet-5 on the built-in 8x8 digits)",
        description=textwrap.fill(
            "Train a model of the zoo on a data set, with a progress bar, validation after every "
            "epoch, best-on-validation checkpointing and a final test accuracy. With no arguments: "
            "LeNet-5 on the built-in 8x8 handwritten digits (1,797 images; about 99% test "
            "accuracy in seconds). Everything lands in a run folder: run.json, "
            "checkpoint.npz (last complete epoch), best.npz, history.json/.csv, metrics.json, and "
            "curves.png + filters.png when matplotlib is installed. A killed run loses at most the "
            "epoch in progress: continue it with --resume RUN_DIR.",
            width=88,
        ),
        epilog=(
            "examples:\n"
            "  numcnn train\n"
            "  numcnn train --dataset mnist --data-dir ~/data/mnist --epochs 5\n"
            "  numcnn train --dataset cifar10 --data-dir cifar-10-batches-py --model vgg_small --epochs 30\n"
            "  numcnn train --dataset cifar10 --data-dir cifar-10-batches-py --model vgg_small --augment\n"
            "  numcnn train --model resnet20 --epochs 5\n"
            "  numcnn train --dataset digits_seg --model unet_small --epochs 5\n"
            "  numcnn train --resume runs/digits-lenet5-20250101-120000 --epochs 40\n"
            "  mpiexec -n 2 numcnn train --model resnet20     (data-parallel: --batch-size is the global batch)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = p.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default=None, help=f"data set (default: {_DEFAULTS.dataset}, built in; digits_seg: the same digits "
                      "labelled per pixel, digit+1 on ink and 0 on background, for unet_small)")
    data.add_argument(
        "--data-dir", metavar="DIR", default=None,
        help="folder with the data files: MNIST/Fashion-MNIST IDX files (train-*/t10k-*, .gz or not; "
        "t10k alone is split three ways), CIFAR-10's python batches, or an .npz with x and y (for npz, "
        "the file itself)",
    )
    data.add_argument("--val-size", type=_size, default=None, metavar="F|N",
                      help="validation images held out of the training data: a fraction in (0, 1) or a whole "
                      f"count of images, 0 for none (default: {_DEFAULTS.val_size})")
    data.add_argument("--test-size", type=_size, default=None, metavar="F|N",
                      help="test images held out when the data has no test split: a fraction in (0, 1) or a "
                      f"whole count, 0 for none (no test accuracy) (default: {_DEFAULTS.test_size})")
    augment = p.add_argument_group(
        "augmentation (training batches only; drawn from --seed and the epoch, so runs and resumes repeat exactly)"
    )
    augment.add_argument(
        "--augment", action="store_const", const=True, default=None,
        help="random crop with padding, then random horizontal flip (p=0.5), of every training image, as "
        "torchvision's RandomCrop(size, padding=P) and RandomHorizontalFlip() before Normalize; "
        "validation and test images are never augmented",
    )
    augment.add_argument(
        "--crop-padding", type=_pixels, default=None, metavar="P",
        help="with --augment: pixels of black padding on each side before the crop, 0 = no crop "
        "(default: 1/8 of the image side, at least 1: 4 for CIFAR-10, 3 for MNIST, 1 for the 8x8 digits)",
    )
    augment.add_argument(
        "--no-flip", dest="flip", action="store_const", const=False, default=None,
        help="with --augment: no horizontal flips (a mirrored digit or letter can mean something else)",
    )
    model = p.add_argument_group("model and optimisation")
    model.add_argument("--model", choices=list(MODELS), default=None, help=f"architecture (default: {_DEFAULTS.model})")
    model.add_argument("--epochs", type=int, default=None, metavar="N", help=f"number of epochs in total (default: {_DEFAULTS.epochs})")
    model.add_argument("--batch-size", type=int, default=None, metavar="B", help=f"mini-batch size (default: {_DEFAULTS.batch_size})")
    model.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help=f"optimizer (default: {_DEFAULTS.optimizer})")
    model.add_argument(
        "--lr", type=float, default=None, metavar="LR",
        help="initial learning rate (default: " + ", ".join(f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")",
    )
    model.add_argument("--momentum", type=float, default=None, metavar="M", help=f"SGD momentum (default: {_DEFAULTS.momentum})")
    model.add_argument("--weight-decay", type=float, default=None, metavar="WD",
                       help=f"L2 penalty; decoupled for adamw (default: {_DEFAULTS.weight_decay})")
    model.add_argument("--scheduler", choices=SCHEDULERS, default=None,
                       help=f"learning-rate schedule, stepped once per epoch (default: {_DEFAULTS.scheduler})")
    model.add_argument("--label-smoothing", type=float, default=None, metavar="E",
                       help=f"cross-entropy label smoothing (default: {_DEFAULTS.label_smoothing})")
    model.add_argument("--patience", type=int, default=None, metavar="N",
                       help="stop after N epochs without a better validation accuracy (default: 0 = never)")
    model.add_argument("--dtype", choices=DTYPES, default=None,
                       help=f"floating type of the weights and the data (default: {_DEFAULTS.dtype}; float64 makes "
                       "runs on any number of processes agree to about 1e-12)")
    model.add_argument("--seed", type=int, default=None, help=f"seed of the weights, dropout and batch order (default: {_DEFAULTS.seed})")
    run = p.add_argument_group("run folder")
    run.add_argument("--out", metavar="RUN_DIR", default=None,
                     help="run folder to create (default: runs/<dataset>-<model>-<timestamp>); must not exist")
    run.add_argument("--resume", metavar="RUN_DIR", default=None,
                     help="continue RUN_DIR from its last complete epoch with its saved settings "
                     "(only --epochs, --data-dir and --quiet may be given with it). --epochs N changes "
                     "the total: a cosine schedule is then re-planned from the lr of the last "
                     "completed epoch down to 0 over the remaining epochs (never rising, never 0 "
                     "before the end); without --epochs, or with the same total, resume is bit for "
                     "bit the uninterrupted run. N below the epochs done is refused; N equal to "
                     "them only re-evaluates")
    run.add_argument("--force", "--overwrite", action="store_true", help="replace an existing run folder given by --out")
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no per-epoch lines")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    if args.resume:
        given = [f"--{name.replace('_', '-')}" for name in _RUN_OPTIONS if getattr(args, name) is not None]
        if args.out or args.force:
            given += ["--out/--force"]
        if given:
            raise UserError(
                f"--resume continues a run with its saved settings; remove {', '.join(given)} "
                "(only --epochs, --data-dir and --quiet may be given)"
            )
        out = Path(args.resume)
        job = lambda: resume(out, epochs=args.epochs, data_dir=args.data_dir, quiet=args.quiet)  # noqa: E731
    else:
        values = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig) if getattr(args, f.name, None) is not None}
        config = TrainConfig(**values)
        # rank 0's name: a time-stamped default differs between processes started a second apart
        out = dist.broadcast_object(Path(args.out) if args.out else _default_out(config))
        job = lambda: train(config, out, overwrite=args.force, quiet=args.quiet)  # noqa: E731
    try:
        metrics = job()
    except KeyboardInterrupt:
        if dist.is_main():
            if (out / "run.json").is_file():
                print(f"numcnn train: interrupted; continue with: numcnn train --resume {out}", file=sys.stderr)
            else:  # no epoch had completed: the run folder was removed
                print(f"numcnn train: interrupted before the first epoch completed; {out} was not kept", file=sys.stderr)
        dist.abort(130)  # several processes: the others may be waiting in a collective
        return 130
    if args.quiet and metrics.get("finished", True) and dist.is_main():
        acc = metrics["test_accuracy"]
        print(f"test accuracy {acc:.2%}  ->  {out}" if acc is not None else f"no test set, no test accuracy  ->  {out}")
    return 0


def _default_out(config: TrainConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{config.dataset}-{config.model}-{stamp}"
    out, n = base, 1
    while out.exists():  # never reuse a folder: two runs in the same second get -2, -3, ...
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out
