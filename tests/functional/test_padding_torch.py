"""Live oracle: conv with each padding mode against PyTorch in float64 on random
configurations (hypothesis), forward and every gradient; where numcnn rejects a configuration,
PyTorch must reject it too."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, strategies as st  # noqa: E402

import numcnn.functional as F  # noqa: E402
from numcnn import nn  # noqa: E402
from tests.torch_oracle import SETTINGS, close, int_or_tuple, per_dim, rejected_by_torch, t  # noqa: E402


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
