"""Which algorithm runs each pass of a convolution: chosen once, from shapes, dtype and threads.

:func:`plan_conv` looks at a convolution's :class:`Geometry` and returns a :class:`ConvPlan`, a
frozen value that prints as a few readable lines (as ``np.einsum_path`` or an FFTW plan do): the
path of the forward pass, of the weight gradient and of the input gradient, the kind of GEMM
each runs, how the batch is chunked, and how it is split over threads.  The forward keeps the
plan in its cache (``cache.plan``) and the backward runs it.

The rules are speed rules measured on a 2-core machine (rules.py; notes/conv-planner.md),
plus correctness rules that no speed rule overrides:

- a path applies only to the shapes it implements (:data:`PASSES` lists which pass each path
  implements at all; e.g. ``correlation`` and ``flat`` are input gradients only);
- paths that multiply structural zeros by a whole operand (band matrices, a zero-padded dout, a
  wide layout) need that operand finite (``NEEDS_FINITE``); with an inf or NaN there the pass
  takes the next path of its rule, so that an inf reaches only the sums it is in.  x and the
  weight are known at the forward; dout only at the backward, which re-plans then (only the
  backward rules that read dout's finiteness can change).

Tests and experiments force a path with :func:`force_paths` (a context manager around the
forward or the call that plans); a forced path replaces the speed rule wherever it applies.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from dataclasses import dataclass, field, fields, replace
import math

import numpy as np

from ... import _threads
from .columns import Chunking, batch_chunks
from .flat import flat_geometry
from .rules import (
    _BANDED_MAX_WIDTH,
    _DW_PER_SAMPLE_MAX_WEIGHTS,
    _DW_TRANSPOSED_MAX,
    _PARALLEL_MIN_MACS,
    _PARALLEL_MIN_MACS_PER_SAMPLE,
    is_depthwise,
    is_pointwise,
    per_sample,
    split,
    use_band2d,
    use_stacked,
    use_stacked_input_grad,
)

__all__ = ["Chunking", "ConvPlan", "Geometry", "force_paths", "plan_conv", "PASSES"]

# The paths each pass can take.  An algorithm module implements its passes as forward /
# weight_grad / input_grad (None where it has no such pass; run.py maps the names to them).
PASSES = {
    "forward": ("pointwise", "gemm", "stacked", "band2d", "depthwise-banded", "depthwise-flat", "depthwise-shifted"),
    "weight_grad": ("pointwise", "gemm", "stacked", "band2d", "depthwise-banded", "depthwise-flat",
                    "depthwise-shifted"),
    "input_grad": ("pointwise", "col2im", "correlation", "correlation-stacked", "flat", "stacked", "band2d",
                   "depthwise-banded", "depthwise-banded-correlation", "depthwise-flat-correlation",
                   "depthwise-shifted"),
}
# path -> the operands it needs finite (see the module docstring)
NEEDS_FINITE = {
    ("forward", "band2d"): ("x", "weight"),
    ("forward", "stacked"): ("weight",),
    ("forward", "depthwise-banded"): ("x", "weight"),
    ("weight_grad", "stacked"): ("x",),
    ("weight_grad", "depthwise-banded"): ("dout",),
    ("weight_grad", "depthwise-flat"): ("x",),
    ("input_grad", "band2d"): ("dout", "weight"),
    ("input_grad", "depthwise-banded"): ("dout", "weight"),
    ("input_grad", "depthwise-banded-correlation"): ("dout", "weight"),
    ("input_grad", "depthwise-flat-correlation"): ("weight",),
    ("input_grad", "correlation"): ("weight",),
    ("input_grad", "correlation-stacked"): ("weight",),
    ("input_grad", "stacked"): ("weight",),
    ("input_grad", "flat"): ("weight",),
}


@dataclass(frozen=True)
class Geometry:
    """The shapes of one convolution, every argument normalised.

    ``in_shape`` is the array the convolution reads, (N, C_in, *spatial): the caller's ``x``, or
    ``x`` already padded by a ``padding_mode`` other than 'zeros'.  ``pads`` are always the
    explicit zero pads, (before, after) per spatial axis (zero after a padding mode);
    ``padded_shape`` is ``in_shape`` with them added.
    """

    in_shape: tuple
    weight_shape: tuple  # (C_out, C_in/groups, *kernel)
    stride: tuple
    pads: tuple
    dilation: tuple
    groups: int

    @property
    def nd(self) -> int:
        return len(self.in_shape) - 2

    @property
    def kernel(self) -> tuple:
        return tuple(self.weight_shape[2:])

    @property
    def c_in(self) -> int:
        return self.in_shape[1]

    @property
    def c_out(self) -> int:
        return self.weight_shape[0]

    @functools.cached_property
    def padded_shape(self) -> tuple:
        return tuple(self.in_shape[:2]) + tuple(n + lo + hi for n, (lo, hi) in zip(self.in_shape[2:], self.pads))

    @functools.cached_property
    def out_spatial(self) -> tuple:
        return tuple((p - d * (k - 1) - 1) // s + 1
                     for p, k, s, d in zip(self.padded_shape[2:], self.kernel, self.stride, self.dilation))

    def part(self, n: int) -> "Geometry":
        """The same convolution on ``n`` samples (a batch part)."""
        return _part(self, n)

    def __str__(self) -> str:
        return (f"x{tuple(self.in_shape)} w{tuple(self.weight_shape)} stride {self.stride} pads {self.pads}"
                + (f" dilation {self.dilation}" if any(d != 1 for d in self.dilation) else "")
                + (f" groups {self.groups}" if self.groups != 1 else ""))


@functools.lru_cache(maxsize=256)
def _part(geom: Geometry, n: int) -> Geometry:
    return replace(geom, in_shape=(n,) + tuple(geom.in_shape[1:]))


@dataclass(frozen=True)
class ConvPlan:
    """The paths a convolution takes (see :data:`PASSES`), printable.

    ``*_gemm``: the kind of GEMM a path runs where it has a choice, 'per-sample' (one small GEMM
    per sample, a stack in one matmul) or 'chunk' (one per batch chunk; 'chunk-transposed' for a
    weight gradient computed as its transpose), else ''.  ``one_pass``: the backward computes
    the stacked weight and input gradients in one pass.  ``parts``: the batch ranges, one per
    thread (the weight gradient keeps the forward's).
    """

    geometry: Geometry
    dtype: str
    forward: str
    weight_grad: str
    input_grad: str
    forward_gemm: str = ""
    weight_grad_gemm: str = ""
    input_grad_gemm: str = ""
    one_pass: bool = False
    chunking: Chunking = field(default_factory=Chunking)
    parts: tuple = ()
    split_from: float = 0.0  # multiply-adds (planner.work) from which a pass splits over threads
    threads: int = 1
    forced: tuple = ()  # the force_paths choices it was made under, as (key, value) pairs

    def __str__(self) -> str:
        def path(name, gemm):
            return name + (f" ({gemm} GEMMs)" if gemm else "")

        weight = path(self.weight_grad, self.weight_grad_gemm) + (" + input grad in one pass" if self.one_pass else "")
        n = self.geometry.in_shape[0]
        split = ", ".join(f"{a}:{b}" for a, b in self.parts)
        lines = [
            f"conv plan for {self.geometry} {self.dtype}",
            f"  forward      {path(self.forward, self.forward_gemm)}",
            f"  weight grad  {weight}",
            f"  input grad   {path(self.input_grad, self.input_grad_gemm)}",
            f"  chunking     {self._chunking()}",
            f"  threads      {len(self.parts)} part{'s' if len(self.parts) != 1 else ''} of {n} samples "
            f"({split}) on {self.threads} thread{'s' if self.threads != 1 else ''}; "
            + (f"splits from {self.split_from / 1e6:g}M multiply-adds" if math.isfinite(self.split_from)
               else "never splits"),
        ]
        if self.forced:
            lines.append("  forced       " + ", ".join(f"{k}={v!r}" for k, v in self.forced))
        return "\n".join(lines)

    def _chunking(self) -> str:
        uses_columns = self.forward == "gemm" or self.weight_grad == "gemm"
        if not uses_columns:
            return "none (the paths need no im2col columns)"
        geom = self.geometry
        a, b = self.parts[0] if self.parts else (0, geom.in_shape[0])
        per_sample = geom.c_in * math.prod(geom.kernel) * math.prod(geom.out_spatial) * np.dtype(self.dtype).itemsize
        if (b - a) * per_sample <= self.chunking.keep_bytes:
            return "im2col columns built once per part, kept from forward to backward"
        step = batch_chunks(b - a, per_sample, self.chunking)[0]
        return f"im2col columns rebuilt in chunks of {step[1] - step[0]} samples"


# --- choosing -------------------------------------------------------------------------------

_forced = contextvars.ContextVar("numcnn_conv_forced", default=())
_GEMM_KINDS = ("per-sample", "chunk", "chunk-transposed")


@contextlib.contextmanager
def force_paths(**overrides):
    """Plan the convolutions started inside the block with these choices, where they apply.

    Keys: ``forward``, ``weight_grad``, ``input_grad`` (a path of :data:`PASSES`, or a tuple of
    them in order of preference: the first that applies is taken),
    ``forward_gemm``, ``weight_grad_gemm``, ``input_grad_gemm`` ('per-sample', 'chunk' or, for the
    weight gradient, 'chunk-transposed'), ``split`` (True: split every pass over the threads,
    however small; False: never), and the fields of :class:`Chunking`.  The plan in the cache
    records what was chosen; the backward runs the forward's plan, forced or not.

    >>> with force_paths(forward="gemm", forward_gemm="chunk"):  # doctest: +SKIP
    ...     out, cache = conv2d_forward(x, w)
    """
    chunk_fields = {f.name for f in fields(Chunking)}
    for key, value in overrides.items():
        if key in PASSES:
            if isinstance(value, str):
                value = overrides[key] = (value,)
            if not value or any(v not in PASSES[key] for v in value):
                raise ValueError(f"force_paths: {key} must be paths of {PASSES[key]}, got {value!r}")
        elif key.endswith("_gemm") and key[: -len("_gemm")] in PASSES:
            if value not in _GEMM_KINDS:
                raise ValueError(f"force_paths: {key} must be one of {_GEMM_KINDS}, got {value!r}")
        elif key not in chunk_fields and key != "split":
            raise ValueError(f"force_paths: unknown choice {key!r}")
    token = _forced.set(tuple(dict(_forced.get(), **overrides).items()))
    try:
        yield
    finally:
        _forced.reset(token)


class Operands:
    """The arrays of a convolution, for the rules that need one finite: each one's finiteness is
    computed once, and only when a rule asks (a summing pass over it, x's and dout's on the
    plan's batch parts in parallel).  An operand that is not given (None) counts as finite."""

    def __init__(self, x=None, weight=None, dout=None):
        self.arrays = {"x": x, "weight": weight, "dout": dout}
        self.parts = ()  # the plan's batch ranges, once planned
        self._finite = {}

    def with_dout(self, dout) -> "Operands":
        other = Operands(self.arrays["x"], self.arrays["weight"], dout)
        other.parts = self.parts
        other._finite = {k: v for k, v in self._finite.items() if k != "dout"}
        return other

    def finite(self, name) -> bool:
        if name not in self._finite:
            a = self.arrays[name]
            if a is None:
                self._finite[name] = True
            elif name != "weight" and len(self.parts) > 1:
                sums = _threads.run(lambda start, stop: all_finite(a[start:stop]), list(self.parts), uses_blas=False)
                self._finite[name] = all(sums)
            else:
                self._finite[name] = all_finite(a)
        return self._finite[name]


def all_finite(a) -> bool:
    """The paths of ``NEEDS_FINITE`` multiply structural zeros by every entry of an operand, so
    an inf or NaN would reach entries the direct sums keep it from.  (One summing pass; a sum
    that overflows just takes the other path too.)"""
    return bool(np.isfinite(a.sum()))


def _pick(pass_name, candidates, forced, operands):
    """The first candidate ``(path, applies, preferred)`` that applies, is preferred by the speed
    rule (or forced) and has its operands finite."""

    def finite(path):
        return operands is None or all(operands.finite(a) for a in NEEDS_FINITE.get((pass_name, path), ()))

    applicable = {path for path, applies, _ in candidates if applies}
    for want in forced.get(pass_name, ()):
        if want in applicable and finite(want):
            return want
    for path, applies, preferred in candidates:
        if applies and preferred and finite(path):
            return path
    raise AssertionError(f"no {pass_name} path for these shapes")  # the last candidate always applies


@functools.lru_cache(maxsize=256)
def _forward_candidates(geom: Geometry):
    kernel, stride, dilation, groups = geom.kernel, geom.stride, geom.dilation, geom.groups
    pointwise = is_pointwise(kernel, stride, geom.pads)
    dw = is_depthwise(geom.c_in, groups) and not pointwise
    flat_dw = dw and geom.nd == 2 and geom.c_out == geom.c_in and all(s == 1 for s in stride)
    plain = not pointwise and not dw
    return [
        ("pointwise", pointwise, True),
        ("depthwise-banded", dw and geom.nd == 2, geom.nd == 2 and geom.padded_shape[-1] <= _BANDED_MAX_WIDTH),
        ("depthwise-flat", flat_dw, True),
        ("depthwise-shifted", dw, True),
        ("band2d", plain and geom.nd == 2 and groups == 1, use_band2d(geom)),
        ("stacked", plain and groups == 1 and kernel[0] > 1, use_stacked(geom.c_in, geom.c_out, kernel, stride,
                                                                         dilation, groups)),
        ("gemm", plain, True),
    ]


@functools.lru_cache(maxsize=256)
def _weight_grad_candidates(geom: Geometry, forward: str):
    if forward in ("pointwise", "band2d"):  # their own columns: nothing else can read them
        return [(forward, True, True)]
    candidates = _forward_candidates(geom)
    dw = forward.startswith("depthwise")
    return [(path, applies and path.startswith("depthwise") == dw, preferred)
            for path, applies, preferred in candidates if path not in ("pointwise", "band2d")]


@functools.lru_cache(maxsize=256)
def _input_grad_candidates(geom: Geometry, forward: str):
    kernel, stride, dilation, groups = geom.kernel, geom.stride, geom.dilation, geom.groups
    c_in, c_out = geom.c_in, geom.c_out
    pointwise = is_pointwise(kernel, stride, geom.pads)
    dw = is_depthwise(c_in, groups) and not pointwise
    plain = not pointwise and not dw
    unit = all(s == 1 for s in stride)
    # stride-1 depthwise (multiplier 1): dx is the depthwise correlation of the padded dout with
    # the flipped kernel, one forward pass with no scatter-adds; dout is padded by span - pad on
    # each side (negative: cropped), which the flat taps cannot do
    dw_corr = dw and c_out == c_in and geom.nd == 2 and unit
    spans = tuple(d * (k - 1) for k, d in zip(kernel, dilation))
    corr_width = geom.in_shape[-1] + spans[-1]
    uncropped = all(sp - lo >= 0 and sp - hi >= 0 for (lo, hi), sp in zip(geom.pads, spans))
    return [
        ("pointwise", pointwise, True),
        # (where the band2d forward ran: with x or w not finite, x's gradient needs neither)
        ("band2d", plain and geom.nd == 2 and groups == 1, forward == "band2d"),
        ("depthwise-banded-correlation", dw_corr, corr_width <= _BANDED_MAX_WIDTH),
        ("depthwise-flat-correlation", dw_corr and uncropped, True),
        ("depthwise-banded", dw and geom.nd == 2, geom.padded_shape[-1] <= _BANDED_MAX_WIDTH),
        ("depthwise-shifted", dw, True),
        # a stride-1 dx is cheaper as a convolution of the padded dout with the flipped weight
        # (im2col + a GEMM whose inner size is C_out * prod(kernel)) than as W.T @ dout (inner size
        # C_out: poor GEMM efficiency) and a col2im, where C_out <= C_in; that convolution is
        # itself stacked where the stacked forward's rule takes it
        ("correlation-stacked", plain and unit and groups == 1 and kernel[0] > 1,
         c_out <= c_in and use_stacked(c_out, c_in, kernel, stride, dilation, groups)),
        ("correlation", plain and unit, c_out <= c_in),
        ("stacked", plain and groups == 1 and kernel[0] > 1,
         use_stacked_input_grad(c_in, c_out, kernel, stride, dilation, groups)),
        ("flat", plain and unit, True),
        ("col2im", plain, True),
    ]


@functools.lru_cache(maxsize=256)
def _gemm_kinds(geom: Geometry, forward, weight_grad, input_grad, forced_items):
    """The kind of GEMM of each pass that has a choice (see :class:`ConvPlan`); ``forced_items``:
    the forced choices as (key, value) pairs."""
    forced = dict(forced_items)
    g, kk = geom.groups, math.prod(geom.kernel)
    c_in, c_out = geom.c_in, geom.c_out
    positions = math.prod(geom.out_spatial)
    ckg = c_in // g * kk

    def kind(pass_name, small):
        want = forced.get(f"{pass_name}_gemm")
        if want in ("per-sample", "chunk"):
            return want
        return "per-sample" if small else "chunk"

    fwd = kind("forward", per_sample(c_out // g, ckg, positions)) if forward == "gemm" else ""
    wgt = ""
    if weight_grad == "gemm":
        cog = c_out // g
        want = forced.get("weight_grad_gemm")
        if want is not None:
            wgt = want
        elif per_sample(cog, ckg, positions) and cog * ckg <= _DW_PER_SAMPLE_MAX_WEIGHTS:
            wgt = "per-sample"
        else:
            wgt = "chunk-transposed" if cog * ckg <= _DW_TRANSPOSED_MAX else "chunk"
    inp = ""
    if input_grad == "correlation":
        inp = kind("input_grad", per_sample(c_in // g, c_out // g * kk, math.prod(geom.in_shape[2:])))
    elif input_grad == "flat":
        _, wide, _ = flat_geometry(geom.padded_shape[2:], geom.kernel, geom.dilation)
        inp = kind("input_grad", per_sample(ckg, c_out // g, wide))
    elif input_grad == "col2im":
        inp = kind("input_grad", per_sample(ckg, c_out // g, positions))
    return fwd, wgt, inp


def plan_conv(geom: Geometry, dtype, operands: Operands | None = None, forced=None, one_pass=True) -> ConvPlan:
    """The plan of a convolution of ``geom`` in ``dtype``.

    ``operands``: the arrays, for the rules that need one finite (None: all assumed finite, the
    plan of the shapes alone).  ``forced``: choices as :func:`force_paths` takes them (default:
    those of the enclosing ``force_paths`` blocks).  ``one_pass``: whether the backward may
    compute both gradients in one pass (False for an input gradient alone).
    """
    forced_items = tuple(sorted((_forced.get() if forced is None else dict(forced).items())))
    threads = (_threads.get_num_threads(), getattr(_threads._local, "busy", False), _threads._blas_controller() is not None)
    plan = _shape_plan(geom, np.dtype(dtype).name, forced_items, one_pass, threads)
    if operands is None:
        return plan
    operands.parts = plan.parts
    # with every operand its paths need finite, the shapes' plan stands (the rules only ever
    # skip a path for an operand that is not); else the rules run again, reading them
    if all(operands.finite(name) for name in _needs_finite(plan)):
        return plan
    forward = _pick("forward", _forward_candidates(geom), dict(forced_items), operands)
    return _choose_gradients(replace(plan, forward=forward), operands, one_pass)


def plan_backward(plan: ConvPlan, operands: Operands) -> ConvPlan:
    """The forward's ``plan`` with the gradients' paths for ``operands``, whose dout may hold an
    inf or NaN (the forward path stays): the plan itself unless one of its gradient paths needs
    dout finite and it is not."""
    if "dout" not in _needs_finite(plan) or operands.finite("dout"):
        return plan
    return _choose_gradients(plan, operands, True)


def _needs_finite(plan: ConvPlan) -> set:
    needs = set()
    for pass_name in PASSES:
        needs.update(NEEDS_FINITE.get((pass_name, getattr(plan, pass_name)), ()))
    return needs | ({"x", "weight"} if plan.one_pass else set())


@functools.lru_cache(maxsize=256)
def _shape_plan(geom: Geometry, dtype: str, forced_items: tuple, one_pass: bool, threads: tuple) -> ConvPlan:
    """The plan of the shapes alone (every operand finite); ``threads``: what the thread split
    depends on (numcnn's thread count, whether this thread runs a part, whether BLAS can be
    limited), a key of the cache only."""
    forced = dict(forced_items)
    forward = _pick("forward", _forward_candidates(geom), forced, None)
    # the thread split follows the shapes' plan (a pass of per-sample GEMMs runs on one core
    # when whole, so it splits from less work)
    forward_gemm = _gemm_kinds(geom, forward, "", "", forced_items)[0]
    if "split" in forced:
        min_work = 0 if forced["split"] else math.inf
    else:
        min_work = _PARALLEL_MIN_MACS_PER_SAMPLE if forward_gemm == "per-sample" else _PARALLEL_MIN_MACS
    parts = split(geom, min_work) if geom.in_shape[0] else ((0, 0),)
    plan = ConvPlan(geom, dtype, forward, "", "", parts=parts, split_from=min_work, threads=threads[0],
                    chunking=replace(Chunking(), **{k: v for k, v in forced.items() if k in _CHUNK_FIELDS}),
                    forced=forced_items)
    return _choose_gradients(plan, None, one_pass)


_CHUNK_FIELDS = {f.name for f in fields(Chunking)}


def _choose_gradients(plan: ConvPlan, operands: Operands | None, one_pass) -> ConvPlan:
    """``plan`` with the weight and input gradients' paths chosen for ``operands`` (None: all
    finite) after its forward path."""
    geom, forced, forward = plan.geometry, dict(plan.forced), plan.forward
    weight_grad = _pick("weight_grad", _weight_grad_candidates(geom, forward), forced, operands)
    ig_candidates = _input_grad_candidates(geom, forward)
    fused = False
    if one_pass and weight_grad == "stacked" and forward in ("stacked", "gemm"):
        # one pass for both gradients, whatever dx's own rule (even where it would take the
        # correlation of dout): its dY serves both GEMMs; 2 threads, (32, 64, 32, 32) x
        # (64, 64, 3, 3) 42.2 -> 38.2 ms, (16, 32, 66, 66) x (32, 32, 3, 3) 27.6 -> 27.0,
        # (32, 64, 256) x (64, 64, 5) 8.2 -> 7.8
        stacked_dx = next(c for c in ig_candidates if c[0] == "stacked")
        want = forced.get("input_grad")
        wanted = stacked_dx[2] if want is None else want[0] == "stacked"
        fused = stacked_dx[1] and wanted and (
            operands is None or (operands.finite("x") and operands.finite("weight")))
    input_grad = "stacked" if fused else _pick("input_grad", ig_candidates, forced, operands)
    gemms = _gemm_kinds(geom, forward, weight_grad, input_grad, plan.forced)
    return replace(plan, weight_grad=weight_grad, input_grad=input_grad, forward_gemm=gemms[0],
                   weight_grad_gemm=gemms[1], input_grad_gemm=gemms[2], one_pass=fused)
