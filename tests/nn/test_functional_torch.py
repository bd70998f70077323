"""Every numcnn.nn.functional function against torch.nn.functional in float64: the output, and
the gradient of every input and parameter through the tape (``out.backward(dout)``), to 1e-9.
A few are also checked against centred differences (no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn
import numcnn.nn.functional as F
from numcnn import functional as pairs
from tests.helpers import numeric_grad

TOL = dict(rtol=1e-9, atol=1e-9)
rng = np.random.default_rng(13)


def randn(*shape):
    return rng.standard_normal(shape)


# name -> (input shapes: x first, then parameters; numcnn call; torch call).  Each call takes the
# inputs in order; keyword options are the same on both sides.
CASES = {
    "conv1d": ([(2, 4, 9), (6, 2, 3), (6,)], lambda F_, x, w, b: F_.conv1d(x, w, b, stride=2, padding=1, groups=2)),
    "conv2d": ([(2, 3, 7, 6), (4, 3, 3, 2), (4,)], lambda F_, x, w, b: F_.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2))),
    "conv2d_same": ([(1, 2, 6, 6), (3, 2, 3, 3)], lambda F_, x, w: F_.conv2d(x, w, padding="same")),
    "conv3d": ([(1, 2, 5, 4, 4), (3, 2, 2, 3, 2), (3,)], lambda F_, x, w, b: F_.conv3d(x, w, b, padding=(1, 0, 1))),
    "conv_transpose1d": ([(2, 4, 5), (4, 3, 3), (6,)],
                         lambda F_, x, w, b: F_.conv_transpose1d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)),
    "conv_transpose2d": ([(2, 3, 4, 5), (3, 2, 3, 3), (2,)],
                         lambda F_, x, w, b: F_.conv_transpose2d(x, w, b, stride=2, padding=1, dilation=1)),
    "conv_transpose3d": ([(1, 2, 3, 3, 2), (2, 3, 2, 2, 2)], lambda F_, x, w: F_.conv_transpose3d(x, w, stride=(1, 2, 1))),
    "max_pool1d": ([(2, 3, 9)], lambda F_, x: F_.max_pool1d(x, 3, stride=2, padding=1)),
    "max_pool2d": ([(2, 3, 7, 7)], lambda F_, x: F_.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)),
    "max_pool3d": ([(1, 2, 4, 5, 4)], lambda F_, x: F_.max_pool3d(x, 2, dilation=(1, 2, 1))),
    "avg_pool1d": ([(2, 3, 9)], lambda F_, x: F_.avg_pool1d(x, 3, stride=2, padding=1, count_include_pad=False)),
    "avg_pool2d": ([(2, 3, 7, 7)], lambda F_, x: F_.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)),
    "avg_pool2d_divisor": ([(1, 2, 6, 6)], lambda F_, x: F_.avg_pool2d(x, 2, divisor_override=3)),
    "avg_pool3d": ([(1, 2, 4, 4, 4)], lambda F_, x: F_.avg_pool3d(x, 2)),
    "adaptive_avg_pool1d": ([(2, 3, 10)], lambda F_, x: F_.adaptive_avg_pool1d(x, 4)),
    "adaptive_avg_pool2d": ([(2, 3, 7, 5)], lambda F_, x: F_.adaptive_avg_pool2d(x, (3, 2))),
    "adaptive_avg_pool3d": ([(1, 2, 5, 4, 3)], lambda F_, x: F_.adaptive_avg_pool3d(x, 2)),
    "adaptive_max_pool1d": ([(2, 3, 10)], lambda F_, x: F_.adaptive_max_pool1d(x, 4)),
    "adaptive_max_pool2d": ([(2, 3, 7, 5)], lambda F_, x: F_.adaptive_max_pool2d(x, (3, 2))),
    "adaptive_max_pool3d": ([(1, 2, 5, 4, 3)], lambda F_, x: F_.adaptive_max_pool3d(x, 2)),
    "linear": ([(4, 3, 5), (6, 5), (6,)], lambda F_, x, w, b: F_.linear(x, w, b)),
    "linear_no_bias": ([(4, 5), (6, 5)], lambda F_, x, w: F_.linear(x, w)),
    "relu": ([(3, 4, 5)], lambda F_, x: F_.relu(x)),
    "leaky_relu": ([(3, 4, 5)], lambda F_, x: F_.leaky_relu(x, 0.2)),
    "dropout_eval": ([(3, 4)], lambda F_, x: F_.dropout(x, 0.3, training=False)),
    "layer_norm": ([(3, 4, 5), (4, 5), (4, 5)], lambda F_, x, w, b: F_.layer_norm(x, (4, 5), w, b, eps=1e-3)),
    "group_norm": ([(3, 6, 4, 2), (6,), (6,)], lambda F_, x, w, b: F_.group_norm(x, 3, w, b)),
}


def _run(call, F_, arrays, make):
    tensors = [make(a) for a in arrays]
    out = call(F_, *tensors)
    return tensors, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_function_matches_torch(name):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    shapes, call = CASES[name]
    arrays = [randn(*s) for s in shapes]
    ours, out = _run(call, F, arrays, lambda a: numcnn.tensor(a, requires_grad=True))
    theirs, tout = _run(call, tf, arrays, lambda a: torch.tensor(a, requires_grad=True))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    assert out.dtype == np.float64
    dout = randn(*out.shape)
    out.backward(dout)
    tout.backward(torch.tensor(dout))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), err_msg=f"{name} input {i}", **TOL)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch_and_updates_running_stats_in_place(training):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    x, w, b = randn(4, 3, 5, 2), randn(3), randn(3)
    mean, var = randn(3), rng.random(3) + 0.5
    rm, rv = mean.copy(), var.copy()
    rm_id = id(rm)
    xs, ws, bs = (numcnn.tensor(a, requires_grad=True) for a in (x, w, b))
    out = F.batch_norm(xs, rm, rv, ws, bs, training=training, momentum=0.3, eps=1e-4)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    trm, trv = torch.tensor(mean), torch.tensor(var)
    tout = tf.batch_norm(xt, trm, trv, wt, bt, training=training, momentum=0.3, eps=1e-4)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **TOL)
    assert id(rm) == rm_id
    np.testing.assert_allclose(rm, trm.numpy(), **TOL)
    np.testing.assert_allclose(rv, trv.numpy(), **TOL)
    dout = randn(*x.shape)
    out.backward(dout)
    tout.backward(torch.tensor(dout))
    for a, t in ((xs, xt), (ws, wt), (bs, bt)):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), **TOL)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3, 2)])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_cross_entropy_matches_torch(label_smoothing, shape, as_tensor):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    logits = randn(*shape) * 3
    y = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    lt = numcnn.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(lt, numcnn.tensor(y) if as_tensor else y, label_smoothing=label_smoothing)
    assert loss.shape == () and loss.dtype == np.float64
    tl = torch.tensor(logits, requires_grad=True)
    tloss = tf.cross_entropy(tl, torch.tensor(y), label_smoothing=label_smoothing)
    assert loss.item() == pytest.approx(tloss.item(), rel=1e-12)
    (loss * 2.5).backward()  # the pair's dlogits, scaled by the incoming gradient
    (tloss * 2.5).backward()
    np.testing.assert_allclose(lt.grad, tl.grad.numpy(), **TOL)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_indices_and_unpool_match_torch(nd):
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    x = randn(*((2, 3) + (6,) * nd))
    pool, unpool = getattr(F, f"max_pool{nd}d"), getattr(F, f"max_unpool{nd}d")
    tpool, tunpool = getattr(tf, f"max_pool{nd}d"), getattr(tf, f"max_unpool{nd}d")
    xs = numcnn.tensor(x, requires_grad=True)
    out, idx = pool(xs, 2, return_indices=True)
    assert not idx.requires_grad and idx.dtype == np.int64
    y = unpool(out * 1.5, idx, 2)
    xt = torch.tensor(x, requires_grad=True)
    tout, tidx = tpool(xt, 2, return_indices=True)
    ty = tunpool(tout * 1.5, tidx, 2)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL)
    dout = randn(*y.shape)
    y.backward(dout)
    ty.backward(torch.tensor(dout))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), **TOL)


def test_adaptive_max_pool_indices_match_torch():
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.nn.functional")
    x = randn(2, 3, 7, 5)
    out, idx = F.adaptive_max_pool2d(numcnn.tensor(x), (3, 2), return_indices=True)
    tout, tidx = tf.adaptive_max_pool2d(torch.tensor(x), (3, 2), return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_allclose(out.numpy(), tout.numpy(), **TOL)


# --- without torch ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["conv2d", "conv_transpose2d", "avg_pool2d", "layer_norm", "group_norm", "linear"])
def test_input_gradient_matches_centred_differences(name):
    shapes, call = CASES[name]
    arrays = [randn(*s) for s in shapes]
    x = numcnn.tensor(arrays[0], requires_grad=True)
    out = call(F, x, *arrays[1:])
    dout = randn(*out.shape)
    out.backward(dout)
    num = numeric_grad(lambda v: call(F, v, *arrays[1:]).numpy(), arrays[0], dout)
    np.testing.assert_allclose(x.grad, num, rtol=1e-6, atol=1e-8)


def test_dropout_masks_follow_manual_seed_and_the_pair():
    x = numcnn.tensor(np.ones((40, 30)), requires_grad=True)
    numcnn.nn.init.manual_seed(5)
    a = F.dropout(x, 0.4)
    numcnn.nn.init.manual_seed(5)
    want, cache = pairs.dropout_forward(x.numpy(), 0.4, True, numcnn.nn.init.get_rng())
    np.testing.assert_array_equal(a.numpy(), want)
    a.backward(np.ones_like(want))
    np.testing.assert_array_equal(x.grad, cache.mask)


def test_constants_get_no_gradient_and_conv_skips_dx(monkeypatch):
    """An ndarray input is a constant; an input that does not require grad gets no dx computed."""
    x, w = randn(2, 3, 5, 5), numcnn.tensor(randn(4, 3, 3, 3), requires_grad=True)
    out = F.conv2d(x, w)
    out.backward(np.ones(out.shape))
    assert w.grad is not None
    seen = []
    original = pairs.conv2d_backward

    def spy(dout, cache, *, input_grad=True):
        seen.append(input_grad)
        return original(dout, cache, input_grad=input_grad)

    monkeypatch.setattr(pairs, "conv2d_backward", spy)
    F.conv2d(numcnn.tensor(x), w).sum().backward()
    F.conv2d(numcnn.tensor(x, requires_grad=True), w).sum().backward()
    assert seen == [False, True]


def test_float32_kept():
    x = numcnn.tensor(randn(2, 3, 6, 6).astype(np.float32), requires_grad=True)
    w = numcnn.tensor(randn(4, 3, 3, 3).astype(np.float32), requires_grad=True)
    out = F.relu(F.max_pool2d(F.conv2d(x, w), 2))
    loss = F.cross_entropy(out.flatten(1), np.array([0, 3]))
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
