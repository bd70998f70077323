"""The rows of ``numcnn bench``: one :class:`Case` per op and shape, in :data:`CASES`.

To benchmark another op, append a :class:`Case` to :data:`CASES` (see :func:`conv2d_case`, or
:func:`family_case` for any op of ``numcnn.functional``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from . import bench_models

SUITES = ("quick", "conv", "pool", "family", "models", "all")


@dataclass(frozen=True)
class Case:
    """One benchmark row.

    ``setup(dtype, rng)`` returns the input arrays (a dict, including ``dout``);
    ``numcnn(arrays)`` and ``torch(torch_module, arrays)`` return a pair of callables
    ``(forward, backward)``: ``forward()`` runs the forward pass and returns what
    ``backward(state)`` needs to run the backward pass.
    """

    op: str
    shape: str
    suites: frozenset
    setup: Callable
    numcnn: Callable
    torch: Callable | None = None
    flops: float = 0.0  # useful FLOPs of forward + backward (0: not reported)
    im2col_elements: int = 0  # size of one im2col matrix, for the memory column (0: not reported)
    naive: Callable | None = field(default=None)  # (arrays) -> callable running the reference loops
    plan: Callable | None = None  # (arrays) -> the ConvPlan of a conv row (numcnn bench --explain)
    warm_calls: int = 3  # untimed calls at least, before each timed one (bench_timing._warm)
    extra: Callable | None = None  # (arrays) -> more fields for the row, measured once after the timing


def _conv_out(size, k, s, p):
    return (size + 2 * p - k) // s + 1


def _naive(op, arguments):
    """A Case's ``naive``: (arrays) -> a callable running ``reference.<op>_forward_naive`` on
    ``arguments(arrays)`` and its backward on the arrays' ``dout``."""

    def build(a):
        from .. import reference

        forward, backward = getattr(reference, f"{op}_forward_naive"), getattr(reference, f"{op}_backward_naive")

        def run():
            backward(a["dout"], forward(*arguments(a))[1])

        return run

    return build


