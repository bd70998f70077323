"""Live oracle: adaptive pooling against PyTorch in float64 on random
configurations (hypothesis), forward and every gradient; where numcnn rejects a configuration,
PyTorch must reject it too."""

from __future__ import annotations

import numpy as np

from hypothesis import given, strategies as st

import numcnn.functional as F
from tests.torch_oracle import SETTINGS, TF, close, per_dim, t


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
