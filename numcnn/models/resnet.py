"""Residual networks: torchvision's ImageNet ResNets (``resnet18/34/50``) and the CIFAR ResNets of
He et al. 2016 (``resnet20/32/56``), define-by-run models (``forward`` on Tensors).

The ImageNet models copy torchvision's ``resnet.py``: the same layout, module names and state-dict
keys (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer2.0.downsample.0``, ``fc``, ...), the same
initialisation, and ResNet v1.5's Bottleneck (the stride on the 3x3 conv), so a torchvision state
dict loads as is::

    model = resnet18()
    model.load_state_dict({k: v.numpy() for k, v in torchvision_model.state_dict().items()})

The CIFAR models are section 4.2 of "Deep Residual Learning for Image Recognition": a 3x3 conv
stem of 16 filters (no max pool), three stages of ``n`` BasicBlocks with 16, 32 and 64 filters
(the first block of stages 2 and 3 halves the size), global average pooling and a linear layer:
``6n + 2`` layers.  Their shortcut is the paper's option A (parameter-free: stride-2 subsampling,
then zero channels on both sides, as the common PyTorch port does) unless ``shortcut='B'``
(a 1x1 conv and BatchNorm, torchvision's ``downsample``).
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import Tensor, cat
from ..errors import UserError
from .classic import check_input_shape

__all__ = [
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "CifarResNet",
    "ChannelPadShortcut",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet20",
    "resnet32",
    "resnet56",
]


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (BatchNorm follows)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with BatchNorm, added to the (downsampled) input, then ReLU.

    ``x (N, inplanes, H, W) -> (N, planes, H / stride, W / stride)``.
    """

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 (reduce) - 3x3 (carries the stride: ResNet v1.5) - 1x1 (expand by 4), each with
    BatchNorm, added to the (downsampled) input, then ReLU.

    ``x (N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride)``.
    """

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ChannelPadShortcut(nn.Module):
    """The CIFAR ResNets' option A shortcut: keep every ``stride``-th row and column, then add
    zero channels, half before and half after, up to ``planes``.  No parameters.

    ``x (N, C, H, W) -> (N, planes, ceil(H / stride), ceil(W / stride))``.
    """

    def __init__(self, planes: int, stride: int):
        super().__init__()
        self.planes = planes
        self.stride = stride

    def forward(self, x):
        x = x[:, :, :: self.stride, :: self.stride]
        missing = self.planes - x.shape[1]
        if missing < 0:
            raise ValueError(f"ChannelPadShortcut: input has {x.shape[1]} channels, more than planes={self.planes}")
        before, after = missing // 2, missing - missing // 2
        n, _, h, w = x.shape
        return cat([Tensor(np.zeros((n, before, h, w), x.dtype)), x, Tensor(np.zeros((n, after, h, w), x.dtype))], dim=1)

    def extra_repr(self):
        return f"planes={self.planes}, stride={self.stride}"


def _init_weights(model: nn.Module) -> None:
    """torchvision's ResNet init: He-normal with fan_out for convs, BatchNorm weight 1 and bias 0
    (already so), Linear left at PyTorch's default."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            w = module.weight.data
            fan_out = w.shape[0] * int(np.prod(w.shape[2:]))
            module.weight.data = nn.init.kaiming_normal(w.shape, fan_out, w.dtype)


class _ResNetBase(nn.Module):
    """Stage building shared by both families (torchvision's ``_make_layer``)."""

    inplanes: int

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1, shortcut: str = "B") -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            if shortcut == "A":
                downsample = ChannelPadShortcut(planes * block.expansion, stride)
            else:
                downsample = nn.Sequential(
                    conv1x1(self.inplanes, planes * block.expansion, stride), nn.BatchNorm2d(planes * block.expansion)
                )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)


