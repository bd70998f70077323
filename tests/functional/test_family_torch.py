"""Live oracle: the conv/pool family against PyTorch in float64 on random configurations
(hypothesis), forward and every gradient.  Where numcnn rejects a configuration, PyTorch must
reject it too."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import HealthCheck, event, given, settings, strategies as st  # noqa: E402

import numcnn.functional as F  # noqa: E402
from numcnn import nn  # noqa: E402

TF = torch.nn.functional
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RTOL, ATOL = 1e-10, 1e-12


def close(ours, theirs, what):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)


def t(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def rejected_by_torch(fn):
    event("configuration rejected by both")
    try:
        fn()
    except (RuntimeError, ValueError):
        return True
    return False


def per_dim(draw, nd, lo, hi):
    return tuple(draw(st.integers(lo, hi)) for _ in range(nd))


def int_or_tuple(draw, values):
    """PyTorch accepts an int or a tuple: exercise both."""
    return values[0] if len(set(values)) == 1 and draw(st.booleans()) else values


# --- conv with padding modes --------------------------------------------------------------------

@st.composite
def conv_configs(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2]))
    mode = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    spatial = per_dim(draw, nd, 2, 6 if nd < 3 else 4)
    kernel = per_dim(draw, nd, 1, 3)
    use_same = draw(st.booleans()) and draw(st.booleans())
    stride = (1,) * nd if use_same else per_dim(draw, nd, 1, 3)
    dilation = per_dim(draw, nd, 1, 2)
    padding = "same" if use_same else per_dim(draw, nd, 0, 2)
    return dict(
        nd=nd, groups=groups, mode=mode, spatial=spatial, kernel=kernel, stride=int_or_tuple(draw, stride),
        dilation=dilation, padding=padding, bias=draw(st.booleans()), n=draw(st.integers(1, 2)),
    )


@SETTINGS
@given(conv_configs(), st.integers(0, 2**31 - 1))
def test_conv_padding_mode_matches_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    nd, g = cfg["nd"], cfg["groups"]
    x = rng.standard_normal((cfg["n"], 2 * g) + cfg["spatial"])
    w = rng.standard_normal((3 * g, 2) + cfg["kernel"])
    b = rng.standard_normal(3 * g) if cfg["bias"] else None
    fwd, bwd = {1: (F.conv1d_forward, F.conv1d_backward), 2: (F.conv2d_forward, F.conv2d_backward),
                3: (F.conv3d_forward, F.conv3d_backward)}[nd]
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], groups=g)
    module = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[nd](
        2 * g, 3 * g, cfg["kernel"], bias=b is not None, padding_mode=cfg["mode"], dtype=torch.float64, **kw
    )
    with torch.no_grad():
        module.weight.copy_(t(w))
        if b is not None:
            module.bias.copy_(t(b))
    xt = t(x, True)
    try:
        out, cache = fwd(x, w, b, padding_mode=cfg["mode"], **kw)
    except ValueError:
        assert rejected_by_torch(lambda: module(xt)), f"numcnn rejects, torch accepts: {cfg}"
        return
    ot = module(xt)
    close(out, ot, "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(t(dout))
    dx, dw, db = bwd(dout, cache)
    close(dx, xt.grad, "dx")
    close(dw, module.weight.grad, "dw")
    if b is not None:
        close(db, module.bias.grad, "db")


# --- transposed conv ----------------------------------------------------------------------------

@st.composite
def conv_transpose_configs(draw):
    nd = draw(st.integers(1, 3))
    stride = per_dim(draw, nd, 1, 3)
    dilation = per_dim(draw, nd, 1, 3)
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    return dict(
        nd=nd, groups=draw(st.sampled_from([1, 2])), spatial=per_dim(draw, nd, 1, 5 if nd < 3 else 3),
        kernel=per_dim(draw, nd, 1, 3), stride=int_or_tuple(draw, stride), dilation=dilation,
        padding=per_dim(draw, nd, 0, 2), output_padding=output_padding, bias=draw(st.booleans()),
        n=draw(st.integers(1, 2)),
    )


@SETTINGS
@given(conv_transpose_configs(), st.integers(0, 2**31 - 1))
def test_conv_transpose_matches_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    nd, g = cfg["nd"], cfg["groups"]
    x = rng.standard_normal((cfg["n"], 2 * g) + cfg["spatial"])
    w = rng.standard_normal((2 * g, 3) + cfg["kernel"])
    b = rng.standard_normal(3 * g) if cfg["bias"] else None
    fwd, bwd = {1: (F.conv_transpose1d_forward, F.conv_transpose1d_backward),
                2: (F.conv_transpose2d_forward, F.conv_transpose2d_backward),
                3: (F.conv_transpose3d_forward, F.conv_transpose3d_backward)}[nd]
    tfn = {1: TF.conv_transpose1d, 2: TF.conv_transpose2d, 3: TF.conv_transpose3d}[nd]
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], output_padding=cfg["output_padding"], groups=g,
              dilation=cfg["dilation"])
    xt, wt = t(x, True), t(w, True)
    bt = t(b, True) if b is not None else None
    try:
        out, cache = fwd(x, w, b, **kw)
    except ValueError:
        assert rejected_by_torch(lambda: tfn(xt, wt, bt, **kw)), f"numcnn rejects, torch accepts: {cfg}"
        return
    ot = tfn(xt, wt, bt, **kw)
    close(out, ot, "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(t(dout))
    dx, dw, db = bwd(dout, cache)
    close(dx, xt.grad, "dx")
    close(dw, wt.grad, "dw")
    if b is not None:
        close(db, bt.grad, "db")


# --- average pooling ------------------------------------------------------------------------------

@st.composite
def avg_pool_configs(draw):
    nd = draw(st.integers(1, 3))
    kernel = per_dim(draw, nd, 1, 4)
    return dict(
        nd=nd, spatial=per_dim(draw, nd, 1, 7 if nd < 3 else 5), kernel=int_or_tuple(draw, kernel),
        stride=draw(st.one_of(st.none(), st.just(per_dim(draw, nd, 1, 3)))),
        padding=tuple(draw(st.integers(0, k // 2)) for k in kernel), ceil_mode=draw(st.booleans()),
        count_include_pad=draw(st.booleans()),
        divisor_override=None if nd == 1 else draw(st.one_of(st.none(), st.integers(-3, 5).filter(bool))),
    )


@SETTINGS
@given(avg_pool_configs(), st.integers(0, 2**31 - 1))
def test_avg_pool_matches_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    nd = cfg["nd"]
    x = rng.standard_normal((2, 3) + cfg["spatial"])
    fwd, bwd = {1: (F.avg_pool1d_forward, F.avg_pool1d_backward), 2: (F.avg_pool2d_forward, F.avg_pool2d_backward),
                3: (F.avg_pool3d_forward, F.avg_pool3d_backward)}[nd]
    tfn = {1: TF.avg_pool1d, 2: TF.avg_pool2d, 3: TF.avg_pool3d}[nd]
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], ceil_mode=cfg["ceil_mode"],
              count_include_pad=cfg["count_include_pad"])
    if nd > 1:
        kw["divisor_override"] = cfg["divisor_override"]
    xt = t(x, True)
    try:
        out, cache = fwd(x, cfg["kernel"], **kw)
    except ValueError:
        assert rejected_by_torch(lambda: tfn(xt, cfg["kernel"], **kw)), f"numcnn rejects, torch accepts: {cfg}"
        return
    ot = tfn(xt, cfg["kernel"], **kw)
    close(out, ot, "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(t(dout))
    close(bwd(dout, cache), xt.grad, "dx")


# --- adaptive pooling -----------------------------------------------------------------------------

@st.composite
def adaptive_configs(draw):
    nd = draw(st.integers(1, 3))
    spatial = per_dim(draw, nd, 1, 9 if nd < 3 else 5)
    output = tuple(draw(st.one_of(st.integers(1, 2 * n + 1), st.none())) for n in spatial)
    if all(o is not None for o in output) and len(set(output)) == 1 and draw(st.booleans()):
        output = output[0]
    return dict(nd=nd, spatial=spatial, output_size=output, kind=draw(st.sampled_from(["avg", "max"])),
                special=draw(st.sampled_from(["none", "ties", "nan", "inf"])))


@SETTINGS
@given(adaptive_configs(), st.integers(0, 2**31 - 1))
def test_adaptive_pool_matches_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    nd, kind = cfg["nd"], cfg["kind"]
    x = rng.standard_normal((2, 3) + cfg["spatial"])
    if cfg["special"] == "ties":
        x = np.round(x)
    elif cfg["special"] in ("nan", "inf"):
        x.ravel()[rng.integers(0, x.size, 3)] = np.nan if cfg["special"] == "nan" else -np.inf
    out_size = cfg["output_size"]
    xt = t(x, True)
    if kind == "avg":
        fwd, bwd = {1: (F.adaptive_avg_pool1d_forward, F.adaptive_avg_pool1d_backward),
                    2: (F.adaptive_avg_pool2d_forward, F.adaptive_avg_pool2d_backward),
                    3: (F.adaptive_avg_pool3d_forward, F.adaptive_avg_pool3d_backward)}[nd]
        out, cache = fwd(x, out_size)
        ot = {1: TF.adaptive_avg_pool1d, 2: TF.adaptive_avg_pool2d, 3: TF.adaptive_avg_pool3d}[nd](
            xt, out_size if nd > 1 else (out_size if isinstance(out_size, int) else out_size[0] or x.shape[2]))
    else:
        fwd, bwd = {1: (F.adaptive_max_pool1d_forward, F.adaptive_max_pool1d_backward),
                    2: (F.adaptive_max_pool2d_forward, F.adaptive_max_pool2d_backward),
                    3: (F.adaptive_max_pool3d_forward, F.adaptive_max_pool3d_backward)}[nd]
        (out, idx), cache = fwd(x, out_size, return_indices=True)
        tsize = out_size if nd > 1 else (out_size if isinstance(out_size, int) else out_size[0] or x.shape[2])
        ot, it = {1: TF.adaptive_max_pool1d, 2: TF.adaptive_max_pool2d, 3: TF.adaptive_max_pool3d}[nd](
            xt, tsize, return_indices=True)
        np.testing.assert_array_equal(idx, it.numpy())
    close(out, ot, "out")
    dout = rng.standard_normal(out.shape)
    ot.backward(t(dout))
    close(bwd(dout, cache), xt.grad, "dx")


# --- max-pool indices and unpooling -----------------------------------------------------------

@st.composite
def max_pool_configs(draw):
    nd = draw(st.integers(1, 3))
    kernel = per_dim(draw, nd, 1, 3)
    return dict(
        nd=nd, spatial=per_dim(draw, nd, 1, 7 if nd < 3 else 5), kernel=kernel,
        stride=draw(st.one_of(st.none(), st.just(per_dim(draw, nd, 1, 3)))),
        padding=tuple(draw(st.integers(0, k // 2)) for k in kernel), dilation=per_dim(draw, nd, 1, 2),
        ceil_mode=draw(st.booleans()), ties=draw(st.booleans()),
    )


@SETTINGS
@given(max_pool_configs(), st.integers(0, 2**31 - 1))
def test_max_pool_indices_and_unpool_match_torch(cfg, seed):
    rng = np.random.default_rng(seed)
    nd = cfg["nd"]
    x = rng.standard_normal((2, 3) + cfg["spatial"])
    if cfg["ties"]:
        x = np.round(x)
    pool = {1: F.max_pool1d_forward, 2: F.max_pool2d_forward, 3: F.max_pool3d_forward}[nd]
    tpool = {1: TF.max_pool1d, 2: TF.max_pool2d, 3: TF.max_pool3d}[nd]
    kw = dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"], ceil_mode=cfg["ceil_mode"])
    try:
        (out, idx), _ = pool(x, cfg["kernel"], return_indices=True, **kw)
    except ValueError as e:
        if "covers no input element" in str(e):
            return  # numcnn refuses what PyTorch's backward aborts the process on
        assert rejected_by_torch(lambda: tpool(t(x), cfg["kernel"], return_indices=True, **kw))
        return
    ot, it = tpool(t(x), cfg["kernel"], return_indices=True, **kw)
    close(out, ot, "out")
    np.testing.assert_array_equal(idx, it.numpy())
    assert idx.dtype == np.int64

    unpool, unpool_back = {1: (F.max_unpool1d_forward, F.max_unpool1d_backward),
                           2: (F.max_unpool2d_forward, F.max_unpool2d_backward),
                           3: (F.max_unpool3d_forward, F.max_unpool3d_backward)}[nd]
    tunpool = {1: TF.max_unpool1d, 2: TF.max_unpool2d, 3: TF.max_unpool3d}[nd]
    ukw = dict(stride=cfg["stride"], padding=cfg["padding"], output_size=x.shape[2:])
    vt = t(out, True)
    try:
        y, cache = unpool(out, idx, cfg["kernel"], **ukw)
    except ValueError:
        assert rejected_by_torch(lambda: tunpool(vt, it, cfg["kernel"], **ukw))
        return
    if len(np.unique(idx.reshape(6, -1)[0])) != idx.reshape(6, -1).shape[1]:
        # repeated indices: last write wins in both, but check only where unambiguous
        yt = tunpool(vt, it, cfg["kernel"], **ukw)
        assert y.shape == tuple(yt.shape)
    else:
        yt = tunpool(vt, it, cfg["kernel"], **ukw)
        close(y, yt, "unpool out")
    dy = rng.standard_normal(y.shape)
    yt.backward(t(dy))
    close(unpool_back(dy, cache), vt.grad, "unpool dx")


# --- modules: a torch state dict loads and gives the same numbers -------------------------------

def test_family_modules_match_torch_sequential():
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        torch.nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.MaxPool2d(2, ceil_mode=True),
        torch.nn.Conv2d(6, 6, 3, padding="same", padding_mode="circular", groups=3),
        torch.nn.AdaptiveMaxPool2d((3, 2)),
        torch.nn.AdaptiveAvgPool2d(1),
    ).double()
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"),
        nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Conv2d(6, 6, 3, padding="same", padding_mode="circular", groups=3),
        nn.AdaptiveMaxPool2d((3, 2)),
        nn.AdaptiveAvgPool2d(1),
    )
    model.load_state_dict({k: v.numpy() for k, v in tmodel.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 11))
    xt = t(x, True)
    ot = tmodel(xt)
    out = model(x)
    np.testing.assert_allclose(out, ot.detach().numpy(), rtol=1e-9, atol=1e-12)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    ot.backward(t(dout))
    dx = model.backward(dout)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    tparams = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tparams[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda: nn.Conv2d(6, 8, (3, 2), groups=2), lambda: torch.nn.Conv2d(6, 8, (3, 2), groups=2)),
        (lambda: nn.Conv3d(2, 3, 2), lambda: torch.nn.Conv3d(2, 3, 2)),
        (lambda: nn.ConvTranspose2d(6, 8, 3, groups=2), lambda: torch.nn.ConvTranspose2d(6, 8, 3, groups=2)),
        (lambda: nn.ConvTranspose1d(4, 2, 5), lambda: torch.nn.ConvTranspose1d(4, 2, 5)),
    ],
)
def test_init_bounds_match_torch(ours, theirs):
    """Same parameter names, shapes and U(-b, b) bound as PyTorch's default init, with b from
    PyTorch's own fan-in computation of the weight."""
    m, tm = ours(), theirs()
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(tm.weight)
    bound = 1 / np.sqrt(fan_in)
    for (name, p), (tname, tp) in zip(m.named_parameters(), tm.named_parameters()):
        assert name == tname and p.shape == tuple(tp.shape)
        assert np.abs(p.data).max() <= bound and float(tp.detach().abs().max()) <= bound
    assert np.abs(m.weight.data).max() > 0.5 * bound

