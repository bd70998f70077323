"""The explicit API (``out = model(x)`` on ndarrays, ``dx = model.backward(dout)``) and the tape
give the same values and gradients, bit for bit; legacy modules with their own backward keep
working, alone and inside a Sequential driven by the tape; containers; no_grad keeps nothing."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import numcnn
import numcnn.nn.functional as F
from numcnn import nn
from numcnn.functional import relu_backward, relu_forward


def small_model():
    nn.init.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, dtype=np.float64), nn.BatchNorm2d(4, dtype=np.float64), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(4 * 3 * 3, 5, dtype=np.float64),
    )


def test_explicit_api_and_tape_give_identical_gradients():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 6, 6))
    a, b = small_model(), small_model()
    nn.init.manual_seed(9)  # the same dropout mask on both sides
    out = a(x)
    dout = rng.standard_normal(out.shape)
    dx = a.backward(dout)
    nn.init.manual_seed(9)
    xs = numcnn.tensor(x, requires_grad=True)
    outs = b(xs)
    (outs * numcnn.tensor(dout)).sum().backward()
    np.testing.assert_array_equal(out, outs.numpy())
    np.testing.assert_array_equal(dx, xs.grad)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad, err_msg=name)
    for (name, u), (_, v) in zip(a.named_buffers(), b.named_buffers()):
        np.testing.assert_array_equal(u, v, err_msg=name)


def test_explicit_backward_accumulates_and_input_grad_false_returns_none():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 6, 6))
    model = small_model().eval()
    out = model(x)
    dout = rng.standard_normal(out.shape)
    dx1 = model.backward(dout)
    once = {n: p.grad.copy() for n, p in model.named_parameters()}
    assert model.backward(dout, input_grad=False) is None
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[n], rtol=1e-12, atol=0)
    # the input's gradient is not accumulated; retain_graph=False frees the graph
    np.testing.assert_array_equal(model.backward(dout, retain_graph=False), dx1)
    with pytest.raises(RuntimeError, match="a second time"):
        model.backward(dout)
    # a new forward frees the old graph node by node: a backward through it would fail
    out = model(x)
    old_graph = model._explicit
    model(x)
    assert old_graph[1]._node.backward is None
    assert model.backward(dout) is not None


def test_backward_before_forward_and_bad_dout():
    model = small_model()
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.zeros((1, 5)))
    out = model(np.zeros((1, 2, 6, 6)))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 5\), the output has shape \(1, 5\)"):
        model.backward(np.zeros((2, 5)))
    assert out.shape == (1, 5)


class LegacyScale(nn.Module):
    """An old-style module: forward on ndarrays, its own backward, its own parameter."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(np.array([1.5, -0.5]))

    def forward(self, x):
        self.x = x
        h, self.relu_cache = relu_forward(x * self.scale.data[:, None])
        return h

    def backward(self, dout):
        dh = relu_backward(dout, self.relu_cache)
        self.scale.accumulate((dh * self.x).sum(axis=(0, 2)))
        return dh * self.scale.data[:, None]


def test_legacy_module_inside_a_sequential_driven_by_the_tape():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 4))
    dout = rng.standard_normal((3, 2, 4))
    # alone, on ndarrays: its own forward and backward, untouched
    alone = LegacyScale()
    out = alone(x)
    dx = alone.backward(dout)
    # inside a Sequential, between tape modules, driven by model.backward and by Tensor.backward
    for drive in ("explicit", "tape"):
        nn.init.manual_seed(0)
        legacy = LegacyScale()
        model = nn.Sequential(nn.Identity(), legacy, nn.LeakyReLU(1.0))
        if drive == "explicit":
            got = model(x)
            got_dx = model.backward(dout)
        else:
            xs = numcnn.tensor(x, requires_grad=True)
            y = model(xs)
            y.backward(dout)
            got, got_dx = y.numpy(), xs.grad
        np.testing.assert_array_equal(got, out)
        np.testing.assert_array_equal(got_dx, dx)
        np.testing.assert_array_equal(legacy.scale.grad, alone.scale.grad)


