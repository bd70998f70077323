"""The registry of zoo models: their names, the input and class count each was designed for, and
the JSON-able *spec* (``{'name', 'input_shape', 'num_classes', 'options'}``) that checkpoints store;
``build_model(spec)`` rebuilds the same architecture and ``load_state_dict`` restores its weights.

Every builder takes ``(input_shape, num_classes, **options)``.  Chain models are
``nn.Sequential`` (trained with their explicit ``backward``); the others are define-by-run: their
``forward`` takes and returns :class:`~numcnn.Tensor` (see :func:`uses_tape`).
"""

from __future__ import annotations

from typing import Callable

from .. import nn
from ..errors import UserError
from .classic import lenet5, three_layer, vgg_small
from .resnet import resnet18, resnet20, resnet32, resnet34, resnet50, resnet56
from .unet import unet_small

__all__ = [
    "MODELS",
    "DEFAULT_INPUT_SHAPES",
    "DEFAULT_NUM_CLASSES",
    "PER_PIXEL_MODELS",
    "model_spec",
    "build_model",
    "uses_tape",
    "check_label_kind",
]

MODELS: dict[str, Callable[..., nn.Module]] = {
    "lenet5": lenet5,
    "three_layer": three_layer,
    "vgg_small": vgg_small,
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "resnet20": resnet20,
    "resnet32": resnet32,
    "resnet56": resnet56,
    "unet_small": unet_small,
}

# The input each model was designed for (``numcnn summary`` uses it when no shape is given).
DEFAULT_INPUT_SHAPES = {
    "lenet5": (1, 28, 28),
    "three_layer": (3, 32, 32),
    "vgg_small": (3, 32, 32),
    "resnet18": (3, 224, 224),
    "resnet34": (3, 224, 224),
    "resnet50": (3, 224, 224),
    "resnet20": (3, 32, 32),
    "resnet32": (3, 32, 32),
    "resnet56": (3, 32, 32),
    "unet_small": (1, 8, 8),
}

# The classes each model was designed for (ImageNet's 1000 for torchvision's ResNets).
DEFAULT_NUM_CLASSES = {name: 10 for name in MODELS} | {"resnet18": 1000, "resnet34": 1000, "resnet50": 1000, "unet_small": 11}

# Models whose logits are per pixel, (N, num_classes, H, W), trained on (N, H, W) labels.
PER_PIXEL_MODELS = frozenset({"unet_small"})


def uses_tape(model: nn.Module) -> bool:
    """Whether ``model`` is define-by-run (its gradients come from ``Tensor.backward``) rather
    than a chain with its own explicit ``backward``."""
    return type(model).backward is nn.Module.backward


def check_label_kind(name: str, labels, where: str) -> None:
    """A per-pixel model needs labels ``(N, H, W)``, any other model ``(N,)``: a clear UserError
    otherwise (``where`` names the data set)."""
    per_pixel = name in PER_PIXEL_MODELS
    if per_pixel and labels.ndim != 3:
        raise UserError(
            f"{where}: {name} predicts a class per pixel and needs (N, H, W) labels (e.g. --dataset digits_seg), "
            f"but these labels have shape {labels.shape}"
        )
    if not per_pixel and labels.ndim != 1:
        raise UserError(
            f"{where}: {name} predicts one class per image, but these labels have shape {labels.shape} "
            f"(one per pixel); use a per-pixel model: {', '.join(sorted(PER_PIXEL_MODELS))}"
        )


def model_spec(name: str, input_shape, num_classes: int, **options) -> dict:
    """The JSON-able description of a zoo model that checkpoints store."""
    if name not in MODELS:
        raise UserError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    if int(num_classes) < 2:
        raise UserError(f"num_classes must be at least 2, got {num_classes}")
    return {
        "name": name,
        "input_shape": [int(s) for s in input_shape],
        "num_classes": int(num_classes),
        "options": {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()},
    }


def build_model(spec: dict) -> nn.Module:
    """Build the model a spec describes (fresh weights from ``numcnn.nn.init``'s generator)."""
    try:
        name = spec["name"]
        builder = MODELS[name]
    except KeyError:
        raise UserError(f"unknown model {spec.get('name')!r}; choose from {', '.join(MODELS)}") from None
    try:
        return builder(tuple(spec["input_shape"]), int(spec["num_classes"]), **spec.get("options", {}))
    except TypeError as exc:
        raise UserError(f"{name}: bad model options {spec.get('options')}: {exc}") from exc
