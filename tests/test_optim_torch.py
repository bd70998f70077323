"""Optimizers and LR schedules step by step against torch.optim (float64), every option."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from numcnn import lr_scheduler, optim  # noqa: E402
from numcnn.nn import Parameter  # noqa: E402

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.8, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.7, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, eps=1e-4)),
]


def _grads(rng, shapes, steps):
    return [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_optimizer_matches_torch(name, kwargs):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,)]
    init = [rng.standard_normal(s) for s in shapes]
    ours = [Parameter(a.copy()) for a in init]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in init]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for grads in _grads(rng, shapes, 6):
        for p, t, g in zip(ours, theirs, grads):
            p.grad = g.copy()
            t.grad = torch.tensor(g.copy())
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,kwargs", [CASES[3], CASES[7], CASES[13]])
def test_optimizer_state_dict_resume_matches_uninterrupted(name, kwargs):
    """3 steps, state_dict through .npz-style arrays + JSON, 3 more steps == 6 steps straight."""
    rng = np.random.default_rng(1)
    init = rng.standard_normal((5,))
    grads = _grads(rng, [(5,)], 6)

    straight = Parameter(init.copy())
    opt = getattr(optim, name)([straight], **kwargs)
    for (g,) in grads:
        straight.grad = g.copy()
        opt.step()

    p = Parameter(init.copy())
    opt = getattr(optim, name)([p], **kwargs)
    for (g,) in grads[:3]:
        p.grad = g.copy()
        opt.step()
    arrays, meta = optim.split_state_dict(opt.state_dict())
    meta = json.loads(json.dumps(meta))
    resumed = Parameter(p.data.copy())
    opt2 = getattr(optim, name)([resumed], lr=123.0)
    opt2.load_state_dict(optim.join_state_dict(arrays, meta))
    assert opt2.param_groups[0]["lr"] == kwargs["lr"]
    for (g,) in grads[3:]:
        resumed.grad = g.copy()
        opt2.step()
    np.testing.assert_array_equal(resumed.data, straight.data)


def test_optimizer_keeps_float32_and_skips_missing_grads():
    a = Parameter(np.ones(3, dtype=np.float32))
    b = Parameter(np.ones(3, dtype=np.float32))
    opt = optim.Adam([a, b], lr=0.1, weight_decay=0.1)
    a.grad = np.full(3, 0.5, dtype=np.float32)
    opt.step()
    assert a.data.dtype == np.float32 and opt.state[a]["exp_avg"].dtype == np.float32
    np.testing.assert_array_equal(b.data, 1.0)
    opt.zero_grad()
    assert a.grad is None


def _torch_sched(name, topt, kwargs):
    return getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("StepLR", dict(step_size=3)),
        ("StepLR", dict(step_size=2, gamma=0.5)),
        ("CosineAnnealingLR", dict(T_max=5)),
        ("CosineAnnealingLR", dict(T_max=4, eta_min=0.01)),
    ],
)
def test_schedule_matches_torch(name, kwargs):
    p = Parameter(np.zeros(2))
    t = torch.zeros(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([t], lr=0.1, momentum=0.9)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = _torch_sched(name, topt, kwargs)
    for epoch in range(14):
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13, abs=1e-15)
        if epoch == 6:  # resume mid-schedule through JSON
            state = json.loads(json.dumps(sched.state_dict()))
            sched = getattr(lr_scheduler, name)(opt, **kwargs)
            sched.load_state_dict(state)
        p.grad = np.ones(2)
        t.grad = torch.ones(2, dtype=torch.float32)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-13, abs=1e-15)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(patience=2),
        dict(mode="max", factor=0.5, patience=1, cooldown=2),
        dict(threshold=0.1, threshold_mode="abs", patience=0, min_lr=0.004),
    ],
)
def test_reduce_on_plateau_matches_torch(kwargs):
    p = Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.1)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.96, 0.8, 0.85, 0.85, 0.9, 0.79, 0.79, 0.79, 0.79, 0.5, 0.6]
    for i, m in enumerate(metrics):
        if i == 7:
            state = json.loads(json.dumps(sched.state_dict()))
            sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
            sched.load_state_dict(state)
        sched.step(m)
        tsched.step(m)
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-13)
