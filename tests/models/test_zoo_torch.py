"""Whole zoo models against torch twins written here (torchvision does not import beside this
torch): torchvision's ResNet (copied from its resnet.py with the same module names), He et al.'s
CIFAR ResNet with option A shortcuts, and the small U-Net.  Each twin's state dict loads into the
numcnn model; eval logits, and in train mode every parameter's gradient after a cross-entropy
backward and the new BatchNorm running statistics, agree to 1e-9 in float64."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as tnn  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

import numcnn  # noqa: E402
import numcnn.nn.functional as F  # noqa: E402
from numcnn import models  # noqa: E402

pytestmark = pytest.mark.torch

TOL = dict(rtol=1e-9, atol=1e-12)


# --- torchvision's resnet.py, as written there (groups, width and dilation options left out) ----
def conv3x3(in_planes, out_planes, stride=1):
    return tnn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return tnn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(tnn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(tnn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = tnn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = tnn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = tnn.BatchNorm2d(planes * self.expansion)
        self.relu = tnn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet(tnn.Module):
    def __init__(self, block, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = tnn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = tnn.BatchNorm2d(self.inplanes)
        self.relu = tnn.ReLU(inplace=True)
        self.maxpool = tnn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(512 * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, tnn.Conv2d):
                tnn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, tnn.BatchNorm2d):
                tnn.init.constant_(m.weight, 1)
                tnn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = tnn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride), tnn.BatchNorm2d(planes * block.expansion)
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


# --- the CIFAR ResNet with option A shortcuts (as the common PyTorch port writes it) ------------
class LambdaLayer(tnn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class CifarResNet(tnn.Module):
    def __init__(self, n, num_classes=10, in_channels=3):
        super().__init__()
        self.inplanes = 16
        self.conv1 = conv3x3(in_channels, 16)
        self.bn1 = tnn.BatchNorm2d(16)
        self.relu = tnn.ReLU()
        self.layer1 = self._make_layer(16, n, 1)
        self.layer2 = self._make_layer(32, n, 2)
        self.layer3 = self._make_layer(64, n, 2)
        self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
        self.fc = tnn.Linear(64, num_classes)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            pad = (planes - self.inplanes) // 2
            downsample = LambdaLayer(lambda x: TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return tnn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- the small U-Net ----------------------------------------------------------------------------
def double_conv(c_in, c_out):
    return tnn.Sequential(
        tnn.Conv2d(c_in, c_out, 3, padding=1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(),
        tnn.Conv2d(c_out, c_out, 3, padding=1, bias=False), tnn.BatchNorm2d(c_out), tnn.ReLU(),
    )


class UNet(tnn.Module):
    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.encoders = tnn.ModuleList([double_conv(in_channels, 16), double_conv(16, 32)])
        self.pool = tnn.MaxPool2d(2, ceil_mode=True)
        self.bottleneck = double_conv(32, 64)
        self.upsamples = tnn.ModuleList([tnn.ConvTranspose2d(64, 32, 2, stride=2), tnn.ConvTranspose2d(32, 16, 2, stride=2)])
        self.decoders = tnn.ModuleList([double_conv(64, 32), double_conv(32, 16)])
        self.head = tnn.Conv2d(16, num_classes, 1)

    def forward(self, x):
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upsample, decoder, skip in zip(self.upsamples, self.decoders, reversed(skips)):
            x = upsample(x)[:, :, : skip.shape[2], : skip.shape[3]]
            x = decoder(torch.cat([skip, x], dim=1))
        return self.head(x)


# --- the comparison ------------------------------------------------------------------------------
def randomize_batch_norm(model, seed=0):
    """Non-trivial BatchNorm affine parameters and running statistics, so eval mode tests them."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, tnn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g, dtype=m.weight.dtype))
                m.bias.copy_(0.2 * torch.randn(n, generator=g, dtype=m.bias.dtype))
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g, dtype=m.running_mean.dtype))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g, dtype=m.running_var.dtype))
                m.num_batches_tracked.fill_(3)


def twin(ours, theirs, seed=0):
    """Float64 twins with the torch model's (randomised) state loaded into ours."""
    torch.manual_seed(seed)
    theirs = theirs.double()
    randomize_batch_norm(theirs, seed)
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)  # same keys, same order, num_batches_tracked too
    ours.load_state_dict({k: v.numpy() for k, v in sd.items()})
    return ours, theirs


def assert_same_model(ours, theirs, x, y):
    """Eval logits; then one train-mode forward and cross-entropy backward: loss, every
    parameter's gradient and the new BatchNorm statistics."""
    ours.eval(), theirs.eval()
    with numcnn.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours(numcnn.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), **TOL)
    ours.train(), theirs.train()
    loss = F.cross_entropy(ours(numcnn.tensor(x)), numcnn.tensor(y))
    loss.backward()
    loss_t = TF.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y))
    loss_t.backward()
    np.testing.assert_allclose(loss.item(), loss_t.item(), **TOL)
    ours_params = dict(ours.named_parameters())
    theirs_params = dict(theirs.named_parameters())
    assert list(ours_params) == list(theirs_params)
    for name, p in theirs_params.items():
        assert ours_params[name].grad is not None, name
        scale = float(p.grad.abs().max())
        np.testing.assert_allclose(ours_params[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-9 * scale, err_msg=name)
    ours_state, theirs_state = ours.state_dict(), theirs.state_dict()
    for name, v in theirs_state.items():
        np.testing.assert_allclose(ours_state[name], v.numpy(), **TOL, err_msg=name)


@pytest.mark.slow
def test_resnet18_matches_torchvision_layout():
    torch.manual_seed(0)
    ours, theirs = twin(models.resnet18(), ResNet(BasicBlock, [2, 2, 2, 2]))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 64, 64))
    assert_same_model(ours, theirs, x, np.array([3, 997]))


@pytest.mark.slow
def test_bottleneck_resnet_matches_torchvision_layout():
    """ResNet-50's Bottleneck (v1.5, stride on the 3x3) in a one-block-per-stage ResNet, to keep it
    fast; resnet50's own keys are checked against the twin's."""
    theirs50 = ResNet(Bottleneck, [3, 4, 6, 3])
    assert list(models.resnet50().state_dict()) == list(theirs50.state_dict())
    ours, theirs = twin(models.ResNet(models.resnet.Bottleneck, [1, 1, 1, 1], num_classes=7), ResNet(Bottleneck, [1, 1, 1, 1], 7), seed=1)
    x = np.random.default_rng(1).standard_normal((2, 3, 40, 36))
    assert_same_model(ours, theirs, x, np.array([0, 6]))


def test_resnet20_option_a_matches_twin():
    ours, theirs = twin(models.resnet20((3, 32, 32), 10), CifarResNet(3), seed=2)
    x = np.random.default_rng(2).standard_normal((3, 3, 12, 10))
    assert_same_model(ours, theirs, x, np.array([0, 9, 4]))


def test_unet_small_matches_twin_on_odd_sizes():
    """Per-pixel logits (N, C, H, W) and cross_entropy with (N, H, W) labels; 9x11 exercises the
    ceil-mode pools and the crops."""
    ours, theirs = twin(models.unet_small((2, 9, 11), 5), UNet(2, 5), seed=3)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 2, 9, 11))
    y = rng.integers(0, 5, size=(2, 9, 11))
    assert_same_model(ours, theirs, x, y)
