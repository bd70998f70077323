"""numcnn.nn modules and functional layer ops against PyTorch in float64 (live oracle), including
the issue-4 target: a Conv/BatchNorm/ReLU/MaxPool/grouped-strided Conv/AvgPool/Flatten/Dropout/
Linear Sequential loaded from a torch state dict gives the same eval logits and train-mode
parameter gradients to 1e-9."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as TF  # noqa: E402

from numcnn import functional as F  # noqa: E402
from numcnn import nn  # noqa: E402

TOL = dict(rtol=1e-9, atol=1e-11)


def t64(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def load_from_torch(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours


def run_both(ours, theirs, x, seed=0):
    """Forward both on x, backward a random dout; return (out, dx) pairs."""
    xt = t64(x, grad=True)
    out_t = theirs(xt)
    out = ours(x)
    dout = np.random.default_rng(seed).standard_normal(out.shape)
    out_t.backward(t64(dout))
    dx = ours.backward(dout)
    return (out, out_t.detach().numpy()), (dx, xt.grad.numpy())


def assert_params_match(ours, theirs):
    named = dict(theirs.named_parameters())
    ours_named = dict(ours.named_parameters())
    assert set(named) == set(ours_named)
    for name, p in ours_named.items():
        np.testing.assert_allclose(p.grad, named[name].grad.numpy(), err_msg=name, **TOL)
    for name, buf in theirs.named_buffers():
        np.testing.assert_allclose(ours.state_dict()[name], buf.numpy(), err_msg=name, **TOL)


rng = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(shape, bias):
    theirs = torch.nn.Linear(7, 4, bias=bias).double()
    ours = load_from_torch(nn.Linear(7, 4, bias=bias), theirs)
    assert ours.weight.dtype == np.float64  # parameters take the loaded dtype
    for a, b in run_both(ours, theirs, rng.standard_normal(shape)):
        np.testing.assert_allclose(a, b, **TOL)
    assert_params_match(ours, theirs)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.LeakyReLU(), torch.nn.LeakyReLU()),
        (nn.LeakyReLU(0.3), torch.nn.LeakyReLU(0.3)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 2), torch.nn.Flatten(0, 2)),
        (nn.Flatten(-2, -1), torch.nn.Flatten(-2, -1)),
        (nn.Dropout(0.0), torch.nn.Dropout(0.0)),
        (nn.Identity(), torch.nn.Identity()),
    ],
    ids=repr,
)
def test_parameterless_modules(ours, theirs):
    x = rng.standard_normal((3, 4, 2, 5))
    x[0, 0, 0, :2] = 0.0  # the gradient rule at exactly 0
    for a, b in run_both(ours, theirs, x):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("slope", [None, 0.01, 0.0, -0.5, 0.3])
def test_activation_edge_values_bit_exact(dtype, slope):
    """Signed zeros, NaN and infinities in x and dout: the same bits as torch, in float32 too."""
    x = np.array([-2.0, -0.0, 0.0, 1.5, np.nan, np.inf, -np.inf, -3.3, 1e-30], dtype=dtype)
    d = np.array([1.0, 2.0, 3.0, np.inf, 5.0, 6.0, np.inf, 7.7, np.nan], dtype=dtype)
    if slope is None:
        out, cache = F.relu_forward(x)
        dx = F.relu_backward(d, cache)
        xt = torch.tensor(x, requires_grad=True)
        ot = torch.relu(xt)
    else:
        out, cache = F.leaky_relu_forward(x, slope)
        dx = F.leaky_relu_backward(d, cache)
        xt = torch.tensor(x, requires_grad=True)
        ot = TF.leaky_relu(xt, slope)
    ot.backward(torch.tensor(d))
    assert out.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(out, ot.detach().numpy())
    np.testing.assert_array_equal(dx, xt.grad.numpy())


def test_dropout_eval_is_identity_like_torch():
    x = rng.standard_normal((4, 6))
    ours, theirs = nn.Dropout(0.7).eval(), torch.nn.Dropout(0.7).eval()
    for a, b in run_both(ours, theirs, x):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "cls,tcls,shape",
    [
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
        (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
        (nn.BatchNorm2d, torch.nn.BatchNorm2d, (4, 3, 5, 2)),
        (nn.BatchNorm3d, torch.nn.BatchNorm3d, (2, 3, 2, 3, 2)),
    ],
)
@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(momentum=0.3, eps=1e-3), dict(momentum=None), dict(affine=False), dict(track_running_stats=False)],
    ids=["default", "momentum0.3", "cumulative", "no-affine", "no-running-stats"],
)
def test_batch_norm_train_then_eval(cls, tcls, shape, kwargs):
    theirs = tcls(3, **kwargs).double()
    if theirs.affine:
        with torch.no_grad():
            theirs.weight.normal_()
            theirs.bias.normal_()
    ours = load_from_torch(cls(3, **kwargs), theirs)
    for step in range(3):  # several train steps: the running statistics accumulate
        x = rng.standard_normal(shape) * 2 + step
        theirs.zero_grad()
        ours.zero_grad()
        for a, b in run_both(ours, theirs, x, seed=step):
            np.testing.assert_allclose(a, b, **TOL)
        if theirs.affine:
            assert_params_match(ours, theirs)
    sd = ours.state_dict()
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(sd[k], v.numpy(), **TOL)
    ours.eval()
    theirs.eval()
    for a, b in run_both(ours, theirs, rng.standard_normal(shape)):
        np.testing.assert_allclose(a, b, **TOL)


def test_layer_norm_and_group_norm():
    theirs = torch.nn.LayerNorm((4, 5)).double()
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = load_from_torch(nn.LayerNorm((4, 5)), theirs)
    for a, b in run_both(ours, theirs, rng.standard_normal((3, 4, 5))):
        np.testing.assert_allclose(a, b, **TOL)
    assert_params_match(ours, theirs)
    theirs = torch.nn.GroupNorm(2, 6).double()
    with torch.no_grad():
        theirs.weight.normal_()
        theirs.bias.normal_()
    ours = load_from_torch(nn.GroupNorm(2, 6), theirs)
    for a, b in run_both(ours, theirs, rng.standard_normal((3, 6, 2, 3))):
        np.testing.assert_allclose(a, b, **TOL)
    assert_params_match(ours, theirs)


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.5])
@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4)])
def test_cross_entropy(label_smoothing, shape):
    logits = rng.standard_normal(shape) * 4
    y = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    crit = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    loss = crit(logits, y)
    lt = t64(logits, grad=True)
    tloss = torch.nn.CrossEntropyLoss(label_smoothing=label_smoothing)(lt, torch.tensor(y))
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(crit.backward(), lt.grad.numpy(), **TOL)
    # soft targets (class probabilities)
    q = rng.random(shape)
    q /= q.sum(axis=1, keepdims=True)
    loss, d = F.cross_entropy(logits, q, label_smoothing=label_smoothing)
    lt = t64(logits, grad=True)
    tloss = TF.cross_entropy(lt, t64(q), label_smoothing=label_smoothing)
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-12)
    np.testing.assert_allclose(d, lt.grad.numpy(), **TOL)


def test_functional_batch_norm_running_stats_match_torch():
    x = rng.standard_normal((5, 4, 3))
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    rmt, rvt = t64(rm), t64(rv)
    out, cache = F.batch_norm_forward(x, rm, rv, training=True, momentum=0.2, eps=1e-3)
    out_t = TF.batch_norm(t64(x), rmt, rvt, training=True, momentum=0.2, eps=1e-3)
    np.testing.assert_allclose(out, out_t.numpy(), **TOL)
    np.testing.assert_allclose(cache.running_mean, rmt.numpy(), **TOL)
    np.testing.assert_allclose(cache.running_var, rvt.numpy(), **TOL)


# --- the issue-4 target ------------------------------------------------------------------------


def build_pair():
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.BatchNorm2d(8),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),
        torch.nn.AvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(32, 10),
    ).double()
    with torch.no_grad():  # non-trivial BatchNorm state, as after some training
        theirs[1].weight.uniform_(0.5, 1.5)
        theirs[1].bias.normal_()
        theirs[1].running_mean.normal_()
        theirs[1].running_var.uniform_(0.5, 2.0)
    ours = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(32, 10),
    )
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}  # num_batches_tracked included
    ours.load_state_dict(state)
    return ours, theirs


def test_target_sequential_eval_logits_match_torch():
    ours, theirs = build_pair()
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    x = rng.standard_normal((4, 3, 16, 16))
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        expected = theirs(t64(x)).numpy()
    logits = ours(x)
    assert logits.dtype == np.float64
    np.testing.assert_allclose(logits, expected, rtol=1e-9, atol=1e-9)


def test_target_sequential_train_gradients_match_torch():
    """Train mode, with Dropout active.  Dropout masks come from different generators, so the
    torch side applies numcnn's mask: torch's model up to Flatten, times numcnn's scaled mask
    (exactly what inverted dropout computes), then torch's Linear.  Everything else -- batch
    statistics, running-stat updates, every parameter gradient, dx -- is compared as is."""
    ours, theirs = build_pair()
    ours.train()
    theirs.train()
    nn.init.manual_seed(7)
    x = rng.standard_normal((6, 3, 16, 16))
    y = rng.integers(0, 10, 6)

    logits = ours(x)
    crit = nn.CrossEntropyLoss()
    loss = crit(logits, y)
    dx = ours.backward(crit.backward())

    xt = t64(x, grad=True)
    h = theirs[:7](xt)
    # Dropout is the only draw from the generator seeded above: replay its mask (the rng contract)
    mask = F.dropout_forward(np.ones(tuple(h.shape)), 0.5, True, np.random.default_rng(7))[1].mask
    assert mask is not None and (mask == 0).any() and (mask == 2).any()
    logits_t = theirs[8](h * torch.tensor(mask))
    loss_t = TF.cross_entropy(logits_t, torch.tensor(y))
    loss_t.backward()

    assert loss == pytest.approx(loss_t.item(), rel=1e-9)
    np.testing.assert_allclose(logits, logits_t.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-9)
    grads_t = {k: p.grad.numpy() for k, p in theirs.named_parameters()}
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, grads_t[name], rtol=1e-9, atol=1e-9, err_msg=name)
    for name, buf in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], buf.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


# --- random configurations (hypothesis) --------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402


@given(
    n=st.integers(2, 5),
    c=st.integers(1, 4),
    spatial=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    training=st.booleans(),
    affine=st.booleans(),
    momentum=st.floats(0.0, 1.0),
    eps=st.sampled_from([1e-5, 1e-3, 0.1]),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_batch_norm_random_configs(n, c, spatial, training, affine, momentum, eps, seed):
    r = np.random.default_rng(seed)
    x = r.standard_normal((n, c, *spatial)) * 3 + 1
    rm, rv = r.standard_normal(c), r.random(c) + 0.2
    w, b = (r.standard_normal(c), r.standard_normal(c)) if affine else (None, None)
    out, cache = F.batch_norm_forward(x, rm, rv, w, b, training=training, momentum=momentum, eps=eps)
    dout = r.standard_normal(out.shape)
    dx, dw, db = F.batch_norm_backward(dout, cache)
    xt = t64(x, grad=True)
    wt, bt = (t64(w, grad=True), t64(b, grad=True)) if affine else (None, None)
    rmt, rvt = t64(rm), t64(rv)
    ot = TF.batch_norm(xt, rmt, rvt, wt, bt, training=training, momentum=momentum, eps=eps)
    ot.backward(t64(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(cache.running_mean, rmt.numpy(), **TOL)
    np.testing.assert_allclose(cache.running_var, rvt.numpy(), **TOL)
    if affine:
        np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL)


@given(
    lead=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    fin=st.integers(1, 6),
    fout=st.integers(1, 6),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=30, deadline=None)
def test_linear_random_configs(lead, fin, fout, bias, seed):
    r = np.random.default_rng(seed)
    x, w = r.standard_normal((*lead, fin)), r.standard_normal((fout, fin))
    b = r.standard_normal(fout) if bias else None
    out, cache = F.linear_forward(x, w, b)
    dout = r.standard_normal(out.shape)
    dx, dw, db = F.linear_backward(dout, cache)
    xt, wt = t64(x, grad=True), t64(w, grad=True)
    bt = t64(b, grad=True) if bias else None
    ot = TF.linear(xt, wt, bt)
    ot.backward(t64(dout))
    np.testing.assert_allclose(out, ot.detach().numpy(), **TOL)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL)
    np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL)
    if bias:
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL)


@given(
    n=st.integers(1, 6),
    c=st.integers(1, 7),
    extra=st.lists(st.integers(1, 3), min_size=0, max_size=2),
    scale=st.sampled_from([1e-3, 1.0, 30.0, 1e3]),
    label_smoothing=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
@settings(max_examples=40, deadline=None)
def test_cross_entropy_random_configs(n, c, extra, scale, label_smoothing, seed):
    r = np.random.default_rng(seed)
    logits = r.standard_normal((n, c, *extra)) * scale
    y = r.integers(0, c, (n, *extra))
    loss, d = F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    lt = t64(logits, grad=True)
    tl = TF.cross_entropy(lt, torch.tensor(y), label_smoothing=label_smoothing)
    tl.backward()
    assert loss == pytest.approx(tl.item(), rel=1e-10, abs=1e-12)
    np.testing.assert_allclose(d, lt.grad.numpy(), rtol=1e-9, atol=1e-12)
