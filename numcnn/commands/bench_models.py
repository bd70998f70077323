"""The model rows of ``numcnn bench`` (suite "models"): whole networks, numcnn next to PyTorch.

* ``resnet20 train step``: He et al.'s CIFAR ResNet-20 (option A shortcuts), batch 64 of
  3x32x32, train mode (BatchNorm on batch statistics): forward, cross-entropy, backward and an
  SGD step with momentum 0.9.  numcnn runs it as the trainer does (numcnn/train.py: the explicit
  API, ``model(x)``, ``cross_entropy``, ``model.backward(dlogits, input_grad=False)``,
  ``optimizer.step()``); the ``(tape)`` variant, in ``--suite models`` only, runs it on the tape
  (``F.cross_entropy(model(Tensor(x)), y).backward()``).
* ``resnet18 inference``: torchvision's ResNet-18, batch 8 of 3x224x224, eval mode under
  ``no_grad`` on both sides.

PyTorch's side is a twin written here (torchvision is no dependency, and not importable beside
every torch): torchvision's ``resnet.py`` layout and the common PyTorch port of the CIFAR ResNet,
with the module names of numcnn/models/resnet.py, so numcnn's state dict loads into it and both
compute the same function (tests/test_bench_models.py checks the logits).  Timing splits a row
in "fwd" (forward and loss) and "bwd" (backward and the optimizer step; nothing for inference).
"""

from __future__ import annotations

import numpy as np

# A model row's call takes a tenth of a second or more: one untimed call wakes its side's threads
# (the warm-up the layer rows need for calls of a few milliseconds would triple the row's time).
_MODEL_WARM_CALLS = 1


# --- PyTorch twins ------------------------------------------------------------------------------
def torch_resnets(torch):
    """``(BasicBlock, ResNet, CifarResNet)``: PyTorch twins of numcnn.models.resnet's classes, as
    torchvision's resnet.py writes them (groups, width and dilation options left out) and the
    common port of the CIFAR ResNet with option A shortcuts."""
    tnn, TF = torch.nn, torch.nn.functional

    def conv3x3(in_planes, out_planes, stride=1):
        return tnn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)

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

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            out += identity
            return self.relu(out)

    class ResNet(tnn.Module):
        def __init__(self, layers, num_classes=1000, in_channels=3):
            super().__init__()
            self.inplanes = 64
            self.conv1 = tnn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = tnn.BatchNorm2d(64)
            self.relu = tnn.ReLU(inplace=True)
            self.maxpool = tnn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(512, num_classes)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = tnn.Sequential(
                    tnn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False), tnn.BatchNorm2d(planes)
                )
            layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            return tnn.Sequential(*layers)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    class PadShortcut(tnn.Module):
        """Option A: every other row and column, zero channels on both sides."""

        def __init__(self, pad):
            super().__init__()
            self.pad = pad

        def forward(self, x):
            return TF.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad), "constant", 0)

    class CifarResNet(tnn.Module):
        def __init__(self, n, num_classes=10, in_channels=3):
            super().__init__()
            self.inplanes = 16
            self.conv1 = conv3x3(in_channels, 16)
            self.bn1 = tnn.BatchNorm2d(16)
            self.relu = tnn.ReLU(inplace=True)
            self.layer1 = self._make_layer(16, n, 1)
            self.layer2 = self._make_layer(32, n, 2)
            self.layer3 = self._make_layer(64, n, 2)
            self.avgpool = tnn.AdaptiveAvgPool2d((1, 1))
            self.fc = tnn.Linear(64, num_classes)

        def _make_layer(self, planes, blocks, stride):
            downsample = None
            if stride != 1 or self.inplanes != planes:
                downsample = PadShortcut((planes - self.inplanes) // 2)
            layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes
            layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
            return tnn.Sequential(*layers)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv1(x)))
            x = self.layer3(self.layer2(self.layer1(x)))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return BasicBlock, ResNet, CifarResNet


def torch_twin(torch, model):
    """The PyTorch twin of a numcnn ``resnet18``-layout ResNet or a CIFAR ResNet (option A), with
    ``model``'s parameters and BatchNorm statistics copied in, in ``model``'s dtype and mode."""
    from ..models.resnet import BasicBlock, ChannelPadShortcut, CifarResNet, ResNet

    _, TorchResNet, TorchCifarResNet = torch_resnets(torch)
    in_channels, num_classes = model.conv1.weight.shape[1], model.fc.weight.shape[0]
    if isinstance(model, CifarResNet) and isinstance(model.layer2[0].downsample, ChannelPadShortcut):
        twin = TorchCifarResNet(len(model.layer1), num_classes, in_channels)
    elif isinstance(model, ResNet) and isinstance(model.layer1[0], BasicBlock):
        twin = TorchResNet([len(model.layer1), len(model.layer2), len(model.layer3), len(model.layer4)],
                           num_classes, in_channels)
    else:
        raise TypeError(f"no PyTorch twin for {type(model).__name__} (BasicBlock ResNets and CIFAR ResNets with "
                        "option A shortcuts only)")
    state = model.state_dict()
    dtype = getattr(torch, str(model.conv1.weight.dtype))
    twin = twin.to(dtype)
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return twin.train(model.training)


