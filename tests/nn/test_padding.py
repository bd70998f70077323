"""Padding modules: the functional pad behind PyTorch's module names, against torch.nn where
importable, forward and backward."""

from __future__ import annotations

import numpy as np
import pytest

from numcnn import nn

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

NAMES = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]


def _args(name, nd):
    padding = (2, 1, 0, 1, 1, 2)[: 2 * nd]
    return (padding, 0.5) if name == "ConstantPad" else (padding,)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("batched", [True, False])
def test_pad_modules_match_torch(name, nd, batched):
    shape = ((2,) if batched else ()) + (3,) + (4, 5, 3)[:nd]
    x = np.random.default_rng(nd).standard_normal(shape)
    ours = getattr(nn, f"{name}{nd}d")(*_args(name, nd))
    theirs = getattr(torch.nn, f"{name}{nd}d")(*_args(name, nd))
    out = ours(x)
    tx = torch.tensor(x, requires_grad=True)
    tout = theirs(tx)
    np.testing.assert_array_equal(out, tout.detach().numpy())
    dout = np.random.default_rng(0).standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(ours.backward(dout), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert repr(ours) == repr(theirs)


def test_pad_module_padding_and_repr():
    assert nn.ZeroPad2d(1).padding == (1, 1, 1, 1)
    assert nn.ReflectionPad1d((1, 2)).padding == (1, 2)
    assert repr(nn.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    assert repr(nn.ReplicationPad3d(1)) == "ReplicationPad3d((1, 1, 1, 1, 1, 1))"
    with pytest.raises(ValueError, match=r"padding must be an int or a tuple of 4 ints, got \(1, 2\)"):
        nn.ReflectionPad2d((1, 2))
    with pytest.raises(ValueError, match="mode='reflect'"):
        nn.ReflectionPad2d(3)(np.zeros((1, 2, 3, 3)))


def test_pad_module_in_a_sequential_trains():
    model = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(2, 3, 3, dtype=np.float64))
    x = np.random.default_rng(1).standard_normal((4, 2, 5, 5))
    out = model(x)
    assert out.shape == (4, 3, 5, 5)
    dx = model.backward(np.ones_like(out))
    assert dx.shape == x.shape and model[1].weight.grad is not None
