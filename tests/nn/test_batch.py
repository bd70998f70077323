"""Unbatched (C, *spatial) inputs through the conv and pool modules: the batch of one without its
axis, and PyTorch's modules where importable (BatchNorm2d refuses them, as PyTorch's)."""

from __future__ import annotations

import numpy as np
import pytest

from numcnn import nn

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not importable")

SPATIAL = {1: (10,), 2: (8, 9), 3: (6, 6, 5)}


def _modules(nd):
    """(constructor name, args, kwargs) for every module family that takes unbatched input."""
    return [
        (f"Conv{nd}d", (3, 4, 3), dict(stride=2, padding=1, padding_mode="circular")),
        (f"ConvTranspose{nd}d", (3, 2, 3), dict(stride=2, output_padding=1)),
        (f"MaxPool{nd}d", (3,), dict(stride=2, padding=1)),
        (f"AvgPool{nd}d", (3,), dict(stride=2, padding=1, count_include_pad=False)),
        (f"AdaptiveAvgPool{nd}d", ((3,) * nd,), {}),
        (f"AdaptiveMaxPool{nd}d", ((3,) * nd,), {}),
    ]


def _pair(name, args, kwargs):
    """The numcnn module and, where importable, the torch module with the same parameters."""
    extra = {"dtype": np.float64} if "Conv" in name else {}
    ours = getattr(nn, name)(*args, **kwargs, **extra)
    theirs = None
    if torch is not None:
        theirs = getattr(torch.nn, name)(*args, **kwargs).double()
        if "Conv" in name:
            with torch.no_grad():
                theirs.weight.copy_(torch.tensor(ours.weight.data))
                theirs.bias.copy_(torch.tensor(ours.bias.data))
    return ours, theirs


CASES = [(nd,) + module for nd in (1, 2, 3) for module in _modules(nd)]


def _unbatched_pass(nd, name, args, kwargs):
    """The module pair, the unbatched x, and the numcnn module's output, a seeded dout and dx."""
    x = np.random.default_rng(nd).standard_normal((3,) + SPATIAL[nd])
    ours, theirs = _pair(name, args, kwargs)
    out = ours(x)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    return ours, theirs, x, out, dout, ours.backward(dout)


@pytest.mark.parametrize("nd,name,args,kwargs", CASES)
def test_unbatched_modules_are_the_batch_of_one(nd, name, args, kwargs):
    ours, _, x, out, dout, dx = _unbatched_pass(nd, name, args, kwargs)
    grads = [p.grad.copy() for p in ours.parameters()]
    ours.zero_grad()
    np.testing.assert_array_equal(out, ours(x[None])[0])
    np.testing.assert_allclose(dx, ours.backward(dout[None])[0], rtol=1e-12, atol=1e-12)
    for g, p in zip(grads, ours.parameters()):
        np.testing.assert_allclose(g, p.grad, rtol=1e-12)


@needs_torch
@pytest.mark.torch
@pytest.mark.parametrize("nd,name,args,kwargs", CASES)
def test_unbatched_modules_match_torch(nd, name, args, kwargs):
    ours, theirs, x, out, dout, dx = _unbatched_pass(nd, name, args, kwargs)
    tx = torch.tensor(x, requires_grad=True)
    tout = theirs(tx)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    tout.backward(torch.tensor(dout))
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for (pname, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=pname)


def test_unbatched_pool_indices_and_unpool_module():
    x = np.random.default_rng(0).standard_normal((2, 6, 7))
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    out, indices = pool(x)
    assert out.shape == indices.shape == (2, 3, 3)
    restored = unpool(out, indices, output_size=(6, 7))
    assert restored.shape == (2, 6, 7)
    np.testing.assert_array_equal(restored.max(axis=(1, 2)), out.max(axis=(1, 2)))
    assert unpool.backward(np.ones_like(restored)).shape == (2, 3, 3)
    assert pool.backward(np.ones_like(out)).shape == x.shape


def test_unbatched_conv_transpose_output_size():
    x = np.random.default_rng(0).standard_normal((3, 5, 5))
    deconv = nn.ConvTranspose2d(3, 2, 3, stride=2, dtype=np.float64)
    assert deconv(x, output_size=(12, 12)).shape == (2, 12, 12)
    assert deconv(x, output_size=(2, 12, 12)).shape == (2, 12, 12)  # (C, H, W), as PyTorch takes
    assert deconv(x[None], output_size=(1, 2, 12, 12)).shape == (1, 2, 12, 12)
    with pytest.raises(ValueError, match=r"output_size must have 2 or 3 elements"):
        deconv(x, output_size=(1, 2, 12, 12))


def test_batch_norm_still_refuses_unbatched_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d expects x of shape \(N, C, H, W\)"):
        nn.BatchNorm2d(3)(np.zeros((3, 4, 4), np.float32))
