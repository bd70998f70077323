"""``numcnn summary``: a model's layers with output shape, parameters and FLOPs, the table people
check their shape arithmetic against."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import Tensor, no_grad
from ..errors import UserError
from ..models import DEFAULT_INPUT_SHAPES, DEFAULT_NUM_CLASSES, MODELS, build_model, model_spec, uses_tape
from ..nn import Module, Sequential

__all__ = ["LayerRow", "layer_table", "format_table"]


@dataclass(frozen=True)
class LayerRow:
    name: str  # the module's state-dict prefix, e.g. "0" or "layer1.0.conv1"
    kind: str  # class name and arguments, e.g. "Conv2d(1, 6, k=5, p=2)"
    output_shape: tuple  # without the batch dimension
    params: int
    flops: int


def _pair(value) -> str:
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return "x".join(map(str, value))


def _scalar_or_pair(value) -> str:
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return str(value[0]) if len(set(value)) == 1 else "x".join(map(str, value))


def _nontrivial(value, trivial) -> bool:
    value = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return any(v != trivial for v in value)


def _describe(module) -> str:
    """A compact description: ``Conv2d(1->6, 5x5, pad 2)``, ``MaxPool2d(2x2)``, ``Linear(400->120)``."""
    kind = type(module).__name__
    args = []
    if kind.startswith("Conv"):
        args = [f"{module.in_channels}->{module.out_channels}", _pair(module.kernel_size)]
        for attr, trivial, label in (("stride", 1, "stride"), ("padding", 0, "pad"), ("dilation", 1, "dil")):
            value = getattr(module, attr, trivial)
            if isinstance(value, str) or _nontrivial(value, trivial):
                args.append(f"{label} {value if isinstance(value, str) else _scalar_or_pair(value)}")
        if getattr(module, "groups", 1) != 1:
            args.append(f"groups {module.groups}")
        if getattr(module, "bias", None) is None:
            args.append("no bias")
    elif kind.startswith("Adaptive"):
        args = [f"out {_scalar_or_pair(module.output_size)}"]
    elif "Pool" in kind:
        args = [_pair(module.kernel_size)]
        if tuple(module.stride) != tuple(module.kernel_size):
            args.append(f"stride {_scalar_or_pair(module.stride)}")
        if _nontrivial(module.padding, 0):
            args.append(f"pad {_scalar_or_pair(module.padding)}")
    elif kind == "Linear":
        args = [f"{module.in_features}->{module.out_features}"]
    elif kind.startswith("BatchNorm"):
        args = [str(module.num_features)]
    elif kind == "Dropout":
        args = [f"p={module.p}"]
    elif kind == "LeakyReLU":
        args = [str(module.negative_slope)]
    return f"{kind}({', '.join(args)})"


def _flops(module, x_shape, out_shape) -> int:
    """FLOPs of one image: 2 per multiply-add in Conv/Linear (bias adds not counted), one per
    window element compared or added in pooling, one per element for activations, dropout and
    the eval-mode BatchNorm's scale-and-shift counts 2 per element; Flatten is free."""
    kind = type(module).__name__
    out_numel = int(np.prod(out_shape))
    weight = getattr(module, "weight", None)
    if kind.startswith("ConvTranspose") and weight is not None:
        # every input element scatters into C_out/groups * kernel outputs
        return 2 * int(np.prod(x_shape)) * int(np.prod(weight.shape[1:]))
    if kind.startswith("Conv") and weight is not None:
        per_output = int(np.prod(weight.shape[1:]))  # C_in/groups * kernel elements
        return 2 * out_numel * per_output
    if kind == "Linear":
        return 2 * out_numel * int(weight.shape[1])
    if kind.startswith("Adaptive"):
        return int(np.prod(x_shape))  # the windows tile the input (overlap aside)
    if "Pool" in kind:
        return out_numel * int(np.prod(getattr(module, "kernel_size", (1,))))
    if kind.startswith("BatchNorm"):
        return 2 * out_numel
    if kind in ("Flatten", "Identity"):
        return 0
    return out_numel


