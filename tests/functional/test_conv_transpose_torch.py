"""Live oracle: conv_transpose{1,2,3}d against PyTorch in float64 on random
configurations (hypothesis), forward and every gradient; where numcnn rejects a configuration,
PyTorch must reject it too."""

from __future__ import annotations

import numpy as np

from hypothesis import given, strategies as st

import numcnn.functional as F
from tests.torch_oracle import SETTINGS, TF, close, int_or_tuple, per_dim, rejected_by_torch, t


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