class TapeOnly(nn.Module):
    """A custom module with only forward, written with Tensor ops."""

    def forward(self, x):
        return x * x + 1.0


def test_custom_forward_only_module_in_a_sequential():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3))
    model = nn.Sequential(nn.Linear(3, 3, dtype=np.float64), TapeOnly())
    out = model(x)
    dx = model.backward(np.ones_like(out))
    h = x @ model[0].weight.data.T + model[0].bias.data
    np.testing.assert_allclose(out, h * h + 1.0, rtol=1e-12)
    np.testing.assert_allclose(dx, (2 * h) @ model[0].weight.data, rtol=1e-12)


def _spy_relu_caches(monkeypatch):
    """Weak references to every cache relu_forward makes from now on (nn.ReLU calls the pair)."""
    created = []
    original = numcnn.functional.relu_forward

    def spy(a):
        out, cache = original(a)
        created.append(weakref.ref(cache))
        return out, cache

    monkeypatch.setattr(numcnn.functional, "relu_forward", spy)
    return created


def test_the_graph_is_held_by_the_output_alone(monkeypatch):
    model = small_model()
    created = _spy_relu_caches(monkeypatch)
    x = numcnn.tensor(np.random.default_rng(4).standard_normal((2, 2, 6, 6)), requires_grad=True)
    out = model(x)
    assert out._node is not None
    gc.collect()
    assert created[0]() is not None  # kept for backward
    del out
    gc.collect()
    assert created[0]() is None  # nothing but the output held the graph


def test_no_grad_records_nothing_and_keeps_no_cache(monkeypatch):
    model = small_model()
    created = _spy_relu_caches(monkeypatch)
    x = numcnn.tensor(np.random.default_rng(4).standard_normal((2, 2, 6, 6)), requires_grad=True)
    with numcnn.no_grad():
        out = model(x)
        array_out = model(x.numpy())
        y = F.relu(x)
    gc.collect()
    # Sequential's fused ReLU + max pool made one per call, freed; F.relu made none (relu_values)
    assert len(created) == 2 and all(ref() is None for ref in created)
    assert out._node is None and not out.requires_grad and y._node is None
    assert isinstance(array_out, np.ndarray) and model._explicit is None
    with pytest.raises(RuntimeError, match="before forward"):
        model.backward(np.ones(out.shape))


def test_module_list_and_dict():
    layers = nn.ModuleList([nn.Linear(2, 2, dtype=np.float64)])
    layers.append(nn.ReLU()).extend([nn.Linear(2, 3, dtype=np.float64)])
    layers.insert(1, nn.Identity(54, unused="any"))
    assert len(layers) == 4 and isinstance(layers[1], nn.Identity) and isinstance(layers[-1], nn.Linear)
    assert [type(m).__name__ for m in layers] == ["Linear", "Identity", "ReLU", "Linear"]
    assert [k for k, _ in layers.named_parameters()] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    heads = nn.ModuleDict({"a": nn.Linear(3, 1, dtype=np.float64)})
    heads["b"] = nn.Linear(3, 2, dtype=np.float64)
    assert list(heads.keys()) == ["a", "b"] and "b" in heads and len(heads) == 2
    assert [type(m).__name__ for m in heads.values()] == ["Linear", "Linear"]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers, self.heads = layers, heads

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return tuple(head(x) for _, head in self.heads.items())

    net = Net()
    assert "heads.b.weight" in net.state_dict() and "layers.3.bias" in net.state_dict()
    a, b = net(np.ones((4, 2)))
    assert a.shape == (4, 1) and b.shape == (4, 2)
    net.backward((np.ones((4, 1)), None))
    assert heads["a"].weight.grad is not None and heads["b"].weight.grad is None
    net.float()
    assert layers[0].weight.dtype == np.float32 and heads["b"].bias.dtype == np.float32
    net.to(np.float64)
    assert layers[3].weight.dtype == np.float64
    del layers[1]
    assert [type(m).__name__ for m in layers] == ["Linear", "ReLU", "Linear"]
    assert heads.pop("a") is not None and list(heads) == ["b"]


