"""Record PyTorch's results for the layer ops, optimizers, LR schedules and the issue-4 target
network into nn.npz, so tests/nn/test_golden.py checks PyTorch equivalence without PyTorch.

Run from the repository root with torch installed (CI's pinned torch==2.13.0):

    python tests/golden/make_golden_nn.py

Everything is float64 arrays plus JSON strings (options), keyed ``case/field``; nothing pickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).parent
OUT = {}


def put(case, **fields):
    for k, v in fields.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().numpy()
        if isinstance(v, (dict, list)) and k == "options":
            v = json.dumps(v)
        OUT[f"{case}/{k}"] = np.asarray(v)


def t(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def batch_norm_cases(rng):
    for name, shape, options in [
        ("bn_train_2d", (6, 4), dict(training=True, momentum=0.1, eps=1e-5, affine=True)),
        ("bn_train_4d", (3, 4, 3, 5), dict(training=True, momentum=0.3, eps=1e-3, affine=True)),
        ("bn_train_3d_noaffine", (4, 3, 5), dict(training=True, momentum=0.1, eps=1e-5, affine=False)),
        ("bn_eval_4d", (3, 4, 2, 3), dict(training=False, momentum=0.1, eps=1e-5, affine=True)),
    ]:
        c = shape[1]
        x, dout = rng.standard_normal(shape) * 2 + 1, rng.standard_normal(shape)
        rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
        w, b = rng.standard_normal(c), rng.standard_normal(c)
        xt, wt, bt, rmt, rvt = t(x, True), t(w, True), t(b, True), t(rm), t(rv)
        affine = options["affine"]
        out = F.batch_norm(xt, rmt, rvt, wt if affine else None, bt if affine else None,
                           training=options["training"], momentum=options["momentum"], eps=options["eps"])
        out.backward(t(dout))
        put(name, op="batch_norm", options=options, x=x, dout=dout, running_mean=rm, running_var=rv, weight=w, bias=b,
            out=out, dx=xt.grad, new_running_mean=rmt, new_running_var=rvt)
        if affine:
            put(name, dw=wt.grad, db=bt.grad)


def linear_cases(rng):
    for name, shape, bias in [("linear_2d", (5, 6), True), ("linear_3d_nobias", (2, 3, 6), False)]:
        x, w, b = rng.standard_normal(shape), rng.standard_normal((4, 6)), rng.standard_normal(4)
        dout = rng.standard_normal(shape[:-1] + (4,))
        xt, wt, bt = t(x, True), t(w, True), t(b, True)
        out = F.linear(xt, wt, bt if bias else None)
        out.backward(t(dout))
        put(name, op="linear", options=dict(bias=bias), x=x, weight=w, bias=b, dout=dout, out=out, dx=xt.grad, dw=wt.grad)
        if bias:
            put(name, db=bt.grad)


def activation_cases(rng):
    x = np.concatenate([rng.standard_normal(20), [0.0, -0.0, np.nan, np.inf, -np.inf]])
    dout = np.concatenate([rng.standard_normal(20), [1.0, 2.0, 3.0, 4.0, np.inf]])
    for name, slope in [("relu", None), ("leaky_relu_001", 0.01), ("leaky_relu_neg", -0.5)]:
        xt = t(x, True)
        out = torch.relu(xt) if slope is None else F.leaky_relu(xt, slope)
        out.backward(t(dout))
        put(name, op="relu" if slope is None else "leaky_relu", options=dict(negative_slope=slope), x=x, dout=dout, out=out, dx=xt.grad)


def cross_entropy_cases(rng):
    for name, shape, ls in [("ce_plain", (6, 5), 0.0), ("ce_smooth", (6, 5), 0.1), ("ce_spatial_smooth", (3, 4, 2, 2), 0.25),
                            ("ce_large_logits", (4, 3), 0.0)]:
        logits = rng.standard_normal(shape) * (1e3 if "large" in name else 3)
        y = rng.integers(0, shape[1], (shape[0],) + shape[2:])
        lt = t(logits, True)
        loss = F.cross_entropy(lt, torch.tensor(y), label_smoothing=ls)
        loss.backward()
        put(name, op="cross_entropy", options=dict(label_smoothing=ls), logits=logits, y=y, loss=loss, dlogits=lt.grad)


OPTIM_CASES = [
    ("sgd_nesterov_wd", "SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("sgd_dampening", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("adam_amsgrad_wd", "Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, betas=[0.8, 0.95])),
    ("adamw", "AdamW", dict(lr=0.02, weight_decay=0.3)),
    ("rmsprop_centered_momentum", "RMSprop", dict(lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.01)),
]


def optim_cases(rng):
    for name, cls, options in OPTIM_CASES:
        p0 = rng.standard_normal((3, 4))
        grads = rng.standard_normal((6, 3, 4))
        p = t(p0, True)
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
        opt = getattr(torch.optim, cls)([p], **kwargs)
        traj = []
        for g in grads:
            p.grad = t(g)
            opt.step()
            traj.append(p.detach().numpy().copy())
        put("optim_" + name, op=cls, options=options, param=p0, grads=grads, trajectory=np.stack(traj))


def schedule_cases():
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.8, 0.85, 0.85, 0.9, 0.79, 0.79, 0.79, 0.79, 0.5, 0.6]
    for name, cls, options in [
        ("step", "StepLR", dict(step_size=3, gamma=0.5)),
        ("cosine", "CosineAnnealingLR", dict(T_max=5, eta_min=0.01)),
        ("plateau", "ReduceLROnPlateau", dict(mode="min", factor=0.5, patience=1, cooldown=1)),
    ]:
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        sched = getattr(torch.optim.lr_scheduler, cls)(opt, **options)
        lrs = []
        for m in metrics:
            opt.step()
            sched.step(m) if cls == "ReduceLROnPlateau" else sched.step()
            lrs.append(opt.param_groups[0]["lr"])
        put("sched_" + name, op=cls, options=options, metrics=metrics, lrs=lrs)


def target_case(rng):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
        torch.nn.Dropout(0.5), torch.nn.Linear(32, 10),
    ).double()
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.normal_()
        model[1].running_mean.normal_()
        model[1].running_var.uniform_(0.5, 2.0)
    state = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    x, y = rng.standard_normal((4, 3, 16, 16)), rng.integers(0, 10, 4)
    model.eval()
    with torch.no_grad():
        eval_logits = model(t(x)).numpy()
    model.train()
    mask = (rng.random((4, 32)) < 0.5) * 2.0  # inverted dropout's scaled mask, applied by hand
    xt = t(x, True)
    logits = model[8](model[:7](xt) * torch.tensor(mask))
    loss = F.cross_entropy(logits, torch.tensor(y))
    loss.backward()
    put("target", op="target", options={}, x=x, y=y, mask=mask, eval_logits=eval_logits, train_logits=logits,
        loss=loss, dx=xt.grad)
    for k, v in state.items():
        put("target", **{"state." + k: v})
    for k, p in model.named_parameters():
        put("target", **{"grad." + k: p.grad})
    for k, v in model.state_dict().items():
        if "running" in k:
            put("target", **{"after." + k: v})


def main():
    rng = np.random.default_rng(2024)
    batch_norm_cases(rng)
    linear_cases(rng)
    activation_cases(rng)
    cross_entropy_cases(rng)
    optim_cases(rng)
    schedule_cases()
    target_case(rng)
    OUT["torch_version"] = np.asarray(torch.__version__)
    np.savez_compressed(HERE / "nn.npz", **OUT)
    print(f"wrote {len(OUT)} arrays to {HERE / 'nn.npz'}")


if __name__ == "__main__":
    main()
