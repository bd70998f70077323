"""numcnn.reference (the loop twins, the spec) against numcnn.functional (the fast path).

For every op, hypothesis draws a configuration (shapes, stride, padding, dilation, groups,
ceil_mode, modes) and inputs of small integers (so windows hold ties and sums are exact) with
NaN and -inf sprinkled in; both implementations must return the same outputs, indices and
gradients (NaN in the same places), or both reject the configuration.  Each twin's backward is
also checked against centred differences (tests/gradcheck.py), for both implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from numcnn import functional as F, reference as R
from tests.gradcheck import backprop_test_factory, check_op_gradients

IMPLS = {"reference": R, "functional": F}


@dataclass
class Case:
    """One drawn call: ``op`` names the pair ``op_forward``/``op_backward`` (or, with ``grads``
    None, a plain function); ``grads`` names the backward's results, ``wrt`` the inputs whose
    gradients a numeric check can verify."""

    op: str
    inputs: dict
    grads: tuple | None = ("x",)
    wrt: tuple = ("x",)
    extra: tuple = field(default=())  # cache attributes compared too


@st.composite
def values(draw, shape, kind, dtype=np.float64, nonfinite=True):
    """``kind='ties'``: integers in [-2, 2] with up to two NaNs and two -infs; ``'smooth'``:
    standard normal float64 (for numeric gradients)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "smooth":
        return rng.standard_normal(shape)
    a = rng.integers(-2, 3, size=shape).astype(dtype)
    if nonfinite and a.size:
        flat = a.reshape(-1)
        flat[rng.integers(0, a.size, draw(st.integers(0, 2)))] = np.nan
        flat[rng.integers(0, a.size, draw(st.integers(0, 2)))] = -np.inf
    return a


def ints(lo, hi):
    return st.integers(lo, hi)


def per_axis(draw, nd, strategy):
    return tuple(draw(strategy) for _ in range(nd))


def dtype_for(draw, kind):
    return np.float64 if kind == "smooth" else draw(st.sampled_from([np.float64, np.float32]))


