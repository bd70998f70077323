"""The chain models of the zoo: ``lenet5`` (default), ``three_layer`` (CS231n's
ThreeLayerConvNet) and ``vgg_small`` (BatchNorm/Dropout VGG-style, for CIFAR-10), each a
``numcnn.nn.Sequential`` built from an input shape ``(C, H, W)`` and a number of classes."""

from __future__ import annotations

from .. import nn
from ..errors import UserError

__all__ = ["lenet5", "three_layer", "vgg_small", "check_input_shape"]


def _conv_out(size: int, kernel: int, padding: int, stride: int = 1) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def check_input_shape(input_shape, name: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise UserError(f"{name}: input shape must be (C, H, W), got {input_shape!r}") from None
    if min(c, h, w) < 1:
        raise UserError(f"{name}: input shape must be positive, got {(c, h, w)}")
    return c, h, w


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "leaky_relu":
        return nn.LeakyReLU(0.01)
    raise UserError(f"unknown activation {name!r}; choose relu or leaky_relu")


def lenet5(input_shape=(1, 28, 28), num_classes: int = 10, *, channels=None, hidden=(120, 84), activation="relu"):
    """LeNet-5 as in the common PyTorch version: conv5x5(6)-act-maxpool2-conv5x5(16)-act-maxpool2-
    fc120-act-fc84-act-fc(num_classes), adapted to the input size.

    - 28x28 inputs (MNIST) get ``padding=2`` on the first conv, as in LeCun's 32x32 input:
      28 -> 28 -> 14 -> 10 -> 5, so the classifier sees 16*5*5 = 400 features.
    - 32x32 (CIFAR-10) needs no padding: 32 -> 28 -> 14 -> 10 -> 5.
    - Inputs smaller than 28 (the 8x8 digits) use 3x3 "same" convolutions with 16 and 32 filters
      (6 and 16 leave too little capacity at 8x8: ~97.5% instead of ~99% test accuracy on the
      built-in digits): 8 -> 8 -> 4 -> 4 -> 2, so the classifier sees 32*2*2 = 128 features.

    Parameters
    ----------
    input_shape : (C, H, W)
    num_classes : int
    channels : (int, int), optional
        Filters of the two conv layers; default (6, 16), or (16, 32) for inputs smaller than 28.
    hidden : (int, int)
        Widths of the two hidden fully connected layers.
    activation : {'relu', 'leaky_relu'}
    """
    c, h, w = check_input_shape(input_shape, "lenet5")
    if channels is None:
        channels = (6, 16) if min(h, w) >= 28 else (16, 32)
    c1, c2 = (int(v) for v in channels)
    f1, f2 = (int(v) for v in hidden)
    if min(h, w) >= 28:
        k, pad1, pad2 = 5, max(0, (32 - min(h, w) + 1) // 2), 0
    else:
        k, pad1, pad2 = 3, 1, 1
    oh, ow = _conv_out(h, k, pad1) // 2, _conv_out(w, k, pad1) // 2
    oh, ow = _conv_out(oh, k, pad2) // 2, _conv_out(ow, k, pad2) // 2
    if min(oh, ow) < 1:
        raise UserError(f"lenet5: input {h}x{w} is too small (needs at least 4x4)")
    return nn.Sequential(
        nn.Conv2d(c, c1, k, padding=pad1),
        _activation(activation),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, k, padding=pad2),
        _activation(activation),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * oh * ow, f1),
        _activation(activation),
        nn.Linear(f1, f2),
        _activation(activation),
        nn.Linear(f2, num_classes),
    )


def three_layer(input_shape=(3, 32, 32), num_classes: int = 10, *, num_filters=32, filter_size=7, hidden_dim=100):
    """CS231n's ThreeLayerConvNet: conv(filter_size, "same" padding)-relu-2x2 maxpool-affine-relu-
    affine.  Defaults are the assignment's (32 filters of 7x7, 100 hidden units)."""
    c, h, w = check_input_shape(input_shape, "three_layer")
    k = int(filter_size)
    if k % 2 == 0:
        raise UserError(f"three_layer: filter_size must be odd to keep the spatial size, got {k}")
    if min(h, w) < 2:
        raise UserError(f"three_layer: input {h}x{w} is too small for a 2x2 pool")
    return nn.Sequential(
        nn.Conv2d(c, int(num_filters), k, padding=(k - 1) // 2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(int(num_filters) * (h // 2) * (w // 2), int(hidden_dim)),
        nn.ReLU(),
        nn.Linear(int(hidden_dim), num_classes),
    )


def vgg_small(input_shape=(3, 32, 32), num_classes: int = 10, *, widths=(32, 64, 128), hidden=256, dropout=0.25):
    """A small VGG-style net for CIFAR-10: for each width two [conv3x3-BatchNorm2d-ReLU] then a 2x2
    max-pool and Dropout; then Flatten-Linear(hidden)-BatchNorm1d-ReLU-Dropout(2*dropout)-Linear.
    Convs before BatchNorm have no bias (BatchNorm's shift replaces it)."""
    c, h, w = check_input_shape(input_shape, "vgg_small")
    widths = [int(v) for v in widths]
    if min(h, w) >> len(widths) < 1:
        raise UserError(f"vgg_small: input {h}x{w} is too small for {len(widths)} 2x2 pools")
    layers: list[nn.Module] = []
    in_c = c
    for width in widths:
        for _ in range(2):
            layers += [nn.Conv2d(in_c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            in_c = width
        layers += [nn.MaxPool2d(2), nn.Dropout(dropout)]
        h, w = h // 2, w // 2
    layers += [
        nn.Flatten(),
        nn.Linear(in_c * h * w, int(hidden)),
        nn.BatchNorm1d(int(hidden)),
        nn.ReLU(),
        nn.Dropout(min(0.5, 2 * dropout)),
        nn.Linear(int(hidden), num_classes),
    ]
    return nn.Sequential(*layers)
