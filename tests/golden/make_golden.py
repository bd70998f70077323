"""Record PyTorch's outputs and gradients for conv and max-pool configurations into core.npz.

Run from the repository root with torch installed (CI's pinned torch==2.13.0):

    python tests/golden/make_golden.py

The file is checked in; tests/functional/test_conv_pool_golden.py replays it without PyTorch.  Every case stores its
inputs, the upstream gradient, PyTorch's forward output and every gradient, in float64, plus its
options as JSON (so nothing is pickled).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).parent

# (name, op, input shape, weight shape or None, options, input kind)
CONV_CASES = [
    ("conv2d_basic", "conv2d", (2, 3, 7, 7), (4, 3, 3, 3), dict(stride=1, padding=1), "normal"),
    ("conv2d_asym_stride_pad", "conv2d", (2, 3, 9, 8), (4, 3, 3, 2), dict(stride=(2, 1), padding=(1, 0)), "normal"),
    ("conv2d_dilation", "conv2d", (1, 2, 9, 9), (3, 2, 3, 3), dict(dilation=(2, 1), padding=(2, 1)), "normal"),
    ("conv2d_same_even_kernel", "conv2d", (2, 2, 6, 7), (3, 2, 4, 2), dict(padding="same"), "normal"),
    ("conv2d_same_even_dilated", "conv2d", (1, 2, 8, 8), (2, 2, 2, 4), dict(padding="same", dilation=(3, 1)), "normal"),
    ("conv2d_valid_stride3", "conv2d", (2, 3, 10, 11), (2, 3, 3, 3), dict(padding="valid", stride=3), "normal"),
    ("conv2d_depthwise", "conv2d", (2, 4, 7, 7), (4, 1, 3, 3), dict(padding=1, groups=4), "normal"),
    ("conv2d_depthwise_multiplier", "conv2d", (2, 3, 6, 6), (6, 1, 3, 3), dict(stride=2, padding=1, groups=3), "normal"),
    ("conv2d_grouped_strided", "conv2d", (2, 4, 9, 9), (6, 2, 3, 3), dict(stride=2, padding=1, groups=2), "normal"),
    ("conv2d_no_bias", "conv2d", (2, 3, 5, 5), (2, 3, 2, 2), dict(stride=1, padding=0, bias=False), "normal"),
    ("conv2d_cs231n_speed_shape_small", "conv2d", (4, 3, 31, 31), (5, 3, 3, 3), dict(stride=2, padding=1), "normal"),
    ("conv1d_strided", "conv1d", (2, 3, 11), (4, 3, 3), dict(stride=2, padding=1), "normal"),
    ("conv1d_same_dilated_grouped", "conv1d", (2, 4, 9), (4, 2, 2), dict(padding="same", dilation=3, groups=2), "normal"),
    ("conv3d_basic", "conv3d", (1, 2, 4, 5, 4), (3, 2, 2, 3, 2), dict(stride=(1, 2, 1), padding=(1, 0, 1)), "normal"),
]
POOL_CASES = [
    ("max_pool2d_2x2", "max_pool2d", (2, 3, 8, 8), dict(kernel_size=2), "normal"),
    ("max_pool2d_3x3_s2_overlap", "max_pool2d", (2, 3, 9, 9), dict(kernel_size=3, stride=2), "normal"),
    ("max_pool2d_3x3_s1_pad1", "max_pool2d", (2, 2, 6, 6), dict(kernel_size=3, stride=1, padding=1), "normal"),
    ("max_pool2d_ceil_mode", "max_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "normal"),
    ("max_pool2d_ceil_mode_nopad", "max_pool2d", (1, 2, 5, 8), dict(kernel_size=2, stride=2, ceil_mode=True), "normal"),
    ("max_pool2d_ceil_drops_last", "max_pool2d", (1, 1, 4, 4), dict(kernel_size=2, stride=3, padding=1, ceil_mode=True), "normal"),
    ("max_pool2d_dilation", "max_pool2d", (1, 2, 9, 9), dict(kernel_size=3, stride=2, dilation=2, padding=1), "normal"),
    ("max_pool2d_asymmetric", "max_pool2d", (2, 2, 9, 7), dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), "normal"),
    ("max_pool2d_ties", "max_pool2d", (2, 3, 8, 8), dict(kernel_size=3, stride=2, padding=1), "ties"),
    ("max_pool2d_ties_overlap_s1", "max_pool2d", (2, 2, 6, 6), dict(kernel_size=2, stride=1), "ties"),
    ("max_pool2d_nan", "max_pool2d", (2, 2, 8, 8), dict(kernel_size=3, stride=2, padding=1), "nan"),
    ("max_pool2d_minus_inf", "max_pool2d", (1, 2, 6, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "minus_inf"),
    ("max_pool1d_ceil", "max_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "normal"),
    ("max_pool3d_basic", "max_pool3d", (1, 2, 5, 4, 5), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0)), "ties"),
]


def make_input(shape, kind, rng):
    if kind == "ties":
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    x = rng.standard_normal(shape)
    if kind == "nan":
        x.flat[rng.choice(x.size, size=max(2, x.size // 10), replace=False)] = np.nan
    if kind == "minus_inf":
        x[..., : x.shape[-2] // 2, :] = -np.inf
    return x


def main():
    rng = np.random.default_rng(20261125)
    arrays = {}
    for name, op, x_shape, w_shape, options, kind in CONV_CASES:
        options = dict(options)
        use_bias = options.pop("bias", True)
        x = make_input(x_shape, kind, rng)
        w = rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0]) if use_bias else None
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        tb = torch.tensor(b, requires_grad=True) if use_bias else None
        out = getattr(F, op)(tx, tw, tb, **options)
        dout = rng.standard_normal(tuple(out.shape))
        out.backward(torch.tensor(dout))
        case = dict(x=x, weight=w, dout=dout, out=out.detach().numpy(), dx=tx.grad.numpy(), dw=tw.grad.numpy())
        if use_bias:
            case.update(bias=b, db=tb.grad.numpy())
        case["options"] = np.array(json.dumps(options))
        case["op"] = np.array(op)
        arrays.update({f"{name}/{key}": value for key, value in case.items()})
    for name, op, x_shape, options, kind in POOL_CASES:
        x = make_input(x_shape, kind, rng)
        tx = torch.tensor(x, requires_grad=True)
        out = getattr(F, op)(tx, **options)
        dout = rng.standard_normal(tuple(out.shape))
        out.backward(torch.tensor(dout))
        case = dict(x=x, dout=dout, out=out.detach().numpy(), dx=tx.grad.numpy())
        case["options"] = np.array(json.dumps(options))
        case["op"] = np.array(op)
        arrays.update({f"{name}/{key}": value for key, value in case.items()})
    arrays["torch_version"] = np.array(torch.__version__)
    np.savez_compressed(HERE / "core.npz", **arrays)
    print(f"wrote {len(CONV_CASES) + len(POOL_CASES)} cases to {HERE / 'core.npz'}")


if __name__ == "__main__":
    main()