# --- the rows ------------------------------------------------------------------------------------
def _train_setup(blocks, batch, size, num_classes):
    def setup(dtype, rng):
        from .. import models
        from ..nn import init

        init.manual_seed(int(rng.integers(2**31)))
        model = models.CifarResNet(blocks, num_classes).to(dtype).train()
        return {
            "model": model,
            "x": rng.standard_normal((batch, 3, size, size)).astype(dtype),
            "y": rng.integers(0, num_classes, size=batch),
        }

    return setup


def _sgd(params):
    from ..optim import SGD

    return SGD(params, lr=0.01, momentum=0.9)


def _train_explicit(a):
    """The trainer's step (numcnn/train.py ``_train_epoch``)."""
    from ..functional import cross_entropy

    model, x, y = a["model"], a["x"], a["y"]
    optimizer = _sgd(model.parameters())

    def forward():
        return cross_entropy(model(x), y)

    def backward(state):
        model.zero_grad()
        model.backward(state[1], input_grad=False)
        optimizer.step()

    return forward, backward


def _train_tape(a):
    """The same step on the tape: ``loss.backward()`` from a Tensor loss."""
    from ..autograd import Tensor
    from ..nn import functional as F

    model, x, y = a["model"], Tensor(a["x"]), Tensor(a["y"])
    optimizer = _sgd(model.parameters())

    def forward():
        return F.cross_entropy(model(x), y)

    def backward(loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return forward, backward


def _train_torch(torch, a):
    model = torch_twin(torch, a["model"]).train()
    x, y = torch.from_numpy(a["x"]), torch.from_numpy(a["y"])
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def forward():
        return torch.nn.functional.cross_entropy(model(x), y)

    def backward(loss):
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return forward, backward


def resnet20_train_case(batch=64, size=32, blocks=3, num_classes=10, tape=False, suites=("models",)):
    """The training-step row: a CIFAR ResNet of ``6 * blocks + 2`` layers on ``(batch, 3, size,
    size)``; ``tape``: numcnn runs the step on the tape instead of the trainer's explicit API."""
    from .bench_cases import Case  # here: bench_cases registers these rows as it is imported

    depth = 6 * blocks + 2
    return Case(
        op=f"resnet{depth} train step" + (" (tape)" if tape else ""),
        shape=f"x({batch}, 3, {size}, {size}) SGD m0.9",
        suites=frozenset(suites) | ({"all"} if not tape else set()),
        setup=_train_setup(blocks, batch, size, num_classes),
        numcnn=_train_tape if tape else _train_explicit,
        torch=_train_torch,
        warm_calls=_MODEL_WARM_CALLS,
    )


def _infer_setup(layers, batch, size, num_classes):
    def setup(dtype, rng):
        from .. import models
        from ..nn import init

        init.manual_seed(int(rng.integers(2**31)))
        model = models.ResNet(models.resnet.BasicBlock, layers, num_classes).to(dtype).eval()
        return {"model": model, "x": rng.standard_normal((batch, 3, size, size)).astype(dtype)}

    return setup


def _infer(a):
    from ..autograd import no_grad

    model, x = a["model"], a["x"]

    def forward():
        with no_grad():
            return model(x)

    return forward, lambda logits: None


def _infer_torch(torch, a):
    model = torch_twin(torch, a["model"]).eval()
    x = torch.from_numpy(a["x"])

    def forward():
        with torch.no_grad():
            return model(x)

    return forward, lambda logits: None


def inference_peak_bytes(model, x, recording: bool) -> int:
    """Peak bytes NumPy allocates during one eval-mode forward of ``model`` on the ndarray ``x``:
    under ``no_grad`` (``recording=False``), or recording the graph the explicit API keeps for a
    backward (``recording=True``: every op's backward cache stays alive)."""
    from ..autograd import enable_grad, no_grad
    from .bench_timing import peak_extra_bytes

    with no_grad():
        model(x[:1])  # drops a graph an earlier recording call kept, so it is not counted as freed
    mode = enable_grad() if recording else no_grad()

    def forward():
        with mode:
            return model(x)

    peak, _ = peak_extra_bytes(forward, lambda logits: None)
    with no_grad():
        model(x[:1])
    return peak


def _recording_peak(a) -> dict:
    model = a["model"]
    return {"recording_peak_mib": inference_peak_bytes(model, a["x"], recording=True) / 2**20}


def resnet18_infer_case(batch=8, size=224, layers=(2, 2, 2, 2), num_classes=1000, suites=("models",)):
    """The inference row: a BasicBlock ResNet (ResNet-18's ``layers`` by default) on ``(batch, 3,
    size, size)``, eval mode under ``no_grad``; also reports the peak memory of the same forward
    recording the graph (``recording_peak_mib``)."""
    from .bench_cases import Case

    name = "resnet18" if tuple(layers) == (2, 2, 2, 2) else f"resnet{tuple(layers)}"
    return Case(
        op=f"{name} inference",
        shape=f"x({batch}, 3, {size}, {size}) eval no_grad",
        suites=frozenset(suites) | {"all"},
        setup=_infer_setup(list(layers), batch, size, num_classes),
        numcnn=_infer,
        torch=_infer_torch,
        warm_calls=_MODEL_WARM_CALLS,
        extra=_recording_peak,
    )


def model_cases() -> list:
    """The rows of the "models" suite, at the sizes of issue 13 (float32 by default)."""
    return [resnet20_train_case(), resnet20_train_case(tape=True), resnet18_infer_case()]