def layer_table(model: Module, input_shape) -> list[LayerRow]:
    """Run one zero image of ``input_shape`` ``(C, H, W)`` through ``model`` (in eval mode, under
    ``no_grad``) and describe every call of a leaf module (one without children), in call order.

    A leaf called twice (a ReLU shared within a residual block) gets a row per call, its
    parameters counted at the first.  Work done outside modules (residual additions,
    concatenations) is not counted.  Parameters of modules that never ran get one last row, so
    the rows add up to the model's parameter count.
    """
    params = next(iter(model.parameters()), None)
    dtype = params.data.dtype if params is not None else np.float32
    x = np.zeros((1, *input_shape), dtype=dtype)
    model.eval()
    rows: list[LayerRow] = []
    counted: set[int] = set()

    def record(name, module, forward):
        def recorded(inp, *args, **kwargs):
            try:
                out = forward(inp, *args, **kwargs)
            except ValueError as exc:
                raise UserError(f"layer {name} {_describe(module)} cannot take input {tuple(inp.shape[1:])}: {exc}") from exc
            n_params = 0 if id(module) in counted else sum(p.data.size for p in module.parameters())
            counted.add(id(module))
            in_shape, out_shape = tuple(inp.shape[1:]), tuple(out.shape[1:])
            rows.append(LayerRow(name, _describe(module), out_shape, int(n_params), _flops(module, in_shape, out_shape)))
            return out

        return recorded

    def in_order(sequential):
        # Sequential may run a max pool before the ReLU it follows (same result); the table lists
        # the layers as written.
        def forward(inp):
            for child in sequential:
                inp = child(inp)
            return inp

        return forward

    wrapped = []
    for name, module in model.named_modules():
        if not any(True for _ in module.children()):
            wrapped.append(module)
            object.__setattr__(module, "forward", record(name or type(module).__name__, module, module.forward))
        elif isinstance(module, Sequential):
            wrapped.append(module)
            object.__setattr__(module, "forward", in_order(module))
    try:
        with no_grad():
            model(Tensor(x) if uses_tape(model) else x)
    finally:
        for module in wrapped:
            del module.__dict__["forward"]
    unused = model.num_parameters() - sum(r.params for r in rows)
    if unused:
        rows.append(LayerRow("", "(modules not run)", (), int(unused), 0))
    return rows


def format_table(rows: list[LayerRow], input_shape) -> str:
    header = ("#", "layer", "output shape", "params", "FLOPs")
    body = [(r.name, r.kind, "x".join(map(str, r.output_shape)), f"{r.params:,}", f"{r.flops:,}") for r in rows]
    total_params = sum(r.params for r in rows)
    total_flops = sum(r.flops for r in rows)
    footer = ("", "total", "", f"{total_params:,}", f"{total_flops:,}")
    input_row = ("", "input", "x".join(map(str, input_shape)), "", "")
    table = [header, input_row, *body, footer]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    align = ["<", "<", ">", ">", ">"]

    def fmt(row):
        return "  ".join(f"{cell:{a}{w}}" for cell, a, w in zip(row, align, widths)).rstrip()

    rule = "-" * len(fmt(header))
    lines = [fmt(header), rule, fmt(input_row), *map(fmt, body), rule, fmt(footer)]
    lines.append(f"parameters: {total_params:,} ({total_params * 4 / 1024:.1f} KiB as float32); "
                 f"FLOPs per image (forward): {total_flops:,} (2 per multiply-add)")
    return "\n".join(lines)


def _shape(text: str):
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise UserError(f"--input-shape must be C,H,W (e.g. 1,28,28), got {text!r}")
    return shape


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "summary",
        help="per-layer output shapes, parameter counts and FLOPs of a model",
        description=(
            "Print every layer a model runs, in order, with the output shape of each (batch dimension "
            "left out), its parameter count and its forward FLOPs per image (2 per multiply-add in Conv/Linear, one "
            "per window element in pooling, one per element for activations, two for BatchNorm). "
            "Either a zoo model (--model, --input-shape, --num-classes) or a trained run (RUN_DIR)."
        ),
    )
    p.add_argument("run_dir", metavar="RUN_DIR", nargs="?", default=None, help="a run folder (instead of --model)")
    p.add_argument("--model", choices=list(MODELS), default=None, help="zoo model (default: lenet5)")
    p.add_argument("--input-shape", metavar="C,H,W", default=None,
                   help="input image shape (default: the model's classic one: 1,28,28 for lenet5, 3,224,224 for "
                   "resnet18/34/50, 1,8,8 for unet_small, 3,32,32 otherwise)")
    p.add_argument("--num-classes", type=int, default=None, metavar="N",
                   help="classes (default: the model's: 1000 for resnet18/34/50, 11 for unet_small, else 10)")
    p.set_defaults(func=run_command)


def run_command(args) -> int:
    if args.run_dir:
        if args.model or args.input_shape:
            raise UserError("give either RUN_DIR or --model/--input-shape, not both")
        from ..train import load_run_model

        model, meta = load_run_model(args.run_dir)
        name, shape = meta["spec"]["name"], tuple(meta["spec"]["input_shape"])
    else:
        name = args.model or "lenet5"
        shape = _shape(args.input_shape) if args.input_shape else DEFAULT_INPUT_SHAPES[name]
        num_classes = args.num_classes if args.num_classes is not None else DEFAULT_NUM_CLASSES[name]
        model = build_model(model_spec(name, shape, num_classes))
    print(f"{name} on {'x'.join(map(str, shape))} inputs")
    print(format_table(layer_table(model, shape), shape))
    return 0
