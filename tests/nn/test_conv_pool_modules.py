"""numcnn.nn conv and pooling modules (no PyTorch needed): parameters, init, dtype rule, gradient
accumulation, PyTorch state-dict names, and that modules are thin wrappers over the functions."""

from __future__ import annotations

import math

import numpy as np
import pytest

import numcnn.functional as F
from numcnn import nn
from numcnn.nn import init
from tests.gradcheck import check_op_gradients


@pytest.mark.parametrize(
    "cls,nd,kwargs,weight_shape",
    [
        (nn.Conv1d, 1, dict(in_channels=4, out_channels=6, kernel_size=3, groups=2), (6, 2, 3)),
        (nn.Conv2d, 2, dict(in_channels=3, out_channels=5, kernel_size=(3, 2)), (5, 3, 3, 2)),
        (nn.Conv3d, 3, dict(in_channels=2, out_channels=4, kernel_size=2), (4, 2, 2, 2, 2)),
        (nn.ConvTranspose1d, 1, dict(in_channels=4, out_channels=6, kernel_size=3, groups=2), (4, 3, 3)),
        (nn.ConvTranspose2d, 2, dict(in_channels=3, out_channels=5, kernel_size=(3, 2)), (3, 5, 3, 2)),
        (nn.ConvTranspose3d, 3, dict(in_channels=2, out_channels=4, kernel_size=2), (2, 4, 2, 2, 2)),
    ],
)
def test_conv_module_parameters_and_init(cls, nd, kwargs, weight_shape):
    init.manual_seed(0)
    m = cls(**kwargs)
    assert [name for name, _ in m.named_parameters()] == ["weight", "bias"]
    assert m.weight.shape == weight_shape and m.weight.dtype == np.float32
    assert m.bias.shape == (kwargs["out_channels"],)
    fan_in = weight_shape[1] * math.prod(weight_shape[2:])  # PyTorch: dim 1 times the kernel
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(m.weight.data).max() <= bound and np.abs(m.weight.data).max() > 0.5 * bound
    assert np.abs(m.bias.data).max() <= bound
    init.manual_seed(0)
    again = cls(**kwargs)
    np.testing.assert_array_equal(m.weight.data, again.weight.data)  # seeded init is deterministic
    assert cls(**kwargs, bias=False).bias is None
    assert list(cls(**kwargs, bias=False).state_dict()) == ["weight"]
    assert cls(**kwargs, dtype=np.float64).weight.dtype == np.float64


def test_conv2d_module_is_the_function_and_accumulates():
    rng = np.random.default_rng(0)
    m = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, padding_mode="replicate", dtype=np.float64)
    x = rng.standard_normal((2, 4, 7, 7))
    out = m(x)
    ref, cache = F.conv2d_forward(x, m.weight.data, m.bias.data, 2, 1, 1, 2, padding_mode="replicate")
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape)
    dx = m.backward(dout)
    rdx, rdw, rdb = F.conv2d_backward(dout, cache)
    np.testing.assert_array_equal(dx, rdx)
    m(x)
    m.backward(dout)
    np.testing.assert_allclose(m.weight.grad, 2 * rdw)  # accumulated, not overwritten
    np.testing.assert_allclose(m.bias.grad, 2 * rdb)
    m.zero_grad()
    assert m.weight.grad is None


def test_conv_transpose_module_gradient_and_output_size():
    rng = np.random.default_rng(1)
    m = nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, dtype=np.float64)
    x = rng.standard_normal((1, 2, 3, 3))
    assert m(x).shape == (1, 3, 5, 5)
    out = m(x, output_size=(6, 6))
    assert out.shape == (1, 3, 6, 6)
    dout = rng.standard_normal(out.shape)
    check_op_gradients(lambda x: (m(x, output_size=(6, 6)), None), lambda d, _: m.backward(d), {"x": x},
                       dout=dout, h=1e-5, rtol=1e-7, atol=1e-7)
    with pytest.raises(ValueError, match="output_size"):
        m(x, output_size=(7, 7))
    with pytest.raises(ValueError, match="Only 'zeros' padding mode"):
        nn.ConvTranspose2d(2, 3, 3, padding_mode="reflect")


