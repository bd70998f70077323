"""``numcnn gradcheck``: numeric gradient check of every layer type, as in the CS231n notebooks.

Each layer is built in float64 on a tiny random input; the analytic ``dx`` and parameter gradients
from ``backward`` are compared with centred differences of ``sum(forward(x) * dout)`` and the
relative error ``max |a - n| / max(1e-8, |a| + |n|)`` is printed.  Errors around 1e-7 or below
mean the backward pass is right.
"""

from __future__ import annotations

import argparse
from typing import Callable

import numpy as np

from .. import nn
from ..functional import cross_entropy

__all__ = ["relative_error", "numeric_gradient", "check_module", "CASES", "run_all"]


def relative_error(a, b) -> float:
    """CS231n's relative error: ``max |a - b| / max(1e-8, |a| + |b|)``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numeric_gradient(f: Callable[[], float], array: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """d f() / d array by centred differences, perturbing ``array`` in place (and restoring it)."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def _to_float64(module: nn.Module) -> nn.Module:
    for sub in module.modules():
        for p in sub._parameters.values():
            p.data = p.data.astype(np.float64)
        for name in sub._buffers:
            value = getattr(sub, name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                object.__setattr__(sub, name, value.astype(np.float64))
    return module


def check_module(module: nn.Module, x: np.ndarray, rng: np.random.Generator, reset: Callable[[], None] | None = None) -> dict[str, float]:
    """Relative errors of ``dx`` and of each parameter's gradient for ``module`` at ``x``.

    ``reset`` runs before every forward (e.g. to replay Dropout's mask)."""
    module = _to_float64(module).train()
    x = np.array(x, dtype=np.float64)
    reset = reset or (lambda: None)
    reset()
    out = module(x)
    dout = rng.standard_normal(out.shape)
    module.zero_grad()
    dx = module.backward(dout)

    def loss() -> float:
        reset()
        return float(np.sum(module(x) * dout))

    errors = {"dx": relative_error(dx, numeric_gradient(loss, x))}
    for name, param in module.named_parameters():
        errors[f"d{name}"] = relative_error(param.grad, numeric_gradient(loss, param.data))
    return errors


def _dropout_case(rng):
    layer = nn.Dropout(0.3)

    def reset():
        layer.rng = np.random.default_rng(1234)  # the same mask on every forward

    return layer, rng.standard_normal((3, 4, 5)), reset


def _offset_case(rng, shape):
    # Inputs kept away from ReLU's kink and from pooling ties, where the derivative jumps.
    x = rng.standard_normal(shape)
    return x + np.sign(x) * 0.05


CASES: dict[str, Callable[[np.random.Generator], tuple]] = {
    "Conv2d": lambda r: (nn.Conv2d(2, 3, 3, padding=1), r.standard_normal((2, 2, 5, 5)), None),
    "Conv2d(stride 2, dilation 2)": lambda r: (nn.Conv2d(2, 4, 3, stride=2, dilation=2, padding=2), r.standard_normal((2, 2, 7, 7)), None),
    "Conv2d(groups 2, no bias)": lambda r: (nn.Conv2d(4, 4, 3, groups=2, bias=False), r.standard_normal((2, 4, 5, 5)), None),
    "MaxPool2d": lambda r: (nn.MaxPool2d(2), r.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 10.0, None),
    "MaxPool2d(3x3 stride 2, overlapping)": lambda r: (nn.MaxPool2d(3, stride=2, padding=1), r.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) / 10.0, None),
    "AvgPool2d": lambda r: (nn.AvgPool2d(2), r.standard_normal((2, 3, 6, 6)), None),
    "Linear": lambda r: (nn.Linear(6, 4), r.standard_normal((3, 6)), None),
    "ReLU": lambda r: (nn.ReLU(), _offset_case(r, (3, 4, 5)), None),
    "LeakyReLU": lambda r: (nn.LeakyReLU(0.1), _offset_case(r, (3, 4, 5)), None),
    "Flatten": lambda r: (nn.Flatten(), r.standard_normal((2, 3, 2, 2)), None),
    "Dropout": _dropout_case,
    "BatchNorm1d (train)": lambda r: (nn.BatchNorm1d(4), r.standard_normal((5, 4)), None),
    "BatchNorm2d (train)": lambda r: (nn.BatchNorm2d(3), r.standard_normal((4, 3, 3, 3)), None),
}


def _cross_entropy_errors(rng) -> dict[str, float]:
    logits = rng.standard_normal((4, 5))
    y = rng.integers(0, 5, size=4)
    _, dlogits = cross_entropy(logits, y)
    numeric = numeric_gradient(lambda: float(cross_entropy(logits, y)[0]), logits)
    return {"dlogits": relative_error(dlogits, numeric)}


def _small_net_errors(rng) -> dict[str, float]:
    """A whole Sequential with a loss on top: conv-relu-pool-flatten-linear + cross-entropy."""
    model = _to_float64(nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 3)))
    x = rng.standard_normal((2, 1, 4, 4))
    y = np.array([0, 2])
    model.zero_grad()
    _, dlogits = cross_entropy(model(x), y)
    dx = model.backward(dlogits)

    def loss() -> float:
        return float(cross_entropy(model(x), y)[0])

    errors = {"dx": relative_error(dx, numeric_gradient(loss, x))}
    for name, param in model.named_parameters():
        errors[f"d{name}"] = relative_error(param.grad, numeric_gradient(loss, param.data))
    return errors


def run_all(seed: int = 231) -> list[tuple[str, dict[str, float]]]:
    """Relative errors for every case, in order."""
    results = []
    for name, make in CASES.items():
        rng = np.random.default_rng(seed)
        nn.init.manual_seed(seed)
        module, x, reset = make(rng)
        results.append((name, check_module(module, x, rng, reset)))
    results.append(("CrossEntropyLoss", _cross_entropy_errors(np.random.default_rng(seed))))
    nn.init.manual_seed(seed)
    results.append(("Sequential conv-relu-pool-linear + loss", _small_net_errors(np.random.default_rng(seed))))
    return results


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "gradcheck",
        help="numeric gradient check of every layer type (CS231n style)",
        description=(
            "Compare every layer's backward pass (Conv2d, pooling, Linear, activations, Dropout, "
            "BatchNorm, the loss, and a small network) with centred finite differences in float64, "
            "printing the relative errors as the CS231n notebooks do. Exits non-zero if any error "
            "exceeds the tolerance."
        ),
    )
    p.add_argument("--tol", type=float, default=1e-5, help="largest acceptable relative error (default: 1e-5)")
    p.add_argument("--seed", type=int, default=231, help="seed of the random inputs and weights (default: 231)")
    p.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    failed = []
    results = run_all(args.seed)
    width = max(len(name) for name, _ in results)
    for name, errors in results:
        worst = max(errors.values())
        status = "ok" if worst <= args.tol else "FAIL"
        if status == "FAIL":
            failed.append(name)
        print(f"{name:<{width}}  " + ", ".join(f"{k} error: {v:.2e}" for k, v in errors.items()) + f"  [{status}]")
    if failed:
        print(f"gradcheck: {len(failed)} of {len(results)} layer checks exceed relative error {args.tol:g}: {', '.join(failed)}")
        return 1
    print(f"gradcheck: all {len(results)} checks pass (relative errors <= {args.tol:g})")
    return 0