def conv2d_case(x_shape, w_shape, stride=1, padding=0, groups=1, suites=("conv",), naive=False) -> Case:
    """A conv2d row: x (N, C, H, W), weight (C_out, C/groups, kH, kW), int stride and padding."""
    n, c, h, w = x_shape
    c_out, _, kh, kw = w_shape
    ho, wo = _conv_out(h, kh, stride, padding), _conv_out(w, kw, stride, padding)
    macs = n * c_out * ho * wo * (c // groups) * kh * kw
    label = f"x{tuple(x_shape)} w{tuple(w_shape)} s{stride} p{padding}" + (f" g{groups}" if groups != 1 else "")

    def setup(dtype, rng):
        return {
            "x": rng.standard_normal(x_shape).astype(dtype),
            "w": rng.standard_normal(w_shape).astype(dtype) / math.sqrt(c // groups * kh * kw),
            "b": rng.standard_normal(c_out).astype(dtype),
            "dout": rng.standard_normal((n, c_out, ho, wo)).astype(dtype),
        }

    def build(a):
        from ..functional import conv2d_backward, conv2d_forward

        def forward():
            return conv2d_forward(a["x"], a["w"], a["b"], stride, padding, 1, groups)

        return forward, lambda state: conv2d_backward(a["dout"], state[1])

    def build_torch(torch, a):
        x = torch.from_numpy(a["x"]).requires_grad_()
        wt = torch.from_numpy(a["w"]).requires_grad_()
        b = torch.from_numpy(a["b"]).requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            x.grad = wt.grad = b.grad = None
            return torch.nn.functional.conv2d(x, wt, b, stride, padding, 1, groups)

        return forward, lambda out: out.backward(dout)

    return Case(
        op="conv2d",
        shape=label,
        suites=frozenset(suites) | {"all"},
        setup=setup,
        numcnn=build,
        torch=build_torch,
        flops=3 * 2 * macs,
        im2col_elements=n * c * kh * kw * ho * wo,
        naive=_naive("conv", lambda a: (a["x"], a["w"], a["b"], {"stride": stride, "pad": padding}))
        if naive and groups == 1 else None,
        plan=lambda a: build(a)[0]()[1].plan,
    )


def max_pool2d_case(x_shape, kernel, stride, padding=0, suites=("pool",), naive=False) -> Case:
    """A max_pool2d row: x (N, C, H, W), square int kernel, stride and padding."""
    n, c, h, w = x_shape
    ho, wo = _conv_out(h, kernel, stride, padding), _conv_out(w, kernel, stride, padding)
    label = f"x{tuple(x_shape)} k{kernel} s{stride} p{padding}"

    def setup(dtype, rng):
        return {
            "x": rng.standard_normal(x_shape).astype(dtype),
            "dout": rng.standard_normal((n, c, ho, wo)).astype(dtype),
        }

    def build(a):
        from ..functional import max_pool2d_backward, max_pool2d_forward

        def forward():
            return max_pool2d_forward(a["x"], kernel, stride, padding)

        return forward, lambda state: max_pool2d_backward(a["dout"], state[1])

    def build_torch(torch, a):
        x = torch.from_numpy(a["x"]).requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            x.grad = None
            return torch.nn.functional.max_pool2d(x, kernel, stride, padding)

        return forward, lambda out: out.backward(dout)

    return Case(
        op="max_pool2d",
        shape=label,
        suites=frozenset(suites) | {"all"},
        setup=setup,
        numcnn=build,
        torch=build_torch,
        naive=_naive("max_pool", lambda a: (a["x"], {"pool_height": kernel, "pool_width": kernel, "stride": stride}))
        if naive and padding == 0 else None,
    )


# The suite of issue 3 (float32, NCHW); "quick" is a subset that runs in well under a minute.
CASES: list[Case] = [
    conv2d_case((32, 64, 32, 32), (64, 64, 3, 3), 1, 1),
    conv2d_case((64, 3, 32, 32), (32, 3, 5, 5), 1, 2),
    conv2d_case((100, 3, 31, 31), (25, 3, 3, 3), 2, 1, suites=("conv", "quick"), naive=True),
    conv2d_case((16, 128, 16, 16), (128, 128, 3, 3), 1, 1, suites=("conv", "quick")),
    conv2d_case((8, 256, 14, 14), (256, 256, 3, 3), 1, 1),
    conv2d_case((32, 64, 28, 28), (128, 64, 1, 1), 1, 0, suites=("conv", "quick")),
    conv2d_case((32, 64, 32, 32), (64, 1, 3, 3), 1, 1, groups=64),
    conv2d_case((64, 1, 28, 28), (6, 1, 5, 5), 1, 0, suites=("conv", "quick")),
    conv2d_case((32, 32, 56, 56), (64, 32, 3, 3), 2, 1),
    max_pool2d_case((32, 64, 32, 32), 2, 2, 0, suites=("pool", "quick")),
    max_pool2d_case((32, 64, 32, 32), 3, 2, 1),
    max_pool2d_case((64, 128, 16, 16), 2, 2, 0),
    max_pool2d_case((100, 3, 32, 32), 2, 2, 0, suites=("pool", "quick"), naive=True),
    max_pool2d_case((32, 96, 55, 55), 3, 2, 0),
]


# --- the conv/pool family (issue 5): one representative row per new op -----------------------


def family_case(op, label, inputs, ours, theirs, macs=0, suites=("family",), function=None, plan=None) -> Case:
    """A row for any op of the family.

    ``inputs(dtype, rng)`` returns the input arrays; ``ours(F, a)`` runs ``numcnn.functional``'s
    forward on them and returns ``(out, cache)``; ``theirs(torch, t)`` runs PyTorch's forward on
    tensors of the same names.  ``dout`` is drawn in ``setup`` from the output's shape; backward
    passes are ``numcnn.functional.<function or op>_backward`` and ``out.backward(dout)``.
    ``op`` names the row (and its geometric mean), so a variant of an op gets its own name.
    ``plan(arrays)``: the row's ConvPlan (default, for a convolution: its forward cache's plan).
    """

    def setup(dtype, rng):
        from .. import functional

        a = inputs(dtype, rng)
        out = ours(functional, a)[0]
        out = out[0] if isinstance(out, tuple) else out
        a["dout"] = rng.standard_normal(out.shape).astype(dtype)
        return a

    def build(a):
        from .. import functional

        backward = getattr(functional, f"{function or op}_backward")
        return lambda: ours(functional, a)[1], lambda cache: backward(a["dout"], cache)

    def build_torch(torch, a):
        tensors = {k: torch.from_numpy(v) for k, v in a.items() if k != "dout"}
        for k, t in tensors.items():
            if t.is_floating_point():
                t.requires_grad_()
        dout = torch.from_numpy(a["dout"])

        def forward():
            for t in tensors.values():
                t.grad = None
            return theirs(torch, tensors)

        return forward, lambda out: out.backward(dout)

    def cache_plan(a):
        from .. import functional

        return ours(functional, a)[1].plan

    if plan is None and op.startswith("conv"):
        plan = cache_plan
    return Case(
        op=op, shape=label, suites=frozenset(suites) | {"all"}, setup=setup, numcnn=build, torch=build_torch,
        flops=3 * 2 * macs, plan=plan,
    )


def _transposed_plan(out_shape, w_shape, stride, padding):
    """(arrays) -> the plan of a transposed convolution's seam: the convolution of its output
    (``out_shape``) back to its input by the same weight, whose input gradient is the transposed
    forward and whose forward and weight gradient are its backward (conv_transpose.py)."""

    def plan(a):
        from ..functional.conv import Geometry, plan_conv

        nd = len(w_shape) - 2
        geom = Geometry(out_shape, w_shape, (stride,) * nd, ((padding, padding),) * nd, (1,) * nd, 1)
        return plan_conv(geom, a["x"].dtype, one_pass=False)

    return plan


def _normal(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _family_cases() -> list[Case]:
    def conv_inputs(x_shape, w_shape):
        return lambda dt, rng: {
            "x": _normal(rng, x_shape, dt),
            "w": _normal(rng, w_shape, dt, 1 / math.sqrt(math.prod(w_shape[1:]))),
            "b": _normal(rng, (w_shape[0],), dt),
        }

    def pooled(x_shape, kernel):
        # max_unpool's input: a max pool's output and indices, made once
        def inputs(dt, rng):
            from ..functional import max_pool2d_forward

            (out, idx), _ = max_pool2d_forward(_normal(rng, x_shape, dt), kernel, return_indices=True)
            return {"x": out, "indices": idx}

        return inputs

    return [
        family_case(
            "conv_transpose2d", "x(32, 64, 16, 16) w(64, 32, 4, 4) s2 p1",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 16, 16), dt), "w": _normal(rng, (64, 32, 4, 4), dt, 0.03),
                             "b": _normal(rng, (32,), dt)},
            lambda F, a: F.conv_transpose2d_forward(a["x"], a["w"], a["b"], stride=2, padding=1),
            lambda torch, t: torch.nn.functional.conv_transpose2d(t["x"], t["w"], t["b"], stride=2, padding=1),
            macs=32 * 64 * 16 * 16 * 32 * 4 * 4,
            plan=_transposed_plan((32, 32, 32, 32), (64, 32, 4, 4), stride=2, padding=1),
        ),
        family_case(
            "conv2d_reflect", "x(16, 32, 64, 64) w(32, 32, 3, 3) p1 reflect",
            conv_inputs((16, 32, 64, 64), (32, 32, 3, 3)),
            lambda F, a: F.conv2d_forward(a["x"], a["w"], a["b"], padding=1, padding_mode="reflect"),
            lambda torch, t: torch.nn.functional.conv2d(
                torch.nn.functional.pad(t["x"], (1, 1, 1, 1), mode="reflect"), t["w"], t["b"]),
            macs=16 * 32 * 64 * 64 * 32 * 9,
            function="conv2d",
        ),
        family_case(
            "conv1d", "x(32, 64, 256) w(64, 64, 5) p2",
            conv_inputs((32, 64, 256), (64, 64, 5)),
            lambda F, a: F.conv1d_forward(a["x"], a["w"], a["b"], padding=2),
            lambda torch, t: torch.nn.functional.conv1d(t["x"], t["w"], t["b"], padding=2),
            macs=32 * 64 * 256 * 64 * 5,
        ),
        family_case(
            "conv3d", "x(4, 16, 16, 32, 32) w(32, 16, 3, 3, 3) p1",
            conv_inputs((4, 16, 16, 32, 32), (32, 16, 3, 3, 3)),
            lambda F, a: F.conv3d_forward(a["x"], a["w"], a["b"], padding=1),
            lambda torch, t: torch.nn.functional.conv3d(t["x"], t["w"], t["b"], padding=1),
            macs=4 * 32 * 16 * 32 * 32 * 16 * 27,
        ),
        family_case(
            "avg_pool2d", "x(32, 64, 32, 32) k3 s2 p1",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 32, 32), dt)},
            lambda F, a: F.avg_pool2d_forward(a["x"], 3, 2, 1),
            lambda torch, t: torch.nn.functional.avg_pool2d(t["x"], 3, 2, 1),
        ),
        family_case(
            "adaptive_avg_pool2d", "x(64, 512, 7, 7) -> 1 (global)",
            lambda dt, rng: {"x": _normal(rng, (64, 512, 7, 7), dt)},
            lambda F, a: F.adaptive_avg_pool2d_forward(a["x"], 1),
            lambda torch, t: torch.nn.functional.adaptive_avg_pool2d(t["x"], 1),
        ),
        family_case(
            "adaptive_max_pool2d", "x(32, 64, 13, 13) -> 6",
            lambda dt, rng: {"x": _normal(rng, (32, 64, 13, 13), dt)},
            lambda F, a: F.adaptive_max_pool2d_forward(a["x"], 6),
            lambda torch, t: torch.nn.functional.adaptive_max_pool2d(t["x"], 6),
        ),
        family_case(
            "max_unpool2d", "x(32, 64, 16, 16) k2 -> 32x32",
            pooled((32, 64, 32, 32), 2),
            lambda F, a: F.max_unpool2d_forward(a["x"], a["indices"], 2),
            lambda torch, t: torch.nn.functional.max_unpool2d(t["x"], t["indices"], 2),
        ),
    ]


CASES += _family_cases()


# --- whole models (issue 13): bench_models.py --------------------------------------------------
CASES += bench_models.model_cases()