@st.composite
def conv_cases(draw, kind, nd=None):
    nd, groups = nd or draw(ints(1, 3)), draw(ints(1, 2))
    c_in, c_out = groups * draw(ints(1, 2)), groups * draw(ints(1, 2))
    kernel, dilation = per_axis(draw, nd, ints(1, 3)), per_axis(draw, nd, ints(1, 2))
    stride = per_axis(draw, nd, ints(1, 2))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2, "tuple"]))
    if padding == "tuple":
        padding = per_axis(draw, nd, ints(0, 2))
    if padding == "same":
        stride = 1
    spatial = tuple(d * (k - 1) + 1 + draw(ints(0, 4 - nd)) for k, d in zip(kernel, dilation))
    dtype = dtype_for(draw, kind)
    inputs = dict(
        x=draw(values((draw(ints(1, 2)), c_in) + spatial, kind, dtype)),
        weight=draw(values((c_out, c_in // groups) + kernel, kind, dtype, nonfinite=False)),
        bias=draw(st.none() | values((c_out,), kind, dtype, nonfinite=False)),
        stride=stride, padding=padding, dilation=dilation, groups=groups,
        padding_mode=draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    )
    wrt = ("x", "weight") + (() if inputs["bias"] is None else ("bias",))
    return Case(f"conv{nd}d", inputs, ("x", "weight", "bias"), wrt)


@st.composite
def conv_transpose_cases(draw, kind):
    nd, groups = draw(ints(1, 3)), draw(ints(1, 2))
    c_in, c_out_group = groups * draw(ints(1, 2)), draw(ints(1, 2))
    kernel, dilation = per_axis(draw, nd, ints(1, 3)), per_axis(draw, nd, ints(1, 2))
    stride = per_axis(draw, nd, ints(1, 3))
    output_padding = tuple(draw(ints(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    dtype = dtype_for(draw, kind)
    inputs = dict(
        x=draw(values((draw(ints(1, 2)), c_in) + per_axis(draw, nd, ints(1, 4 - nd)), kind, dtype)),
        weight=draw(values((c_in, c_out_group) + kernel, kind, dtype, nonfinite=False)),
        bias=draw(st.none() | values((c_out_group * groups,), kind, dtype, nonfinite=False)),
        stride=stride, padding=per_axis(draw, nd, ints(0, 2)), output_padding=output_padding,
        groups=groups, dilation=dilation,
    )
    wrt = ("x", "weight") + (() if inputs["bias"] is None else ("bias",))
    return Case(f"conv_transpose{nd}d", inputs, ("x", "weight", "bias"), wrt)


@st.composite
def max_pool_cases(draw, kind):
    nd = draw(ints(1, 3))
    kernel, dilation = per_axis(draw, nd, ints(1, 3)), per_axis(draw, nd, ints(1, 2))
    spatial = tuple(d * (k - 1) + 1 + draw(ints(0, 5 - nd)) for k, d in zip(kernel, dilation))
    inputs = dict(
        x=draw(values((draw(ints(1, 2)), draw(ints(1, 2))) + spatial, kind, dtype_for(draw, kind))),
        kernel_size=kernel, stride=draw(st.none() | st.tuples(*[ints(1, 3)] * nd)),
        padding=tuple(draw(ints(0, k // 2)) for k in kernel), dilation=dilation,
        ceil_mode=draw(st.booleans()), return_indices=draw(st.booleans()),
    )
    return Case(f"max_pool{nd}d", inputs)


@st.composite
def avg_pool_cases(draw, kind):
    nd = draw(ints(1, 3))
    kernel = per_axis(draw, nd, ints(1, 3))
    inputs = dict(
        x=draw(values((draw(ints(1, 2)), draw(ints(1, 2))) + tuple(k + draw(ints(0, 5 - nd)) for k in kernel),
                      kind, dtype_for(draw, kind))),
        kernel_size=kernel, stride=draw(st.none() | st.tuples(*[ints(1, 3)] * nd)),
        padding=tuple(draw(ints(0, k // 2)) for k in kernel),
        ceil_mode=draw(st.booleans()), count_include_pad=draw(st.booleans()),
    )
    if nd > 1:
        inputs["divisor_override"] = draw(st.sampled_from([None, None, 1, 3, -2]))
    return Case(f"avg_pool{nd}d", inputs)


@st.composite
def adaptive_cases(draw, kind, op):
    nd = draw(ints(1, 3))
    x = draw(values((draw(ints(1, 2)), draw(ints(1, 2))) + per_axis(draw, nd, ints(1, 6 - nd)), kind, dtype_for(draw, kind)))
    output_size = draw(ints(1, 5) | st.tuples(*[st.none() | ints(1, 5)] * nd))
    inputs = dict(x=x, output_size=output_size)
    if op == "max":
        inputs["return_indices"] = draw(st.booleans())
    return Case(f"adaptive_{op}_pool{nd}d", inputs)


@st.composite
def unpool_cases(draw, kind):
    nd = draw(ints(1, 3))
    kernel = per_axis(draw, nd, ints(1, 3))
    # overlapping windows can repeat an index, and then only the last write has a gradient
    stride = None if kind == "smooth" else draw(st.none() | st.tuples(*[ints(1, 3)] * nd))
    padding = tuple(draw(ints(0, k // 2)) for k in kernel)
    pooled = np.random.default_rng(draw(ints(0, 99))).standard_normal((2, 2) + tuple(k + draw(ints(0, 3)) for k in kernel))
    (out, indices), _ = getattr(F, f"max_pool{nd}d_forward")(pooled, kernel, stride, padding, return_indices=True)
    inputs = dict(x=draw(values(out.shape, kind)), indices=indices, kernel_size=kernel, stride=stride, padding=padding)
    return Case(f"max_unpool{nd}d", inputs)


@st.composite
def linear_cases(draw, kind):
    lead = draw(st.sampled_from([(), (3,), (2, 3)]))
    f_in, f_out = draw(ints(1, 4)), draw(ints(1, 3))
    inputs = dict(x=draw(values(lead + (f_in,), kind)), weight=draw(values((f_out, f_in), kind, nonfinite=False)),
                  bias=draw(st.none() | values((f_out,), kind, nonfinite=False)))
    return Case("linear", inputs, ("x", "weight", "bias"), ("x", "weight") + (() if inputs["bias"] is None else ("bias",)))


@st.composite
def activation_cases(draw, kind, op):
    inputs = dict(x=draw(values(draw(st.sampled_from([(5,), (2, 3), (2, 2, 3)])), kind, dtype_for(draw, kind))))
    if op == "leaky_relu":
        inputs["negative_slope"] = draw(st.sampled_from([0.01, 0.5, 0.0, -0.2]))
    return Case(op, inputs)


def _affine(draw, kind, shape):
    weight = draw(st.none() | values(shape, kind, nonfinite=False))
    bias = draw(st.none() | values(shape, kind, nonfinite=False))
    return dict(weight=weight, bias=bias), ("x",) + tuple(k for k, v in (("weight", weight), ("bias", bias)) if v is not None)


@st.composite
def norm_cases(draw, kind, op):
    nonfinite = draw(st.booleans())  # a NaN makes its whole group NaN: half the cases stay finite
    x_shape = (draw(ints(2, 3)), 2 * draw(ints(1, 2))) + draw(st.sampled_from([(), (3,), (2, 3)]))
    inputs = dict(x=draw(values(x_shape, kind, nonfinite=nonfinite)))
    extra = ()
    if op == "batch_norm":
        affine, wrt = _affine(draw, kind, (x_shape[1],))
        training = draw(st.booleans())
        stats = draw(st.booleans()) or not training
        rng = np.random.default_rng(0)
        inputs.update(running_mean=rng.standard_normal(x_shape[1]) if stats else None,
                      running_var=rng.uniform(0.5, 2, x_shape[1]) if stats else None,
                      training=training, momentum=draw(st.sampled_from([0.1, 0.5])), **affine)
        extra = ("running_mean", "running_var")
    elif op == "layer_norm":
        k = draw(ints(1, len(x_shape)))
        affine, wrt = _affine(draw, kind, x_shape[-k:])
        inputs.update(normalized_shape=x_shape[-k:], **affine)
    else:
        affine, wrt = _affine(draw, kind, (x_shape[1],))
        inputs.update(num_groups=draw(st.sampled_from([g for g in (1, 2, 4) if x_shape[1] % g == 0])), **affine)
    return Case(op, inputs, ("x", "weight", "bias"), wrt, extra)


@st.composite
def dropout_cases(draw, kind):
    inputs = dict(x=draw(values((3, 4), kind, dtype_for(draw, kind))), p=draw(st.sampled_from([0.0, 0.3, 0.5, 1.0])),
                  training=draw(st.booleans()), rng=draw(ints(0, 9)))
    return Case("dropout", inputs)


@st.composite
def pad_cases(draw, kind):
    mode = draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    k = draw(ints(1, 3))
    ndim = k + draw(ints(1, 2)) if mode != "constant" else draw(ints(k, 4))
    x = draw(values(tuple(draw(ints(1, 4)) for _ in range(ndim)), kind))
    pad = tuple(draw(ints(-2, 3)) for _ in range(2 * k))
    inputs = dict(x=x, pad=pad, mode=mode)
    if mode == "constant":
        # a non-finite fill makes the numeric gradient NaN; only the agreement cases draw it
        inputs["value"] = draw(st.sampled_from([0.0, 1.5] if kind == "smooth" else [0.0, 1.5, -np.inf]))
    return Case("pad", inputs)


@st.composite
def loss_cases(draw, kind, op):
    shape = draw(st.sampled_from([(3, 4), (2, 3, 2), (1, 1)]))
    logits = draw(values(shape, kind))
    if op != "cross_entropy":
        return Case(op, dict(x=logits, axis=draw(ints(-1, len(shape) - 1))), grads=None)
    rng = np.random.default_rng(draw(ints(0, 99)))
    if draw(st.booleans()):
        y = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    else:
        y = rng.dirichlet(np.ones(shape[1]), shape[:1] + shape[2:]).reshape(shape[0], *shape[2:], shape[1])
        y = np.moveaxis(y, -1, 1)
    return Case(op, dict(logits=logits, y=y, label_smoothing=draw(st.sampled_from([0.0, 0.1]))), grads=None)


FAMILIES = {
    "conv": conv_cases,
    "conv_transpose": conv_transpose_cases,
    "max_pool": max_pool_cases,
    "avg_pool": avg_pool_cases,
    "adaptive_avg_pool": lambda kind: adaptive_cases(kind, "avg"),
    "adaptive_max_pool": lambda kind: adaptive_cases(kind, "max"),
    "max_unpool": unpool_cases,
    "linear": linear_cases,
    "relu": lambda kind: activation_cases(kind, "relu"),
    "leaky_relu": lambda kind: activation_cases(kind, "leaky_relu"),
    "batch_norm": lambda kind: norm_cases(kind, "batch_norm"),
    "layer_norm": lambda kind: norm_cases(kind, "layer_norm"),
    "group_norm": lambda kind: norm_cases(kind, "group_norm"),
    "dropout": dropout_cases,
    "pad": pad_cases,
    "softmax": lambda kind: loss_cases(kind, "softmax"),
    "log_softmax": lambda kind: loss_cases(kind, "log_softmax"),
    "cross_entropy": lambda kind: loss_cases(kind, "cross_entropy"),
}
PAIRS = [f for f in FAMILIES if f not in ("softmax", "log_softmax", "cross_entropy")]
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def has_op(module, op) -> bool:
    return hasattr(module, op if op in ("softmax", "log_softmax", "cross_entropy") else op + "_forward")


def run(module, case: Case):
    """Everything the call returns: outputs (and indices), then the backward's gradients of a
    fixed small-integer ``dout``, then the cache attributes ``case.extra``."""
    if case.grads is None:
        result = getattr(module, case.op)(**case.inputs)
        return result if isinstance(result, tuple) else (result,)
    out, cache = getattr(module, case.op + "_forward")(**case.inputs)
    outs = out if isinstance(out, tuple) else (out,)
    dout = np.random.default_rng(1).integers(-3, 4, outs[0].shape).astype(outs[0].dtype)
    grads = getattr(module, case.op + "_backward")(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    return outs + grads + tuple(getattr(cache, name) for name in case.extra)


def assert_same(ref, fast, what):
    if ref is None or fast is None or np.isscalar(ref):
        if ref is None or fast is None:
            assert ref is fast, f"{what}: {ref!r} vs {fast!r}"
        else:
            np.testing.assert_allclose(ref, fast, rtol=1e-12, equal_nan=True, err_msg=what)
        return
    assert ref.shape == fast.shape and ref.dtype == fast.dtype, f"{what}: {ref.shape} {ref.dtype} vs {fast.shape} {fast.dtype}"
    if not np.issubdtype(ref.dtype, np.floating):
        np.testing.assert_array_equal(ref, fast, err_msg=what)
        return
    tol = 1e-12 if ref.dtype == np.float64 else 2e-6
    np.testing.assert_allclose(ref, fast, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("family", FAMILIES)
@settings(max_examples=30, **SETTINGS)
@given(data=st.data())
def test_reference_agrees_with_functional(family, data):
    case = data.draw(FAMILIES[family]("ties"))
    if not has_op(F, case.op):
        pytest.skip(f"numcnn.functional has no {case.op} yet")
    results = {}
    for impl, module in IMPLS.items():
        try:
            with np.errstate(all="ignore"):
                results[impl] = run(module, case)
        except (ValueError, TypeError) as error:
            results[impl] = error
    ref, fast = results["reference"], results["functional"]
    if isinstance(ref, Exception) or isinstance(fast, Exception):
        assert isinstance(ref, Exception) and isinstance(fast, Exception), f"only one rejects {case}: {ref!r} / {fast!r}"
        assume(False)
    assert len(ref) == len(fast)
    for i, (a, b) in enumerate(zip(ref, fast)):
        assert_same(a, b, f"{case.op} result {i}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", PAIRS)
@settings(max_examples=4, **SETTINGS)
@given(data=st.data())
def test_backward_matches_numeric_gradient(family, impl, data):
    case = data.draw(FAMILIES[family]("smooth"))
    module = IMPLS[impl]
    if not has_op(module, case.op):
        pytest.skip(f"numcnn.{impl} has no {case.op} yet")
    try:
        getattr(module, case.op + "_forward")(**case.inputs)
    except ValueError:
        assume(False)  # a drawn configuration with no output
    forward, backward = getattr(module, case.op + "_forward"), getattr(module, case.op + "_backward")
    check_op_gradients(forward, backward, case.inputs, case.wrt, case.grads)


def accepted_by(forward):
    """A filter: the inputs that ``forward`` accepts (drawn configurations may have no output)."""

    def accepts(inputs):
        try:
            forward(**inputs)
        except ValueError:
            return False
        return True

    return accepts


test_reference_conv2d_gradients_by_factory = backprop_test_factory(
    R.conv2d_forward, R.conv2d_backward,
    conv_cases("smooth", nd=2).map(lambda case: case.inputs).filter(accepted_by(R.conv2d_forward)),
    wrt=("x", "weight"), grads=("x", "weight", "bias"), max_examples=3,
)


# --- the rules themselves, against PyTorch ------------------------------------------------------

try:
    import torch
except ImportError:  # the oracle tests below skip
    torch = None

needs_torch = [pytest.mark.torch, pytest.mark.skipif(torch is None, reason="torch is not importable")]


def torch_pool(case):
    """PyTorch's (out, indices, dx) for a max-pool case, dout as in :func:`run`."""
    x = torch.tensor(case.inputs["x"], dtype=torch.float64, requires_grad=True)
    kwargs = {k: v for k, v in case.inputs.items() if k not in ("x", "return_indices")}
    if isinstance(kwargs.get("output_size"), tuple):  # torch's 1-D adaptive pool takes no None
        kwargs["output_size"] = tuple(n if o is None else o for o, n in zip(kwargs["output_size"], x.shape[2:]))
    out, indices = getattr(torch.nn.functional, case.op)(x, **kwargs, return_indices=True)
    dout = np.random.default_rng(1).integers(-3, 4, tuple(out.shape)).astype(np.float64)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), indices.numpy(), x.grad.numpy()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("family", ["max_pool", "adaptive_max_pool"])
@settings(max_examples=25, **SETTINGS)
@given(data=st.data())
def test_max_pools_follow_torch_on_ties_nan_and_neg_inf(family, impl, data):
    """Ties: the first maximum in scan order; NaN: the maximum, the LAST of several; an all
    -inf window: its first position inside the input.  Overlapping windows accumulate."""
    case = data.draw(FAMILIES[family]("ties"))
    case.inputs.update(x=case.inputs["x"].astype(np.float64), return_indices=True)
    try:
        out, indices, dx = run(IMPLS[impl], case)
    except ValueError:
        assume(False)
    want_out, want_indices, want_dx = torch_pool(case)
    np.testing.assert_array_equal(out, want_out)  # NaN == NaN here
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(dx, want_dx)


for mark in needs_torch:
    test_max_pools_follow_torch_on_ties_nan_and_neg_inf = mark(test_max_pools_follow_torch_on_ties_nan_and_neg_inf)


@pytest.mark.parametrize("impl", IMPLS)
@settings(max_examples=60, **SETTINGS)
@given(data=st.data())
def test_pad_follows_torch(impl, data):
    """torch.nn.functional.pad: pads from the last dimension, negative pads crop, the four modes."""
    module = IMPLS[impl]
    if not has_op(module, "pad"):
        pytest.skip(f"numcnn.{impl} has no pad_forward yet")
    case = data.draw(pad_cases("ties"))
    x, pad = case.inputs["x"], case.inputs["pad"]
    cores = [n + min(lo, 0) + min(hi, 0) for n, lo, hi in zip(reversed(x.shape), pad[::2], pad[1::2])]
    # torch wraps a circular pad around a crop more than once (returning garbage for an empty one,
    # and a zero gradient); numcnn rejects that
    assume(case.inputs["mode"] != "circular" or max(pad) <= min(cores))
    xt = torch.tensor(x, requires_grad=True)
    try:
        want = torch.nn.functional.pad(xt, case.inputs["pad"], case.inputs["mode"], case.inputs.get("value"))
    except (RuntimeError, ValueError, NotImplementedError):
        assume(case.inputs["mode"] != "circular")  # torch trips on some circular crops it could pad
        with pytest.raises(ValueError):  # what torch rejects, numcnn rejects
            module.pad_forward(**case.inputs)
        return
    assume(want.numel() > 0)  # torch's rules for emptied dimensions differ by mode and dimension
    out, cache = module.pad_forward(**case.inputs)
    np.testing.assert_array_equal(out, want.detach().numpy())
    dout = np.random.default_rng(1).integers(-3, 4, out.shape).astype(np.float64)
    want.backward(torch.tensor(dout))
    np.testing.assert_array_equal(module.pad_backward(dout, cache), xt.grad.numpy())


for mark in needs_torch:
    test_pad_follows_torch = mark(test_pad_follows_torch)


def test_the_fast_path_never_imports_the_reference():
    import ast
    import pathlib

    import numcnn.functional

    for path in pathlib.Path(numcnn.functional.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [getattr(node, "module", None) or ""] + [alias.name for alias in node.names]
                assert not any("reference" in name for name in names), f"{path.name} imports the reference"


def test_cs231n_naive_max_pool_follows_torch_on_nan_and_ties():
    """The issue's case: with several NaNs in a window PyTorch (torch 2.13, checked) sends the
    gradient to the LAST; among tied maxima to the FIRST."""
    x = np.array([[[[1.0, np.nan, 2.0, 2.0], [np.nan, 2.0, 2.0, 2.0]]]])
    out, cache = R.max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(out, [[[[np.nan, 2.0]]]])
    dx = R.max_pool_backward_naive(np.array([[[[10.0, 20.0]]]]), cache)
    np.testing.assert_array_equal(dx, [[[[0, 0, 20, 0], [10, 0, 0, 0]]]])
