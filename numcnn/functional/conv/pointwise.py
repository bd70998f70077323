"""Pointwise convolutions (1x1 kernel, stride 1, no padding): per-sample GEMMs on the NCHW arrays.

No im2col and no layout copies: a stack of per-sample GEMMs in one np.matmul.
(32, 64, 28, 28) x (128, 64, 1, 1), one thread: fwd+bwd 11.2 -> 6.4 ms.  Every pass; dx needs
no col2im.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import _add_bias


@dataclass(frozen=True)
class _PointwiseColumns:
    """The ``cols`` of a pointwise convolution: its input, (N, groups, C_in/groups, positions)."""

    x: np.ndarray


def _grouped(a, groups):
    """(N, C, *spatial) -> (N, groups, C/groups, positions), a view when ``a`` allows it."""
    return a.reshape(a.shape[0], groups, a.shape[1] // groups, -1)


def _pointwise_weight(weight, groups):
    """(C_out, C_in/groups, 1, ...) -> (groups, C_out/groups, C_in/groups)."""
    return weight.reshape(groups, weight.shape[0] // groups, weight.shape[1])


def forward(x, weight, geom, plan, out, bias):
    if out is None:
        out = np.empty((x.shape[0], geom.c_out) + geom.out_spatial, dtype=x.dtype)
    groups = geom.groups
    xg = _grouped(x, groups)
    np.matmul(_pointwise_weight(weight, groups), xg, out=_grouped(out, groups))
    return _add_bias(out, bias), _PointwiseColumns(xg)


def weight_grad(dout, cols, geom, plan):
    # dw = sum over samples of dout_n @ x_n.T, one GEMM per sample in a single matmul
    per_sample = np.matmul(_grouped(dout, geom.groups), cols.x.swapaxes(-1, -2))
    return per_sample.sum(axis=0).reshape(geom.weight_shape)


def input_grad(dout, weight, geom, plan, out):
    groups = geom.groups
    dx = np.empty(geom.in_shape, dtype=dout.dtype) if out is None else out
    np.matmul(_pointwise_weight(weight, groups).swapaxes(-1, -2), _grouped(dout, groups), out=_grouped(dx, groups))
    return dx
