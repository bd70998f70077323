"""The model zoo: chain models (``lenet5`` (default), ``three_layer``, ``vgg_small``), residual
networks (torchvision's ``resnet18/34/50``, the CIFAR ``resnet20/32/56``) and a small U-Net
(``unet_small``, per-pixel logits), each built from an input shape ``(C, H, W)`` and a number of
classes; :mod:`~numcnn.models.registry` describes and rebuilds them from checkpoint specs."""

from .classic import lenet5, three_layer, vgg_small
from .registry import (
    DEFAULT_INPUT_SHAPES,
    DEFAULT_NUM_CLASSES,
    MODELS,
    PER_PIXEL_MODELS,
    build_model,
    check_label_kind,
    model_spec,
    uses_tape,
)
from .resnet import CifarResNet, ResNet, resnet18, resnet20, resnet32, resnet34, resnet50, resnet56
from .unet import UNet, unet_small

__all__ = [
    "MODELS",
    "DEFAULT_INPUT_SHAPES",
    "DEFAULT_NUM_CLASSES",
    "PER_PIXEL_MODELS",
    "build_model",
    "model_spec",
    "uses_tape",
    "check_label_kind",
    "lenet5",
    "three_layer",
    "vgg_small",
    "ResNet",
    "CifarResNet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet20",
    "resnet32",
    "resnet56",
    "UNet",
    "unet_small",
]
