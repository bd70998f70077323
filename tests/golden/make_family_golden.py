"""Record PyTorch's outputs and gradients for the conv/pool family into family.npz.

Run from the repository root with torch installed (CI's pinned torch==2.13.0):

    python tests/golden/make_family_golden.py

The file is checked in; tests/functional/test_family_golden.py replays it without PyTorch.  Every case
stores its inputs, the upstream gradient, PyTorch's forward output (and indices) and every
gradient, in float64, plus its options as JSON (so nothing is pickled).  Padding modes go
through ``torch.nn.Conv*d(padding_mode=...)``, the only place PyTorch offers them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).parent

# (name, op, x shape, weight shape, options, input kind)
CONV_CASES = [
    ("conv2d_reflect_pad1", "conv2d", (2, 3, 6, 7), (4, 3, 3, 3), dict(padding=1, padding_mode="reflect"), "normal"),
    ("conv2d_reflect_asym_strided", "conv2d", (1, 2, 7, 6), (3, 2, 3, 2), dict(padding=(2, 1), stride=(2, 1), padding_mode="reflect"), "normal"),
    ("conv2d_reflect_same_even", "conv2d", (2, 2, 5, 6), (2, 2, 4, 2), dict(padding="same", padding_mode="reflect"), "normal"),
    ("conv2d_replicate_grouped", "conv2d", (2, 4, 5, 5), (4, 2, 3, 3), dict(padding=2, groups=2, padding_mode="replicate"), "normal"),
    ("conv2d_replicate_dilated", "conv2d", (1, 2, 6, 6), (2, 2, 3, 3), dict(padding=(2, 1), dilation=(2, 1), padding_mode="replicate"), "normal"),
    ("conv2d_circular_pad_eq_size", "conv2d", (1, 2, 3, 4), (3, 2, 3, 3), dict(padding=(3, 2), padding_mode="circular"), "normal"),
    ("conv2d_circular_same_depthwise", "conv2d", (2, 3, 5, 5), (3, 1, 3, 3), dict(padding="same", groups=3, padding_mode="circular"), "normal"),
    ("conv2d_zeros_mode_explicit", "conv2d", (1, 2, 5, 5), (2, 2, 3, 3), dict(padding=1, padding_mode="zeros", bias=False), "normal"),
    ("conv1d_reflect", "conv1d", (2, 3, 9), (4, 3, 3), dict(padding=2, stride=2, padding_mode="reflect"), "normal"),
    ("conv1d_circular_same", "conv1d", (2, 2, 7), (2, 2, 4), dict(padding="same", dilation=2, padding_mode="circular"), "normal"),
    ("conv3d_replicate", "conv3d", (1, 2, 4, 4, 3), (2, 2, 2, 3, 2), dict(padding=(1, 1, 0), padding_mode="replicate"), "normal"),
    ("conv3d_reflect_strided", "conv3d", (1, 2, 4, 5, 4), (3, 2, 3, 3, 2), dict(padding=1, stride=2, padding_mode="reflect"), "normal"),
]
CONV_TRANSPOSE_CASES = [
    ("conv_transpose2d_basic", "conv_transpose2d", (2, 3, 4, 4), (3, 2, 3, 3), dict(stride=2, padding=1), "normal"),
    ("conv_transpose2d_output_padding", "conv_transpose2d", (2, 2, 3, 4), (2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1), "normal"),
    ("conv_transpose2d_asym", "conv_transpose2d", (1, 2, 3, 5), (2, 2, 3, 2), dict(stride=(3, 1), padding=(1, 0), output_padding=(2, 0)), "normal"),
    ("conv_transpose2d_grouped_dilated", "conv_transpose2d", (2, 4, 3, 3), (4, 2, 3, 2), dict(stride=2, groups=2, dilation=(2, 1), output_padding=(1, 1)), "normal"),
    ("conv_transpose2d_op_lt_dilation", "conv_transpose2d", (1, 2, 3, 3), (2, 2, 2, 2), dict(stride=1, dilation=3, output_padding=2), "normal"),
    ("conv_transpose2d_op_gt_padding", "conv_transpose2d", (1, 2, 2, 2), (2, 1, 1, 1), dict(stride=3, padding=0, output_padding=2), "normal"),
    ("conv_transpose2d_depthwise_nobias", "conv_transpose2d", (2, 3, 4, 4), (3, 1, 4, 4), dict(stride=2, padding=1, groups=3, bias=False), "normal"),
    ("conv_transpose1d", "conv_transpose1d", (2, 3, 6), (3, 2, 4), dict(stride=3, padding=2, output_padding=1), "normal"),
    ("conv_transpose3d", "conv_transpose3d", (1, 2, 2, 3, 2), (2, 3, 2, 2, 3), dict(stride=(2, 1, 2), padding=(0, 1, 1), output_padding=(1, 0, 1)), "normal"),
]
# (name, op, x shape, options, input kind)
POOL_CASES = [
    ("avg_pool2d_2x2", "avg_pool2d", (2, 3, 6, 6), dict(kernel_size=2), "normal"),
    ("avg_pool2d_pad_include", "avg_pool2d", (2, 2, 5, 6), dict(kernel_size=3, stride=2, padding=1), "normal"),
    ("avg_pool2d_pad_exclude", "avg_pool2d", (2, 2, 5, 6), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), "normal"),
    ("avg_pool2d_ceil_include", "avg_pool2d", (1, 2, 6, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "normal"),
    ("avg_pool2d_ceil_overhang", "avg_pool2d", (1, 2, 4, 4), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), "normal"),
    ("avg_pool2d_ceil_exclude", "avg_pool2d", (1, 2, 7, 4), dict(kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True, count_include_pad=False), "normal"),
    ("avg_pool2d_divisor_override", "avg_pool2d", (1, 2, 5, 5), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, divisor_override=4), "normal"),
    ("avg_pool2d_divisor_negative", "avg_pool2d", (1, 1, 4, 4), dict(kernel_size=2, divisor_override=-3), "normal"),
    ("avg_pool2d_overlap_s1", "avg_pool2d", (2, 2, 5, 5), dict(kernel_size=3, stride=1), "normal"),
    ("avg_pool1d_ceil_pad", "avg_pool1d", (2, 3, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), "normal"),
    ("avg_pool3d_pad", "avg_pool3d", (1, 2, 4, 5, 4), dict(kernel_size=(2, 3, 2), stride=2, padding=(1, 1, 0), ceil_mode=True), "normal"),
    ("adaptive_avg_pool2d_down", "adaptive_avg_pool2d", (2, 3, 7, 9), dict(output_size=(3, 4)), "normal"),
    ("adaptive_avg_pool2d_up", "adaptive_avg_pool2d", (1, 2, 3, 2), dict(output_size=(5, 7)), "normal"),
    ("adaptive_avg_pool2d_global", "adaptive_avg_pool2d", (2, 4, 5, 6), dict(output_size=1), "normal"),
    ("adaptive_avg_pool2d_none", "adaptive_avg_pool2d", (1, 2, 5, 6), dict(output_size=[None, 4]), "normal"),
    ("adaptive_avg_pool2d_nan", "adaptive_avg_pool2d", (1, 2, 6, 6), dict(output_size=(4, 3)), "nan"),
    ("adaptive_avg_pool1d", "adaptive_avg_pool1d", (2, 3, 10), dict(output_size=4), "normal"),
    ("adaptive_avg_pool3d", "adaptive_avg_pool3d", (1, 2, 4, 5, 3), dict(output_size=(2, 3, 5)), "normal"),
    ("adaptive_max_pool2d_down", "adaptive_max_pool2d", (2, 3, 7, 9), dict(output_size=(3, 4), return_indices=True), "normal"),
    ("adaptive_max_pool2d_up", "adaptive_max_pool2d", (1, 2, 3, 2), dict(output_size=(5, 7), return_indices=True), "normal"),
    ("adaptive_max_pool2d_global_ties", "adaptive_max_pool2d", (2, 3, 4, 4), dict(output_size=1, return_indices=True), "ties"),
    ("adaptive_max_pool2d_ties", "adaptive_max_pool2d", (2, 2, 7, 6), dict(output_size=(3, 4), return_indices=True), "ties"),
    ("adaptive_max_pool2d_nan", "adaptive_max_pool2d", (2, 2, 6, 6), dict(output_size=(4, 3), return_indices=True), "nan"),
    ("adaptive_max_pool2d_minus_inf", "adaptive_max_pool2d", (1, 2, 6, 5), dict(output_size=(2, 2), return_indices=True), "minus_inf"),
    ("adaptive_max_pool1d", "adaptive_max_pool1d", (2, 3, 10), dict(output_size=4, return_indices=True), "ties"),
    ("adaptive_max_pool3d", "adaptive_max_pool3d", (1, 2, 4, 5, 3), dict(output_size=(2, 3, 5), return_indices=True), "normal"),
    ("max_pool2d_indices_pad_ceil", "max_pool2d", (2, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True), "ties"),
    ("max_pool2d_indices_dilated", "max_pool2d", (1, 2, 9, 9), dict(kernel_size=3, stride=2, padding=1, dilation=2, return_indices=True), "nan"),
    ("max_pool2d_indices_minus_inf", "max_pool2d", (1, 2, 6, 6), dict(kernel_size=3, stride=2, padding=1, return_indices=True), "minus_inf"),
    ("max_pool1d_indices", "max_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, return_indices=True), "ties"),
    ("max_pool3d_indices", "max_pool3d", (1, 2, 5, 4, 5), dict(kernel_size=(2, 3, 2), stride=(2, 1, 2), padding=(1, 1, 0), return_indices=True), "normal"),
]
# (name, pool op, x shape, pool options, unpool op, unpool options): the unpool input is the pool's result
UNPOOL_CASES = [
    ("max_unpool2d_2x2", "max_pool2d", (2, 3, 6, 6), dict(kernel_size=2), "max_unpool2d", dict(kernel_size=2)),
    ("max_unpool2d_output_size", "max_pool2d", (1, 2, 7, 5), dict(kernel_size=2), "max_unpool2d", dict(kernel_size=2, output_size=[7, 5])),
    ("max_unpool2d_pad", "max_pool2d", (1, 2, 6, 6), dict(kernel_size=3, stride=2, padding=1), "max_unpool2d", dict(kernel_size=3, stride=2, padding=1, output_size=[6, 6])),
    ("max_unpool1d", "max_pool1d", (2, 2, 9), dict(kernel_size=3, stride=3), "max_unpool1d", dict(kernel_size=3, stride=3)),
    ("max_unpool3d", "max_pool3d", (1, 2, 4, 4, 6), dict(kernel_size=2), "max_unpool3d", dict(kernel_size=2)),
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


def as_tensor(a, grad=False):
    return torch.tensor(a, requires_grad=grad)


def conv_module(op, w, b, options):
    nd = int(op[-2])
    cls = {1: torch.nn.Conv1d, 2: torch.nn.Conv2d, 3: torch.nn.Conv3d}[nd]
    groups = options.get("groups", 1)
    m = cls(w.shape[1] * groups, w.shape[0], w.shape[2:], bias=b is not None, dtype=torch.float64, **options)
    with torch.no_grad():
        m.weight.copy_(as_tensor(w))
        if b is not None:
            m.bias.copy_(as_tensor(b))
    return m


def record(arrays, name, op, options, case):
    case["options"] = np.array(json.dumps(options))
    case["op"] = np.array(op)
    arrays.update({f"{name}/{key}": value for key, value in case.items()})


def main():
    rng = np.random.default_rng(20261126)
    arrays = {}
    for name, op, x_shape, w_shape, options, kind in CONV_CASES + CONV_TRANSPOSE_CASES:
        options = dict(options)
        use_bias = options.pop("bias", True)
        x = make_input(x_shape, kind, rng)
        w = rng.standard_normal(w_shape)
        c_out = w_shape[0] if op.startswith("conv") and "transpose" not in op else w_shape[1] * options.get("groups", 1)
        b = rng.standard_normal(c_out) if use_bias else None
        tx = as_tensor(x, True)
        if "transpose" in op:
            tw = as_tensor(w, True)
            tb = as_tensor(b, True) if use_bias else None
            out = getattr(F, op)(tx, tw, tb, **options)
        else:
            m = conv_module(op, w, b, options)
            tw, tb = m.weight, m.bias
            out = m(tx)
        dout = rng.standard_normal(tuple(out.shape))
        out.backward(as_tensor(dout))
        case = dict(x=x, weight=w, dout=dout, out=out.detach().numpy(), dx=tx.grad.numpy(), dw=tw.grad.numpy())
        if use_bias:
            case.update(bias=b, db=tb.grad.numpy())
        record(arrays, name, op, options, case)
    for name, op, x_shape, options, kind in POOL_CASES:
        x = make_input(x_shape, kind, rng)
        tx = as_tensor(x, True)
        res = getattr(F, op)(tx, **options)
        out, indices = res if options.get("return_indices") else (res, None)
        dout = rng.standard_normal(tuple(out.shape))
        out.backward(as_tensor(dout))
        case = dict(x=x, dout=dout, out=out.detach().numpy(), dx=tx.grad.numpy())
        if indices is not None:
            case["indices"] = indices.numpy()
        record(arrays, name, op, options, case)
    for name, pool_op, x_shape, pool_options, op, options in UNPOOL_CASES:
        pooled, indices = getattr(F, pool_op)(as_tensor(make_input(x_shape, "normal", rng)), return_indices=True,
                                              **pool_options)
        tx = as_tensor(pooled.numpy(), True)
        out = getattr(F, op)(tx, indices, **options)
        dout = rng.standard_normal(tuple(out.shape))
        out.backward(as_tensor(dout))
        case = dict(x=pooled.numpy(), indices=indices.numpy(), dout=dout, out=out.detach().numpy(), dx=tx.grad.numpy())
        record(arrays, name, op, options, case)
    arrays["torch_version"] = np.array(torch.__version__)
    np.savez_compressed(HERE / "family.npz", **arrays)
    n = len(CONV_CASES) + len(CONV_TRANSPOSE_CASES) + len(POOL_CASES) + len(UNPOOL_CASES)
    print(f"wrote {n} cases to {HERE / 'family.npz'}")


if __name__ == "__main__":
    main()
