"""PyTorch-style models (only ``__init__`` and ``forward``) trained through the tape, against the
same models in torch with the weights copied: every parameter's and input's gradient to 1e-9 in
float64.  A residual block, a U-Net with a concatenated skip, a module used twice, two inputs and
two outputs, and gradients accumulating over two backward calls."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn
import numcnn.nn.functional as F
from numcnn import nn

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

TOL = dict(rtol=1e-9, atol=1e-9)


def copy_weights(ours, theirs):
    """torch's state dict into ours (the same key names), float64."""
    ours.load_state_dict({k: v.detach().numpy().astype(np.float64) for k, v in theirs.state_dict().items()})


def assert_same_grads(ours, theirs):
    grads = {k: p.grad for k, p in theirs.named_parameters()}
    names = [k for k, _ in ours.named_parameters()]
    assert names == list(grads)
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad, grads[name].numpy(), err_msg=name, **TOL)


# --- torchvision's BasicBlock, in both libraries ------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False, dtype=np.float64)
        self.bn1 = nn.BatchNorm2d(planes, dtype=np.float64)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False, dtype=np.float64)
        self.bn2 = nn.BatchNorm2d(planes, dtype=np.float64)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False, dtype=np.float64),
                nn.BatchNorm2d(planes, dtype=np.float64),
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return F.relu(out + identity)


class TorchBasicBlock(tnn.Module):
    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = tnn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = tnn.BatchNorm2d(planes)
        self.relu = tnn.ReLU()
        self.conv2 = tnn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = tnn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), tnn.BatchNorm2d(planes)
            )

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return TF.relu(out + identity)


@pytest.mark.parametrize("stride, planes", [(2, 6), (1, 4)])
def test_resnet_basic_block_matches_torch(stride, planes):
    torch.manual_seed(0)
    theirs = TorchBasicBlock(4, planes, stride).double()
    with torch.no_grad():  # non-trivial affine parameters
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    ours = BasicBlock(4, planes, stride)
    copy_weights(ours, theirs)
    x = np.random.default_rng(1).standard_normal((3, 4, 8, 8))
    xs = numcnn.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, tout = ours(xs), theirs(xt)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    dout = np.random.default_rng(2).standard_normal(out.shape)
    (out * numcnn.tensor(dout)).sum().backward()
    (tout * torch.tensor(dout)).sum().backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **TOL)
    assert_same_grads(ours, theirs)
    for name, buf in theirs.state_dict().items():  # running statistics, updated in place
        np.testing.assert_allclose(ours.state_dict()[name], buf.numpy(), err_msg=name, **TOL)


# --- a small U-Net: skip by concatenation, ConvTranspose2d --------------------------------------
def _unet_layers(lib, dtype_kw):
    conv = lambda i, o: lib.Conv2d(i, o, 3, padding=1, **dtype_kw)  # noqa: E731
    return dict(
        enc1=conv(2, 4), enc2=conv(4, 8), up=lib.ConvTranspose2d(8, 4, 2, stride=2, **dtype_kw),
        dec=conv(8, 4), head=lib.Conv2d(4, 3, 1, **dtype_kw), norm=lib.GroupNorm(2, 8, **dtype_kw),
    )


def _unet_forward(m, x, F_, cat):
    """The U-Net's forward, written once for both libraries (``F_``: their functional module)."""
    e1 = F_.relu(m.enc1(x))
    e2 = F_.relu(m.norm(m.enc2(F_.max_pool2d(e1, 2))))
    d = m.up(e2)
    d = F_.leaky_relu(m.dec(cat([d, e1], dim=1)), 0.1)
    return m.head(d)


class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        for name, layer in _unet_layers(nn, dict(dtype=np.float64)).items():
            setattr(self, name, layer)

    def forward(self, x):
        return _unet_forward(self, x, F, numcnn.cat)


class TorchUNet(tnn.Module):
    def __init__(self):
        super().__init__()
        for name, layer in _unet_layers(tnn, {}).items():
            setattr(self, name, layer)

    def forward(self, x):
        return _unet_forward(self, x, TF, torch.cat)


