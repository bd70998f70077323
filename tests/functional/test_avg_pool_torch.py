"""Live oracle: avg_pool{1,2,3}d against PyTorch in float64 on random
configurations (hypothesis), forward and every gradient; where numcnn rejects a configuration,
PyTorch must reject it too."""

from __future__ import annotations

import numpy as np

from hypothesis import given, strategies as st

import numcnn.functional as F
from tests.torch_oracle import SETTINGS, TF, close, int_or_tuple, per_dim, rejected_by_torch, t


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
