"""Replay results recorded from PyTorch (tests/golden/nn.npz) for the layer ops, optimizers,
LR schedules and the issue-4 target network -- no PyTorch needed.

Regenerate with ``python tests/golden/make_golden_nn.py`` (needs torch).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from numcnn import functional as F
from numcnn import lr_scheduler, nn, optim

GOLDEN = np.load(Path(__file__).resolve().parents[1] / "golden" / "nn.npz", allow_pickle=False)
CASES = sorted({key.split("/")[0] for key in GOLDEN.files if "/" in key})
TOL = dict(rtol=1e-10, atol=1e-12)


def case(name):
    fields = {key.split("/", 1)[1]: GOLDEN[key] for key in GOLDEN.files if key.startswith(name + "/")}
    return fields, json.loads(str(fields["options"]))


def test_golden_file_is_complete():
    assert len(CASES) >= 20
    assert str(GOLDEN["torch_version"]).startswith("2.")


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("bn_")])
def test_batch_norm(name):
    c, o = case(name)
    w, b = (c["weight"], c["bias"]) if o["affine"] else (None, None)
    out, cache = F.batch_norm_forward(c["x"], c["running_mean"], c["running_var"], w, b,
                                      training=o["training"], momentum=o["momentum"], eps=o["eps"])
    dx, dw, db = F.batch_norm_backward(c["dout"], cache)
    np.testing.assert_allclose(out, c["out"], **TOL)
    np.testing.assert_allclose(dx, c["dx"], rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(cache.running_mean, c["new_running_mean"], **TOL)
    np.testing.assert_allclose(cache.running_var, c["new_running_var"], **TOL)
    if o["affine"]:
        np.testing.assert_allclose(dw, c["dw"], rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(db, c["db"], **TOL)


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("linear_")])
def test_linear(name):
    c, o = case(name)
    out, cache = F.linear_forward(c["x"], c["weight"], c["bias"] if o["bias"] else None)
    dx, dw, db = F.linear_backward(c["dout"], cache)
    np.testing.assert_allclose(out, c["out"], **TOL)
    np.testing.assert_allclose(dx, c["dx"], **TOL)
    np.testing.assert_allclose(dw, c["dw"], **TOL)
    if o["bias"]:
        np.testing.assert_allclose(db, c["db"], **TOL)


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith(("relu", "leaky_relu"))])
def test_activations_bit_exact(name):
    c, o = case(name)
    if str(c["op"]) == "relu":
        out, cache = F.relu_forward(c["x"])
        dx = F.relu_backward(c["dout"], cache)
    else:
        out, cache = F.leaky_relu_forward(c["x"], o["negative_slope"])
        dx = F.leaky_relu_backward(c["dout"], cache)
    np.testing.assert_array_equal(out, c["out"])
    np.testing.assert_array_equal(dx, c["dx"])


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("ce_")])
def test_cross_entropy(name):
    c, o = case(name)
    loss, d = F.cross_entropy(c["logits"], c["y"], label_smoothing=o["label_smoothing"])
    assert loss == pytest.approx(float(c["loss"]), rel=1e-12)
    np.testing.assert_allclose(d, c["dlogits"], **TOL)


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("optim_")])
def test_optimizer_trajectory(name):
    c, o = case(name)
    p = nn.Parameter(c["param"].copy())
    opt = getattr(optim, str(c["op"]))([p], **o)
    for g, expected in zip(c["grads"], c["trajectory"]):
        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("sched_")])
def test_schedule_sequence(name):
    c, o = case(name)
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    sched = getattr(lr_scheduler, str(c["op"]))(opt, **o)
    for m, expected in zip(c["metrics"], c["lrs"]):
        sched.step(m) if str(c["op"]) == "ReduceLROnPlateau" else sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(float(expected), rel=1e-13)


def test_target_network():
    c, _ = case("target")
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4), nn.AvgPool2d(2), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(32, 10),
    )
    model.load_state_dict({k[len("state."):]: v for k, v in c.items() if k.startswith("state.")})
    model.eval()
    np.testing.assert_allclose(model(c["x"]), c["eval_logits"], rtol=1e-9, atol=1e-9)
    model.train()
    # torch's dropout mask was recorded; feed it through numcnn's Dropout by replaying it
    h = model[:7](c["x"])
    logits = model[8](h * c["mask"])
    crit = nn.CrossEntropyLoss()
    assert crit(logits, c["y"]) == pytest.approx(float(c["loss"]), rel=1e-9)
    dh = model[8].backward(crit.backward()) * c["mask"]
    dx = model[:7].backward(dh)
    np.testing.assert_allclose(logits, c["train_logits"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dx, c["dx"], rtol=1e-9, atol=1e-9)
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, c["grad." + name], rtol=1e-9, atol=1e-9, err_msg=name)
    state = model.state_dict()
    for k, v in c.items():
        if k.startswith("after."):
            np.testing.assert_allclose(state[k[len("after."):]], v, rtol=1e-9, atol=1e-9, err_msg=k)