def test_unet_with_concatenated_skip_matches_torch():
    torch.manual_seed(3)
    theirs = TorchUNet().double()
    ours = UNet()
    copy_weights(ours, theirs)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 8, 8))
    y = rng.integers(0, 3, (2, 8, 8))
    xs = numcnn.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    loss = F.cross_entropy(ours(xs), y)
    tloss = TF.cross_entropy(theirs(xt), torch.tensor(y))
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **TOL)
    assert_same_grads(ours, theirs)


# --- a module used twice; two inputs and two outputs -------------------------------------------
class Ours(nn.Module):
    """Two inputs through one shared conv (called twice), two outputs."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64)
        self.head_a = nn.Linear(4 * 5 * 5, 2, dtype=np.float64)
        self.head_b = nn.Conv2d(4, 2, 1, dtype=np.float64)

    def forward(self, a, b):
        ha, hb = F.relu(self.shared(a)), self.shared(b)
        return self.head_a((ha + hb).flatten(1)), self.head_b(hb * ha)


class Theirs(tnn.Module):
    def __init__(self):
        super().__init__()
        self.shared = tnn.Conv2d(3, 4, 3, padding=1)
        self.head_a = tnn.Linear(4 * 5 * 5, 2)
        self.head_b = tnn.Conv2d(4, 2, 1)

    def forward(self, a, b):
        ha, hb = TF.relu(self.shared(a)), self.shared(b)
        return self.head_a((ha + hb).flatten(1)), self.head_b(hb * ha)


def _two_input_pair():
    torch.manual_seed(5)
    theirs = Theirs().double()
    ours = Ours()
    copy_weights(ours, theirs)
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((2, 3, 5, 5))
    return ours, theirs, a, b, rng


def test_module_used_twice_with_two_inputs_and_two_outputs_matches_torch():
    ours, theirs, a, b, rng = _two_input_pair()
    sa, sb = numcnn.tensor(a, requires_grad=True), numcnn.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (oa, ob), (toa, tob) = ours(sa, sb), theirs(ta, tb)
    ga, gb = rng.standard_normal(oa.shape), rng.standard_normal(ob.shape)
    ((oa * numcnn.tensor(ga)).sum() + (ob * numcnn.tensor(gb)).sum()).backward()
    torch.autograd.backward([toa, tob], [torch.tensor(ga), torch.tensor(gb)])
    np.testing.assert_allclose(sa.grad, ta.grad.numpy(), **TOL)
    np.testing.assert_allclose(sb.grad, tb.grad.numpy(), **TOL)
    assert_same_grads(ours, theirs)  # the shared conv: the sum of both uses


def test_gradients_accumulate_over_two_backward_calls():
    ours, theirs, a, b, rng = _two_input_pair()
    sa, sb = numcnn.tensor(a, requires_grad=True), numcnn.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    for _ in range(2):
        scale = rng.standard_normal()
        oa, ob = ours(sa, sb)
        (oa.sum() * scale + ob.mean()).backward()
        toa, tob = theirs(ta, tb)
        (toa.sum() * scale + tob.mean()).backward()
    np.testing.assert_allclose(sa.grad, ta.grad.numpy(), **TOL)
    np.testing.assert_allclose(sb.grad, tb.grad.numpy(), **TOL)
    assert_same_grads(ours, theirs)


def test_explicit_api_with_two_inputs_and_two_outputs_matches_torch():
    """model(a, b) on ndarrays returns a tuple of ndarrays; backward((ga, gb)) returns (da, db)."""
    ours, theirs, a, b, rng = _two_input_pair()
    oa, ob = ours(a, b)
    assert isinstance(oa, np.ndarray) and isinstance(ob, np.ndarray)
    ga, gb = rng.standard_normal(oa.shape), rng.standard_normal(ob.shape)
    da, db = ours.backward((ga, gb))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    toa, tob = theirs(ta, tb)
    torch.autograd.backward([toa, tob], [torch.tensor(ga), torch.tensor(gb)])
    np.testing.assert_allclose(da, ta.grad.numpy(), **TOL)
    np.testing.assert_allclose(db, tb.grad.numpy(), **TOL)
    assert_same_grads(ours, theirs)
    assert ours.backward((ga, gb), input_grad=False) is None  # accumulates again, returns nothing
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, 2 * p.grad.numpy(), **TOL)