def test_module_call_with_several_floating_inputs_returns_one_gradient_each():
    class Mix(nn.Module):
        def forward(self, a, b, labels):
            return F.cross_entropy(a * b, labels)

    m = Mix()
    a, b = np.ones((2, 3)), np.arange(6.0).reshape(2, 3)
    loss = m(a, b, np.array([0, 2]))
    assert np.ndim(loss) == 0
    da, db = m.backward(np.array(1.0))
    assert da.shape == db.shape == (2, 3)


@pytest.mark.parametrize(
    "nd, pool",
    [
        (2, dict(kernel_size=2)),
        (2, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        (2, dict(kernel_size=2, stride=1, dilation=2)),
        (1, dict(kernel_size=3, stride=2, padding=1)),
        (3, dict(kernel_size=2)),
    ],
)
def test_fused_relu_max_pool_is_bit_for_bit_the_unfused_pair(nd, pool, monkeypatch):
    """Sequential runs ReLU + MaxPool as one node; the values (signs of zeros and NaNs included)
    and the gradients are those of the two modules run one after the other."""
    rng = np.random.default_rng(nd)
    # small integers: ties, zeros of both signs, all-negative windows; NaNs
    x = rng.integers(-3, 3, (3, 2) + (7,) * nd).astype(np.float64)
    x[rng.random(x.shape) < 0.2] = -0.0
    x.flat[rng.integers(0, x.size, 3)] = np.nan
    dout_rng = np.random.default_rng(10)
    fused_model = nn.Sequential(nn.ReLU(), getattr(nn, f"MaxPool{nd}d")(**pool))
    fused = []
    original = F.fused.relu_max_pool
    monkeypatch.setattr(F.fused, "relu_max_pool", lambda *a, **k: fused.append(1) or original(*a, **k))
    monkeypatch.setattr(nn.activation, "relu_max_pool", F.fused.relu_max_pool)
    xs = numcnn.tensor(x, requires_grad=True)
    out = fused_model(xs)
    assert fused == [1]
    dout = dout_rng.standard_normal(out.shape)
    dout[dout_rng.random(out.shape) < 0.2] = -0.0
    out.backward(dout)
    ys = numcnn.tensor(x, requires_grad=True)
    want = fused_model[1](fused_model[0](ys))  # the modules one by one: no fusion
    want.backward(dout)
    assert len(fused) == 1
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    np.testing.assert_array_equal(np.signbit(out.numpy()), np.signbit(want.numpy()))  # -0.0 too
    # the gradient too, bit for bit: the signs of its zeros included
    np.testing.assert_array_equal(xs.grad, ys.grad)
    np.testing.assert_array_equal(np.signbit(xs.grad), np.signbit(ys.grad))


def test_no_fusion_for_leaky_relu_indices_or_subclasses():
    class MyReLU(nn.ReLU):
        def forward(self, x):
            return F.relu(x) * 2.0

    assert nn.ReLU()._fuses_with(nn.MaxPool2d(2))
    assert not nn.ReLU()._fuses_with(nn.MaxPool2d(2, return_indices=True))
    assert not nn.ReLU()._fuses_with(nn.AvgPool2d(2))
    assert not nn.LeakyReLU()._fuses_with(nn.MaxPool2d(2))
    assert not MyReLU()._fuses_with(nn.MaxPool2d(2))
    x = np.random.default_rng(0).standard_normal((1, 1, 4, 4))
    np.testing.assert_array_equal(nn.Sequential(MyReLU(), nn.MaxPool2d(2))(x), 2 * nn.MaxPool2d(2)(np.maximum(x, 0)))
