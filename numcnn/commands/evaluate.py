"""``numcnn evaluate``: accuracy, loss and confusion matrix of a trained run on a data split."""

from __future__ import annotations

import numpy as np

from ..data import DATASETS, DataSet, Normalizer, load_dataset
from ..errors import UserError
from ..models import check_label_kind
from ..train import TrainConfig, check_labels, evaluate, load_run_model, predict_proba


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="accuracy of a trained run on its test split (or another data set)",
        description=(
            "Evaluate the best checkpoint of RUN_DIR (best.npz; --checkpoint last for the last epoch) "
            "on the test split of the data set it was trained on, or on another data set of the same "
            "image shape. Inputs are normalised as in training. Prints loss, accuracy, per-class "
            "accuracy and the confusion matrix."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by numcnn train (or a checkpoint .npz)")
    p.add_argument("--dataset", choices=DATASETS, default=None, help="data set (default: the run's)")
    p.add_argument("--data-dir", metavar="DIR", default=None, help="where its files are (default: the run's)")
    p.add_argument("--split", choices=("test", "val", "train", "all"), default="test", help="which split (default: test)")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default: best)")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    model, meta = load_run_model(args.run_dir, args.checkpoint)
    config = TrainConfig(**meta["config"])
    name = args.dataset or config.dataset
    data_dir = args.data_dir if (args.data_dir or args.dataset) else config.data_dir
    splits = load_dataset(
        name, data_dir, val_size=config.val_size, test_size=config.test_size,
        normalizer=Normalizer.from_dict(meta["normalizer"]),
    )
    spec = meta["spec"]
    if splits.input_shape != tuple(spec["input_shape"]):
        raise UserError(f"{name} images are {splits.input_shape} but the model takes {tuple(spec['input_shape'])}")
    if args.split == "all":
        data = DataSet(
            np.concatenate([splits.train.x, splits.val.x, splits.test.x]),
            np.concatenate([splits.train.y, splits.val.y, splits.test.y]),
        )
    else:
        data = getattr(splits, args.split)
    if len(data) == 0:
        raise UserError(f"the {args.split} split of {name} is empty")
    num_classes = spec["num_classes"]
    check_labels(data, num_classes, name)
    check_label_kind(spec["name"], data.y, name)
    loss, acc = evaluate(model, data)
    pred = np.argmax(predict_proba(model, data.x), axis=1)
    confusion = np.bincount((data.y * num_classes + pred).ravel(), minlength=num_classes**2).reshape(num_classes, num_classes)
    classes = meta.get("classes") or [str(i) for i in range(num_classes)]
    print(f"{name} {args.split}: {len(data)} images, loss {loss:.4f}, accuracy {acc:.2%} ({int(np.trace(confusion))}/{data.y.size}"
          f"{' pixels' if data.y.ndim > 1 else ''})")
    width = max(5, max(len(str(c)) for c in classes[:num_classes]))
    print("per class:  " + "  ".join(
        f"{classes[c]}: {confusion[c, c] / max(1, confusion[c].sum()):.1%}" for c in range(num_classes)
    ))
    print("confusion matrix (rows: true class, columns: predicted):")
    print(" " * (width + 1) + " ".join(f"{str(c)[:width]:>{width}}" for c in classes[:num_classes]))
    for c in range(num_classes):
        print(f"{str(classes[c])[:width]:>{width}} " + " ".join(f"{v:>{width}d}" for v in confusion[c]))
    return 0
