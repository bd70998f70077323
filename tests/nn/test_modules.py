"""numcnn.nn modules without torch: the Module contract (forward caches, backward accumulates,
state dicts with PyTorch's keys, dtype rules), init, determinism, and error messages."""

import numpy as np
import pytest

from numcnn import nn
from numcnn.nn import init
from tests.gradcheck import check_op_gradients, rel_error


def small_model(dtype=np.float64):
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(12, 8, dtype=dtype),
        nn.LeakyReLU(0.1),
        nn.BatchNorm1d(8, dtype=dtype),
        nn.Dropout(0.0),
        nn.Linear(8, 3, dtype=dtype),
    )


def test_sequential_gradients_match_numeric():
    init.manual_seed(0)
    model = small_model()
    x = np.random.default_rng(1).standard_normal((5, 3, 2, 2))
    y = np.array([0, 1, 2, 1, 0])
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    crit(model(x), y)
    dx = model.backward(crit.backward())
    for name, p in model.named_parameters():
        def loss_of(value, p=p):
            old = p.data
            p.data = value
            try:
                return np.array(crit(model(x), y)), None
            finally:
                p.data = old

        check_op_gradients(loss_of, lambda d, _, p=p: p.grad * d, {"value": p.data}, wrt=("value",),
                           dout=np.array(1.0), h=1e-5, max_rel_error=1e-6)
    check_op_gradients(lambda x: (np.array(crit(model(x), y)), None), lambda d, _: dx * d, {"x": x},
                       dout=np.array(1.0), h=1e-5, max_rel_error=1e-6)


def test_backward_accumulates_until_zero_grad():
    lin = nn.Linear(3, 2)
    x = np.ones((4, 3), np.float32)
    lin(x)
    lin.backward(np.ones((4, 2), np.float32))
    g = lin.weight.grad.copy()
    lin.backward(np.ones((4, 2), np.float32))
    np.testing.assert_array_equal(lin.weight.grad, 2 * g)
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_names_state_dict_and_buffers_follow_pytorch():
    model = small_model(np.float32)
    assert [k for k, _ in model.named_parameters()] == ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"]
    assert list(model.state_dict()) == [
        "1.weight", "1.bias", "3.weight", "3.bias", "3.running_mean", "3.running_var", "3.num_batches_tracked",
        "5.weight", "5.bias",
    ]
    assert model.num_parameters() == 12 * 8 + 8 + 8 + 8 + 8 * 3 + 3
    assert isinstance(model[3], nn.BatchNorm1d) and len(model) == 6 and len(model[1:3]) == 2
    assert list(model[3:].state_dict())[:2] == ["3.weight", "3.bias"]  # slices keep names, as PyTorch
    model(np.ones((4, 12), np.float32) * np.arange(4, dtype=np.float32)[:, None])
    assert int(model[3].num_batches_tracked) == 1
    assert "3.running_mean" in model.state_dict() and model[3].running_mean.any()  # reassigned buffer stays a buffer


def test_load_state_dict_roundtrip_dtype_and_errors():
    src, dst = small_model(np.float64), small_model(np.float32)
    state = src.state_dict()
    dst.load_state_dict(state)
    assert dst[1].weight.dtype == np.float64  # parameters take the loaded dtype
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v, state[k])
    # num_batches_tracked is optional (older checkpoints lack it)
    dst.load_state_dict({k: v for k, v in state.items() if "num_batches" not in k})
    with pytest.raises(KeyError, match=r"missing keys \['5.bias'\], unexpected keys \['6.weight'\]"):
        dst.load_state_dict({**{k: v for k, v in state.items() if k != "5.bias"}, "6.weight": np.zeros(1)})
    bad = dict(state)
    bad["1.weight"] = np.zeros((8, 11))
    with pytest.raises(ValueError, match=r"1.weight: expected \(8, 12\), got \(8, 11\)"):
        dst.load_state_dict(bad)
    bad["1.weight"] = np.zeros((8, 12), dtype=np.int64)
    with pytest.raises(TypeError, match=r"floating arrays expected for 1.weight \(int64\)"):
        dst.load_state_dict(bad)


def test_to_dtype_and_input_dtype_errors():
    model = small_model(np.float32)
    with pytest.raises(TypeError, match=r"Linear: input dtype float64 does not match the parameters' dtype float32"):
        model(np.ones((2, 12)))
    model.to(np.float64)
    assert all(p.dtype == np.float64 for p in model.parameters()) and model[3].running_var.dtype == np.float64
    assert model[3].num_batches_tracked.dtype == np.int64
    assert model(np.ones((2, 12))).dtype == np.float64
    assert model.float()(np.ones((2, 12), np.float32)).dtype == np.float32


def test_float32_end_to_end():
    model = small_model(np.float32)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2)).astype(np.float32)
    out = model(x)
    crit = nn.CrossEntropyLoss()
    crit(out, np.array([0, 1, 2, 0]))
    dx = model.backward(crit.backward())
    assert out.dtype == dx.dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_linear_init_bounds_and_seed():
    init.manual_seed(3)
    a = nn.Linear(100, 50)
    init.manual_seed(3)
    b = nn.Linear(100, 50)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.shape == (50, 100) and a.weight.dtype == np.float32
    assert np.abs(a.weight.data).max() <= 0.1 and np.abs(a.weight.data).max() > 0.09
    assert np.abs(a.bias.data).max() <= 0.1
    assert nn.Linear(4, 2, bias=False).bias is None
    assert list(nn.Linear(4, 2, bias=False).state_dict()) == ["weight"]