def test_module_dtype_mismatch_is_a_clear_type_error():
    m = nn.Conv2d(1, 1, 3)
    with pytest.raises(TypeError, match=r"Conv2d: input dtype float64 does not match the parameters' dtype float32"):
        m(np.zeros((1, 1, 5, 5)))
    t = nn.ConvTranspose1d(1, 1, 3, dtype=np.float64)
    with pytest.raises(TypeError, match="ConvTranspose1d: input dtype float32 .* float64"):
        t(np.zeros((1, 1, 5), np.float32))


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.AvgPool2d(2).backward(np.zeros((1, 1, 1, 1)))


def test_unknown_padding_mode_in_module():
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")


@pytest.mark.parametrize(
    "module,fwd,bwd,kwargs",
    [
        (nn.MaxPool1d(3, 2, 1, ceil_mode=True), F.max_pool1d_forward, F.max_pool1d_backward, dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
        (nn.MaxPool3d(2), F.max_pool3d_forward, F.max_pool3d_backward, dict(kernel_size=2)),
        (nn.AvgPool1d(3, 2, 1, count_include_pad=False), F.avg_pool1d_forward, F.avg_pool1d_backward,
         dict(kernel_size=3, stride=2, padding=1, count_include_pad=False)),
        (nn.AvgPool2d(3, 2, 1, ceil_mode=True, divisor_override=2), F.avg_pool2d_forward, F.avg_pool2d_backward,
         dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=2)),
        (nn.AvgPool3d(2, 1), F.avg_pool3d_forward, F.avg_pool3d_backward, dict(kernel_size=2, stride=1)),
        (nn.AdaptiveAvgPool2d((3, None)), F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward, dict(output_size=(3, None))),
        (nn.AdaptiveAvgPool1d(2), F.adaptive_avg_pool1d_forward, F.adaptive_avg_pool1d_backward, dict(output_size=2)),
        (nn.AdaptiveMaxPool2d(2), F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward, dict(output_size=2)),
        (nn.AdaptiveMaxPool3d(1), F.adaptive_max_pool3d_forward, F.adaptive_max_pool3d_backward, dict(output_size=1)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_pool_modules_wrap_functions(module, fwd, bwd, kwargs):
    nd = module._nd
    x = np.random.default_rng(2).standard_normal((2, 3) + (5,) * nd).astype(np.float32)
    out = module(x)
    ref, cache = fwd(x, **kwargs)
    np.testing.assert_array_equal(out, ref)
    assert out.dtype == np.float32
    dout = np.ones_like(out)
    np.testing.assert_array_equal(module.backward(dout), bwd(dout, cache))
    assert list(module.state_dict()) == []


def test_max_pool_indices_and_unpool_modules():
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6))
    pool = nn.MaxPool2d(2, return_indices=True)
    out, idx = pool(x)
    unpool = nn.MaxUnpool2d(2)
    y = unpool(out, idx)
    assert y.shape == x.shape and np.count_nonzero(y) == out.size
    dx = unpool.backward(np.ones_like(y))
    np.testing.assert_array_equal(dx, np.ones_like(out))
    pdx = pool.backward(dx)
    assert pdx.shape == x.shape and pdx.sum() == out.size
    (aout, aidx) = nn.AdaptiveMaxPool2d(3, return_indices=True)(x)
    assert aout.shape == aidx.shape == (2, 3, 3, 3)


def test_sequential_with_family_modules_and_global_pool():
    init.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        nn.AvgPool2d(2),
        nn.ConvTranspose2d(4, 2, 2, stride=2),
        nn.AdaptiveAvgPool2d(1),
    )
    x = np.random.default_rng(4).standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = model(x)
    assert out.shape == (2, 2, 1, 1) and out.dtype == np.float32
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert sorted(model.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]


def test_family_modules_convert_with_to():
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), nn.ConvTranspose2d(3, 2, 2, stride=2),
                          nn.AdaptiveMaxPool2d(2))
    x = np.random.default_rng(5).standard_normal((1, 2, 4, 4))
    with pytest.raises(TypeError, match="model.to"):
        model(x)
    out = model.double()(x)
    assert out.dtype == np.float64 and model[1].weight.dtype == np.float64
    assert model.backward(np.ones_like(out)).dtype == np.float64
