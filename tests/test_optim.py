"""numcnn.optim / numcnn.lr_scheduler without torch: argument errors, param groups, state dicts."""

import json

import numpy as np
import pytest

from numcnn import lr_scheduler, nn, optim


def params():
    return [nn.Parameter(np.ones(3)), nn.Parameter(np.ones((2, 2)))]


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: optim.SGD(params(), lr=-0.1), ValueError, "Invalid learning rate"),
        (lambda: optim.SGD(params(), lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
        (lambda: optim.SGD(params(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "zero dampening"),
        (lambda: optim.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: optim.SGD(nn.Parameter(np.ones(2)), lr=0.1), TypeError, "iterable of Parameters"),
        (lambda: optim.SGD([np.ones(2)], lr=0.1), TypeError, "numcnn.nn.Parameter"),
        (lambda: optim.Adam(params(), betas=(0.9, 1.0)), ValueError, "beta parameter at index 1"),
        (lambda: optim.Adam(params(), eps=-1.0), ValueError, "epsilon"),
        (lambda: optim.AdamW(params(), weight_decay=-1e-2), ValueError, "weight_decay"),
        (lambda: optim.RMSprop(params(), alpha=-0.5), ValueError, "alpha"),
        (lambda: optim.SGD([{"params": params(), "momentun": 0.9}], lr=0.1), ValueError, "unknown hyper-parameters"),
        (lambda: lr_scheduler.StepLR(optim.SGD(params(), lr=0.1), step_size=0), ValueError, "step_size"),
        (lambda: lr_scheduler.ReduceLROnPlateau(optim.SGD(params(), lr=0.1), factor=1.5), ValueError, "Factor"),
        (lambda: lr_scheduler.ReduceLROnPlateau(optim.SGD(params(), lr=0.1), mode="up"), ValueError, "mode"),
        (lambda: lr_scheduler.StepLR("sgd", step_size=2), TypeError, "is not an Optimizer"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_param_groups_have_their_own_hyperparameters():
    a, b = params()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = np.ones(3), np.ones((2, 2))
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})


def test_state_dict_is_plain_and_json_friendly():
    ps = params()
    opt = optim.Adam(ps, amsgrad=True)
    for p in ps:
        p.grad = np.ones_like(p.data)
    opt.step()
    arrays, meta = optim.split_state_dict(opt.state_dict())
    json.dumps(meta)  # no arrays, no objects
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    assert set(arrays) == {f"state.{i}.{k}" for i in (0, 1) for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}
    assert meta["param_groups"][0]["betas"] == [0.9, 0.999] and meta["param_groups"][0]["params"] == [0, 1]


def test_load_state_dict_checks_shapes_and_counts():
    ps = params()
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    for p in ps:
        p.grad = np.ones_like(p.data)
    opt.step()
    state = opt.state_dict()
    with pytest.raises(ValueError, match="group of 2 parameters where the optimizer has 1"):
        optim.SGD([nn.Parameter(np.ones(3))], lr=0.1).load_state_dict(state)
    with pytest.raises(ValueError, match="has shape"):
        optim.SGD([nn.Parameter(np.ones(4)), nn.Parameter(np.ones((2, 2)))], lr=0.1).load_state_dict(state)


def test_step_keeps_dtype_in_place():
    p = nn.Parameter(np.ones(3, np.float32))
    data = p.data
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True), optim.RMSprop([p], centered=True, momentum=0.5), optim.AdamW([p])):
        p.grad = np.full(3, 0.5, np.float32)
        opt.step()
        assert p.data is data and p.data.dtype == np.float32


def test_zero_grad_modes():
    ps = params()
    opt = optim.SGD(ps, lr=0.1)
    ps[0].grad = np.ones(3)
    opt.zero_grad(set_to_none=False)
    assert ps[0].grad.tolist() == [0, 0, 0] and ps[1].grad is None
    opt.zero_grad()
    assert ps[0].grad is None