def test_dropout_module_train_eval_and_determinism():
    x = np.ones((50, 40), np.float32)
    d = nn.Dropout(0.5)
    init.manual_seed(11)
    a = d(x)
    init.manual_seed(11)
    b = d(x)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(d.backward(np.ones_like(x)), a)  # the same mask scales the gradient
    assert set(np.unique(a).tolist()) == {0.0, 2.0}
    d.eval()
    assert d(x) is x and d.backward(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.2)


def test_batchnorm_modes():
    bn = nn.BatchNorm2d(3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 3, 2, 2)) * 3 + 2
    out = bn(x)
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean, 0.1 * x.mean(axis=(0, 2, 3)))
    bn.eval()
    rm = bn.running_mean.copy()
    bn(x)
    np.testing.assert_array_equal(bn.running_mean, rm)  # eval never updates
    free = nn.BatchNorm2d(3, track_running_stats=False, dtype=np.float64).eval()
    np.testing.assert_allclose(free(x).mean(axis=(0, 2, 3)), 0, atol=1e-12)  # batch stats even in eval
    assert list(free.state_dict()) == ["weight", "bias"]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: nn.BatchNorm2d(3)(np.ones((2, 3, 4), np.float32)), ValueError, r"BatchNorm2d expects x of shape \(N, C, H, W\)"),
        (lambda: nn.BatchNorm1d(3)(np.ones((2, 4), np.float32)), ValueError, r"BatchNorm1d\(3\) got x with 4 channels"),
        (lambda: nn.BatchNorm2d(0), ValueError, "num_features must be a positive int"),
        (lambda: nn.BatchNorm1d(3)(np.ones((1, 3), np.float32)), ValueError, "more than 1 value per channel"),
        (lambda: nn.Linear(4, 2)(np.ones((3, 5), np.float32)), ValueError, r"5 features.*in_features=4"),
        (lambda: nn.Linear(-1, 2), ValueError, "in_features must be a non-negative int"),
        (lambda: nn.Flatten(2)(np.ones((2, 3), np.float32)), ValueError, r"out of range for x of shape \(2, 3\)"),
        (lambda: nn.ReLU().backward(np.ones(3)), RuntimeError, r"ReLU.backward\(\) called before forward\(\)"),
        (lambda: nn.CrossEntropyLoss()(np.ones((2, 3), np.float32), np.array([0, 3])), ValueError, r"labels must be in \[0, 2\]"),
        (lambda: nn.Sequential(nn.ReLU(), "relu"), TypeError, "argument 1 is str"),
        (lambda: nn.GroupNorm(4, 6), ValueError, "divisible"),
    ],
)
def test_module_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_repr_reads_like_pytorch():
    text = repr(small_model(np.float32))
    assert "(1): Linear(in_features=12, out_features=8, bias=True)" in text
    assert "(3): BatchNorm1d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)" in text


# --- Sequential runs a max pool before the ReLU in front of it -------------------------------


def _layer_by_layer(model, x, dout):
    """Forward and backward through ``model``'s modules one at a time, in the written order."""
    layers = list(model)
    for layer in layers:
        x = layer(x)
    out = x
    for layer in reversed(layers):
        dout = layer.backward(dout)
    return out, dout


@pytest.mark.parametrize(
    "pool",
    [
        dict(kernel_size=2),
        dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),  # overlapping, padded, ceil
        dict(kernel_size=2, stride=1, dilation=2),
    ],
)
def test_sequential_relu_pool_gives_the_layer_by_layer_results(pool):
    rng = np.random.default_rng(0)
    # small integers: many ties, exact zeros, all-negative windows; and a NaN
    x = rng.integers(-3, 3, (3, 2, 9, 9)).astype(np.float64)
    x[1, 0, 4, 4] = np.nan
    nn.init.manual_seed(0)
    model = nn.Sequential(
        nn.ReLU(), nn.MaxPool2d(**pool), nn.Conv2d(2, 3, 3, padding=1, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2)
    )
    out = model(x)
    dout = rng.standard_normal(out.shape)
    dx = model.backward(dout)
    grads = {name: p.grad.copy() for name, p in model.named_parameters()}
    model.zero_grad()
    want_out, want_dx = _layer_by_layer(model, x, dout)
    np.testing.assert_array_equal(out, want_out)  # NaN == NaN here; -0.0 == 0.0
    np.testing.assert_array_equal(dx, want_dx)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(grads[name], p.grad, err_msg=name)


def test_sequential_slices_agree():
    """model[:k] is a new Sequential each time; forward and backward through it match the layers."""
    rng = np.random.default_rng(1)
    nn.init.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, dtype=np.float64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    x = rng.standard_normal((2, 1, 8, 8))
    h = model[:3](x)
    dx = model[:3].backward(np.ones_like(h))
    want_h, want_dx = _layer_by_layer(model[:3], x, np.ones_like(h))
    np.testing.assert_array_equal(h, want_h)
    np.testing.assert_array_equal(dx, want_dx)