class ResNet(_ResNetBase):
    """torchvision's ResNet: 7x7/2 conv stem, 3x3/2 max pool, four stages of 64, 128, 256 and 512
    planes (``layers`` blocks each; stages 2 to 4 halve the size), global average pool, ``fc``.

    ``x (N, in_channels, H, W) -> logits (N, num_classes)``; any ``H, W >= 1``.
    """

    def __init__(self, block, layers, num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        _init_weights(self)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class CifarResNet(_ResNetBase):
    """He et al.'s CIFAR ResNet of ``6 * blocks + 2`` layers: 3x3 conv stem of 16 planes, three
    stages of 16, 32 and 64 planes with ``blocks`` BasicBlocks each (stages 2 and 3 halve the
    size), global average pool, ``fc``.  ``shortcut``: 'A' (zero-padding, no parameters, the
    paper's CIFAR choice) or 'B' (1x1 conv + BatchNorm projections).

    ``x (N, in_channels, H, W) -> logits (N, num_classes)``; any ``H, W >= 1``.
    """

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 3, shortcut: str = "A"):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"shortcut must be 'A' or 'B', got {shortcut!r}")
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU()
        self.layer1 = self._make_layer(BasicBlock, 16, blocks, shortcut=shortcut)
        self.layer2 = self._make_layer(BasicBlock, 32, blocks, stride=2, shortcut=shortcut)
        self.layer3 = self._make_layer(BasicBlock, 64, blocks, stride=2, shortcut=shortcut)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64, num_classes)
        _init_weights(self)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


# --- zoo builders: (input_shape, num_classes, **options) -> model --------------------------------
def _imagenet(name, block, layers, input_shape, num_classes):
    c, _, _ = check_input_shape(input_shape, name)
    return ResNet(block, layers, int(num_classes), in_channels=c)


def _cifar(name, blocks, input_shape, num_classes, shortcut):
    c, _, _ = check_input_shape(input_shape, name)
    if shortcut not in ("A", "B"):
        raise UserError(f"{name}: shortcut must be 'A' or 'B', got {shortcut!r}")
    return CifarResNet(blocks, int(num_classes), in_channels=c, shortcut=shortcut)


def resnet18(input_shape=(3, 224, 224), num_classes: int = 1000) -> ResNet:
    """torchvision's ResNet-18: BasicBlocks [2, 2, 2, 2]; 11,689,512 parameters at 1000 classes."""
    return _imagenet("resnet18", BasicBlock, [2, 2, 2, 2], input_shape, num_classes)


def resnet34(input_shape=(3, 224, 224), num_classes: int = 1000) -> ResNet:
    """torchvision's ResNet-34: BasicBlocks [3, 4, 6, 3]; 21,797,672 parameters at 1000 classes."""
    return _imagenet("resnet34", BasicBlock, [3, 4, 6, 3], input_shape, num_classes)


def resnet50(input_shape=(3, 224, 224), num_classes: int = 1000) -> ResNet:
    """torchvision's ResNet-50 (v1.5): Bottlenecks [3, 4, 6, 3]; 25,557,032 parameters at 1000
    classes."""
    return _imagenet("resnet50", Bottleneck, [3, 4, 6, 3], input_shape, num_classes)


def resnet20(input_shape=(3, 32, 32), num_classes: int = 10, *, shortcut: str = "A") -> CifarResNet:
    """He et al.'s CIFAR ResNet-20 (n = 3): 269,722 parameters with option A shortcuts at 10
    classes (272,474 with option B)."""
    return _cifar("resnet20", 3, input_shape, num_classes, shortcut)


def resnet32(input_shape=(3, 32, 32), num_classes: int = 10, *, shortcut: str = "A") -> CifarResNet:
    """He et al.'s CIFAR ResNet-32 (n = 5): 464,154 parameters with option A at 10 classes."""
    return _cifar("resnet32", 5, input_shape, num_classes, shortcut)


def resnet56(input_shape=(3, 32, 32), num_classes: int = 10, *, shortcut: str = "A") -> CifarResNet:
    """He et al.'s CIFAR ResNet-56 (n = 9): 853,018 parameters with option A at 10 classes."""
    return _cifar("resnet56", 9, input_shape, num_classes, shortcut)
