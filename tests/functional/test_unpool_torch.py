"""Live oracle: max_pool's indices and max_unpool against PyTorch in float64 on random
configurations (hypothesis), forward and every gradient; where numcnn rejects a configuration,
PyTorch must reject it too."""

from __future__ import annotations

import numpy as np

from hypothesis import given, strategies as st

import numcnn.functional as F
from tests.torch_oracle import SETTINGS, TF, close, per_dim, rejected_by_torch, t


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
