"""``numcnn predict``: class and probabilities for an image file or an ``.npy`` array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data import Normalizer
from ..errors import UserError
from ..train import load_run_model, predict_proba


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify an image file (PNG/JPEG) or an .npy array with a trained run",
        description=(
            "Classify FILE with the best checkpoint of RUN_DIR and print the class and the "
            "probabilities. FILE is an .npy array of raw images in the training data's units "
            "(uint8 0..255; 0..16 for the built-in digits) shaped (H, W), (C, H, W), (N, H, W) or "
            "(N, C, H, W); or a PNG (read with matplotlib) or JPEG/other image (read with Pillow, if "
            "installed), converted to the model's channels and resized to its input size. MNIST-style "
            "models expect a light digit on a dark background: use --invert for dark-on-light images. "
            "A per-pixel model (unet_small) prints each image's map of classes instead."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run folder written by numcnn train (or a checkpoint .npz)")
    p.add_argument("file", metavar="FILE", help="an .npy array or an image file")
    p.add_argument("--invert", action="store_true", help="invert image brightness first (dark ink on white paper)")
    p.add_argument("--top", type=int, default=None, metavar="K", help="print only the K most likely classes")
    p.set_defaults(func=run_command)


def _read_image(path: Path) -> np.ndarray:
    """An image file as float (H, W, C) in [0, 1]."""
    image = None
    if path.suffix.lower() == ".png":
        try:
            import matplotlib.image as mpimg

            image = np.asarray(mpimg.imread(path), dtype=np.float64)
        except ImportError:
            image = None
        except (OSError, ValueError, SyntaxError) as exc:
            raise UserError(f"{path}: not a readable PNG image ({exc})") from exc
    if image is None:
        try:
            from PIL import Image
        except ImportError:
            raise UserError(
                f"{path}: reading {path.suffix or 'this'} images needs Pillow (pip install pillow); "
                "PNG needs matplotlib; or pass an .npy array"
            ) from None
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGBA" if im.mode in ("RGBA", "LA", "P") else "RGB"), dtype=np.float64) / 255.0
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a readable image ({exc})") from exc
    if image.ndim == 2:
        image = image[:, :, None]
    if image.dtype.kind in "ui" or image.max() > 1.0:
        image = image / 255.0
    return image


def _resize(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of (N, C, H, W) to (N, C, h, w), pixel centres aligned (as PIL/OpenCV)."""
    n, c, ih, iw = x.shape
    if (ih, iw) == (h, w):
        return x

    def axis(out_size, in_size):
        pos = np.clip((np.arange(out_size) + 0.5) * in_size / out_size - 0.5, 0, in_size - 1)
        lo = np.floor(pos).astype(np.intp)
        hi = np.minimum(lo + 1, in_size - 1)
        return lo, hi, pos - lo

    y0, y1, fy = axis(h, ih)
    x0, x1, fx = axis(w, iw)
    if ih > 2 * h or iw > 2 * w:  # shrinking a lot: average blocks first so no detail is skipped
        fh, fw = max(1, ih // h), max(1, iw // w)
        x = x[:, :, : ih - ih % fh, : iw - iw % fw].reshape(n, c, ih // fh, fh, iw // fw, fw).mean(axis=(3, 5))
        return _resize(x, h, w)
    top = x[:, :, y0, :] * (1 - fy)[:, None] + x[:, :, y1, :] * fy[:, None]
    return top[:, :, :, x0] * (1 - fx) + top[:, :, :, x1] * fx


def load_inputs(path: Path, input_shape, normalizer: Normalizer, invert: bool) -> np.ndarray:
    """Raw images from ``path`` as (N, C, H, W) in the training data's raw units."""
    c, h, w = input_shape
    max_value = 1.0 / normalizer.scale
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if path.suffix.lower() == ".npy":
        try:
            x = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: not a readable .npy array ({exc})") from exc
        if x.dtype.kind not in "uif":
            raise UserError(f"{path}: expected a numeric array, got {x.dtype}")
        x = x.astype(np.float64)
        if x.ndim == 2:
            x = x[None, None]
        elif x.ndim == 3:
            one_image = x.shape[0] == c  # (C, H, W); otherwise a stack of one-channel images
            x = x[None] if one_image else x[:, None]
        elif x.ndim != 4:
            raise UserError(f"{path}: expected (H, W), (C, H, W), (N, H, W) or (N, C, H, W), got shape {x.shape}")
        if invert:
            x = max_value - x
    else:
        image = _read_image(path)  # (H, W, C) in [0, 1]
        if image.shape[2] == 4:  # composite transparency onto white... or black when inverting later
            alpha = image[:, :, 3:]
            image = image[:, :, :3] * alpha + (1.0 - alpha)
        if invert:
            image = 1.0 - image
        x = image.transpose(2, 0, 1)[None] * max_value
    if x.shape[1] != c:
        if c == 1 and x.shape[1] == 3:
            x = (x * np.array([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)).sum(axis=1, keepdims=True)
        elif c == 3 and x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        else:
            raise UserError(f"{path}: {x.shape[1]} channels, but the model takes {c}")
    return _resize(x, h, w)


def run_command(args) -> int:
    model, meta = load_run_model(args.run_dir)
    normalizer = Normalizer.from_dict(meta["normalizer"])
    spec = meta["spec"]
    raw = load_inputs(Path(args.file), spec["input_shape"], normalizer, args.invert)
    probs = predict_proba(model, normalizer(raw))
    classes = meta.get("classes") or [str(i) for i in range(spec["num_classes"])]
    if probs.ndim == 4:  # a per-pixel model: one class map per image
        for i, p in enumerate(probs):
            labels = np.argmax(p, axis=0)
            prefix = f"[{i}] " if len(probs) > 1 else ""
            print(f"{prefix}class per pixel (mean probability {p.max(axis=0).mean():.4f}); classes: "
                  + ", ".join(f"{c} {name}" for c, name in enumerate(classes)))
            width = len(str(len(classes) - 1))
            for row in labels:
                print("  " + " ".join(f"{v:>{width}d}" for v in row))
        return 0
    k = len(classes) if args.top is None else max(1, min(args.top, len(classes)))
    for i, p in enumerate(probs):
        best = int(np.argmax(p))
        prefix = f"[{i}] " if len(probs) > 1 else ""
        print(f"{prefix}class {best} ({classes[best]})  probability {p[best]:.4f}")
        order = np.argsort(-p, kind="stable")[:k]
        print("  " + "  ".join(f"{classes[j]}: {p[j]:.4f}" for j in order))
    return 0
