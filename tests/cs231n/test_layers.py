"""numcnn.cs231n: the assignment's layers / layer_utils / optim / Solver / ThreeLayerConvNet.

The notebook's own checks (fixed linspace inputs with their expected values, numeric gradient
checks in float64, ThreeLayerConvNet's sanity checks) plus the CS231n-specific semantics."""

import json

import numpy as np
import pytest

from numcnn import cs231n
from numcnn.cs231n import (
    Solver,
    ThreeLayerConvNet,
    affine_backward,
    affine_forward,
    affine_relu_backward,
    affine_relu_forward,
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    conv_bn_relu_backward,
    conv_bn_relu_forward,
    conv_relu_backward,
    conv_relu_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    dropout_backward,
    dropout_forward,
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    layernorm_backward,
    layernorm_forward,
    relu_backward,
    relu_forward,
    softmax_loss,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
    spatial_groupnorm_backward,
    spatial_groupnorm_forward,
    svm_loss,
)
from tests.helpers import rel_error


@pytest.fixture(autouse=True)
def _seed():
    np.random.seed(231)


def check_layer(forward, backward, arrays, tol=1e-6, skip=()):
    """The notebook's pattern: analytic gradients of every array vs eval_numerical_gradient_array."""
    out, cache = forward(*arrays)
    dout = np.random.randn(*out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for i, a in enumerate(arrays):
        if i in skip:
            continue

        def f(v, i=i):
            args = list(arrays)
            args[i] = v
            return forward(*args)[0]

        num = eval_numerical_gradient_array(f, a.copy(), dout)
        assert rel_error(grads[i], num) < tol, f"argument {i}: {rel_error(grads[i], num):.2e}"


# --- the notebook's fixed-value checks -----------------------------------------------------------


def test_affine_forward_notebook_values():
    num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
    input_size = num_inputs * np.prod(input_shape)
    weight_size = output_dim * np.prod(input_shape)
    x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
    w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
    b = np.linspace(-0.3, 0.1, num=output_dim)
    out, _ = affine_forward(x, w, b)
    correct_out = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
    assert rel_error(out, correct_out) < 1e-8


def test_relu_forward_notebook_values():
    x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
    out, _ = relu_forward(x)
    correct_out = np.array(
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.04545455, 0.13636364], [0.22727273, 0.31818182, 0.40909091, 0.5]]
    )
    assert rel_error(out, correct_out) < 1e-7


def test_sgd_momentum_notebook_values():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = cs231n.sgd_momentum(w, dw, config={"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.asarray(
        [
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
        ]
    )
    assert rel_error(next_w, expected_next_w) < 1e-7
    np.testing.assert_allclose(config["velocity"], 0.9 * v - 1e-3 * dw)


def test_rmsprop_and_adam_formulas():
    N, D = 4, 5
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    next_w, config = cs231n.rmsprop(w, dw, config={"learning_rate": 1e-2, "cache": cache})
    expected_cache = 0.99 * cache + 0.01 * dw**2
    np.testing.assert_allclose(config["cache"], expected_cache)
    np.testing.assert_allclose(next_w, w - 1e-2 * dw / (np.sqrt(expected_cache) + 1e-8))

    m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    next_w, config = cs231n.adam(w, dw, config={"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    assert config["t"] == 6  # incremented before use
    m1, v1 = 0.9 * m + 0.1 * dw, 0.999 * v + 0.001 * dw**2
    expected = w - 1e-2 * (m1 / (1 - 0.9**6)) / (np.sqrt(v1 / (1 - 0.999**6)) + 1e-8)
    np.testing.assert_allclose(next_w, expected)
    np.testing.assert_allclose(config["m"], m1)
    np.testing.assert_allclose(config["v"], v1)
    w32 = np.ones(3, np.float32)
    assert cs231n.sgd(w32, np.ones(3, np.float32), {"learning_rate": 0.5})[0] is w32  # in place, as the assignment
    assert w32.tolist() == [0.5, 0.5, 0.5]


# --- gradient checks of every layer (float64) ----------------------------------------------------


def test_affine_relu_and_sandwich_gradients():
    x, w, b = np.random.randn(10, 2, 3), np.random.randn(6, 5), np.random.randn(5)
    check_layer(affine_forward, affine_backward, [x, w, b])
    check_layer(affine_relu_forward, affine_relu_backward, [x, w, b])
    check_layer(relu_forward, relu_backward, [np.random.randn(10, 10)])


def test_losses_gradients_and_initial_values():
    num_classes, num_inputs = 10, 50
    x = 0.001 * np.random.randn(num_inputs, num_classes)
    y = np.random.randint(num_classes, size=num_inputs)
    for loss_fn, expected in ((svm_loss, 9.0), (softmax_loss, np.log(10))):
        loss, dx = loss_fn(x, y)
        dx_num = eval_numerical_gradient(lambda v: loss_fn(v, y)[0], x.copy(), verbose=False)
        assert rel_error(dx, dx_num) < 1e-7
        assert loss == pytest.approx(expected, abs=0.02)


def test_batchnorm_gradients_and_alt():
    N, D = 4, 5
    x = 5 * np.random.randn(N, D) + 12
    gamma, beta = np.random.randn(D), np.random.randn(D)
    bn = lambda x, g, b: batchnorm_forward(x, g, b, {"mode": "train"})  # noqa: E731
    check_layer(bn, batchnorm_backward, [x, gamma, beta])
    _, cache = bn(x, gamma, beta)
    dout = np.random.randn(N, D)
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_alt(dout, cache)):
        assert rel_error(a, b) < 1e-12


def test_spatial_norms_gradients():
    x = 5 * np.random.randn(2, 3, 4, 5) + 10
    gamma, beta = np.random.randn(3), np.random.randn(3)
    sbn = lambda x, g, b: spatial_batchnorm_forward(x, g, b, {"mode": "train"})  # noqa: E731
    check_layer(sbn, spatial_batchnorm_backward, [x, gamma, beta])
    x = 5 * np.random.randn(2, 6, 4, 5) + 10
    gamma, beta = np.random.randn(1, 6, 1, 1), np.random.randn(1, 6, 1, 1)
    gn = lambda x, g, b: spatial_groupnorm_forward(x, g, b, 2, {})  # noqa: E731
    check_layer(gn, spatial_groupnorm_backward, [x, gamma, beta])
    out, cache = gn(x, gamma, beta)
    assert spatial_groupnorm_backward(np.ones_like(out), cache)[1].shape == (1, 6, 1, 1)
    ln = lambda x, g, b: layernorm_forward(x, g, b, {})  # noqa: E731
    check_layer(ln, layernorm_backward, [5 * np.random.randn(4, 5) + 12, np.random.randn(5), np.random.randn(5)])


def test_dropout_gradient_and_keep_probability():
    x = np.random.randn(10, 10) + 10
    for p in (0.25, 0.4, 0.7):
        param = {"mode": "train", "p": p, "seed": 123}
        check_layer(lambda v: dropout_forward(v, param), dropout_backward, [x], tol=1e-10)
    x = np.random.randn(500, 500) + 10
    for p in (0.25, 0.4, 0.7):
        out, _ = dropout_forward(x, {"mode": "train", "p": p})
        out_test, _ = dropout_forward(x, {"mode": "test", "p": p})
        assert abs(out.mean() - x.mean()) < 0.05 * x.mean()
        assert abs((out == 0).mean() - (1 - p)) < 0.01  # p is the KEEP probability
        assert out_test is x or np.array_equal(out_test, x)


def test_conv_sandwich_gradients():
    x, w, b = np.random.randn(2, 3, 8, 8), np.random.randn(3, 3, 3, 3), np.random.randn(3)
    conv_param = {"stride": 1, "pad": 1}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    check_layer(lambda *a: conv_relu_pool_forward(*a, conv_param, pool_param), conv_relu_pool_backward, [x, w, b])
    check_layer(lambda *a: conv_relu_forward(*a, conv_param), conv_relu_backward, [x, w, b])
    gamma, beta = np.random.randn(3), np.random.randn(3)
    conv_bn_relu = lambda *a: conv_bn_relu_forward(*a, conv_param, {"mode": "train"})  # noqa: E731
    # a bias before batch norm has an exactly-zero gradient: checked absolutely, not relatively
    check_layer(conv_bn_relu, conv_bn_relu_backward, [x, w, b, gamma, beta], skip=(2,))
    out, cache = conv_bn_relu(x, w, b, gamma, beta)
    assert np.abs(conv_bn_relu_backward(np.random.randn(*out.shape), cache)[2]).max() < 1e-12


# --- CS231n semantics where they differ from PyTorch ---------------------------------------------


def test_batchnorm_running_stats_follow_the_assignment():
    """momentum 0.9 weights the OLD average; running_var takes the BIASED batch variance."""
    x = np.random.randn(20, 3) * 2 + 1
    bn_param = {"mode": "train"}
    batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    np.testing.assert_allclose(bn_param["running_mean"], 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(bn_param["running_var"], 0.1 * x.var(axis=0))
    bn_param["mode"] = "test"
    out, _ = batchnorm_forward(x, np.ones(3), np.zeros(3), bn_param)
    expected = (x - bn_param["running_mean"]) / np.sqrt(bn_param["running_var"] + 1e-5)
    np.testing.assert_allclose(out, expected)
    # the notebook's check: after many training batches, test mode output ~ N(0, 1) per feature
    gamma, beta = np.ones(3), np.zeros(3)
    bn_param = {"mode": "train"}
    W1, W2 = np.random.randn(5, 50), np.random.randn(50, 3)
    for _ in range(50):
        a = np.maximum(0, np.random.randn(200, 5) @ W1) @ W2
        batchnorm_forward(a, gamma, beta, bn_param)
    bn_param["mode"] = "test"
    a = np.maximum(0, np.random.randn(200, 5) @ W1) @ W2
    out, _ = batchnorm_forward(a, gamma, beta, bn_param)
    assert np.all(np.abs(out.mean(axis=0)) < 0.2) and np.all(np.abs(out.std(axis=0) - 1) < 0.2)


def test_mixed_dtypes_like_numpy_originals():
    x32 = np.random.randn(4, 6).astype(np.float32)
    out, cache = affine_forward(x32, np.random.randn(6, 3), np.zeros(3))  # float64 params
    assert out.dtype == np.float32
    dx, dw, db = affine_backward(np.ones((4, 3), np.float32), cache)
    assert dx.dtype == dw.dtype == np.float32


# --- ThreeLayerConvNet + Solver ------------------------------------------------------------------


def test_three_layer_convnet_initial_loss_and_reg():
    model = ThreeLayerConvNet()
    N = 50
    X = np.random.randn(N, 3, 32, 32)
    y = np.random.randint(10, size=N)
    loss, grads = model.loss(X, y)
    assert loss == pytest.approx(np.log(10), abs=0.01)
    assert set(grads) == set(model.params) == {"W1", "b1", "W2", "b2", "W3", "b3"}
    assert all(g.shape == model.params[k].shape and g.dtype == np.float32 for k, g in grads.items())
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert loss_reg > loss
    assert model.loss(X).shape == (N, 10)


def test_three_layer_convnet_gradient_check():
    num_inputs, input_dim, num_classes = 2, (3, 8, 8), 10
    X = np.random.randn(num_inputs, *input_dim)
    y = np.random.randint(num_classes, size=num_inputs)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim, hidden_dim=7, dtype=np.float64, reg=0.1,
                              weight_scale=5e-2)  # larger than the default 1e-3: gradients well above h^2 noise
    loss, grads = model.loss(X, y)
    for name in sorted(grads):
        f = lambda _: model.loss(X, y)[0]  # noqa: E731
        num = eval_numerical_gradient(f, model.params[name], verbose=False)
        assert rel_error(num, grads[name]) < 1e-6, f"{name}: {rel_error(num, grads[name]):.2e}"


def _class_images(n, rng, templates):
    y = np.arange(n) % len(templates)
    return templates[y] + 2.0 * rng.standard_normal((n,) + templates.shape[1:]), y


@pytest.mark.slow
def test_three_layer_convnet_overfits_100_samples(tmp_path):
    """The notebook's sanity check: 100 training images, Adam 1e-3, batch 50, 15 epochs ->
    >= 95% training accuracy.  Synthetic images: a fixed random pattern per class plus noise,
    16x16 rather than CIFAR's 32x32 (a quarter of the work; the model's defaults otherwise)."""
    rng = np.random.default_rng(0)
    templates = rng.standard_normal((10, 3, 16, 16))
    X_train, y_train = _class_images(100, rng, templates)
    X_val, y_val = _class_images(20, rng, templates)
    data = {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}
    model = ThreeLayerConvNet(input_dim=(3, 16, 16), weight_scale=1e-2)
    solver = Solver(
        model,
        data,
        num_epochs=15,
        batch_size=50,
        update_rule="adam",
        optim_config={"learning_rate": 1e-3},
        verbose=False,
        checkpoint_name=str(tmp_path / "ck"),
    )
    solver.train()
    assert max(solver.train_acc_history) >= 0.95
    assert len(solver.train_acc_history) == 16 and len(solver.loss_history) == 30
    assert solver.best_val_acc == max(solver.val_acc_history)
    assert solver.check_accuracy(X_train, y_train) >= 0.95  # model.params = best params
    meta = json.loads((tmp_path / "ck_epoch_15.json").read_text())
    assert meta["epoch"] == 15 and len(meta["loss_history"]) == 30
    with np.load(tmp_path / "ck_epoch_15.npz", allow_pickle=False) as saved:
        assert set(saved.files) == {"W1", "b1", "W2", "b2", "W3", "b3"}


def test_solver_rejects_bad_arguments():
    model = ThreeLayerConvNet(input_dim=(1, 4, 4), num_filters=2, filter_size=3, hidden_dim=3)
    data = {"X_train": np.zeros((2, 1, 4, 4)), "y_train": np.zeros(2, int), "X_val": np.zeros((2, 1, 4, 4)), "y_val": np.zeros(2, int)}
    with pytest.raises(ValueError, match='Unrecognized arguments "lr"'):
        Solver(model, data, lr=0.1)
    with pytest.raises(ValueError, match='Invalid update_rule "nadam"'):
        Solver(model, data, update_rule="nadam")


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: affine_forward(np.ones((2, 3, 4)), np.ones((10, 5)), np.ones(5)), ValueError, r"w \(10, 5\) must be \(D, M\)"),
        (lambda: softmax_loss(np.ones((3, 4)), np.array([0, 1, 4])), ValueError, r"labels must be in \[0, 3\]"),
        (lambda: svm_loss(np.ones((3, 4)), np.array([0, 1])), ValueError, r"y must have shape \(3,\)"),
        (lambda: dropout_forward(np.ones(3), {"p": 1.5, "mode": "train"}), ValueError, "keep probability"),
        (lambda: dropout_forward(np.ones(3), {"p": 0.5, "mode": "eval"}), ValueError, "Invalid forward dropout mode"),
        (lambda: batchnorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), {"mode": "eval"}), ValueError, "Invalid forward batchnorm mode"),
        (lambda: spatial_groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones((1, 6, 1, 1)), np.ones((1, 6, 1, 1)), 4, {}), ValueError, "must divide"),
    ],
)
def test_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --- fc_net: TwoLayerNet, FullyConnectedNet --------------------------------------------------------


def test_two_layer_net_notebook_values():
    N, D, H, C = 3, 5, 50, 7
    model = cs231n.TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=1e-3)
    model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
    model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
    model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
    model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
    X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
    correct_scores = np.asarray(
        [
            [11.53165108, 12.2917344, 13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
            [12.05769098, 12.74614105, 13.43459113, 14.1230412, 14.81149128, 15.49994135, 16.18839143],
            [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319],
        ]
    )
    assert np.abs(model.loss(X) - correct_scores).max() < 1e-6
    y = np.asarray([0, 5, 1])
    assert abs(model.loss(X, y)[0] - 3.4702243556) < 1e-10
    model.reg = 1.0
    assert abs(model.loss(X, y)[0] - 26.5948426952) < 1e-10


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(reg=0.0),
        dict(reg=3.14),
        dict(normalization="batchnorm", reg=0.1),
        dict(normalization="layernorm", reg=0.1),
        dict(dropout_keep_ratio=0.5, seed=123),
    ],
    ids=["plain", "reg", "batchnorm", "layernorm", "dropout"],
)
def test_fully_connected_net_gradient_check(kwargs):
    N, D, H1, H2, C = 2, 15, 20, 30, 10
    X = np.random.randn(N, D)
    y = np.random.randint(C, size=(N,))
    if "normalization" in kwargs:
        N, X, y = 6, np.random.randn(6, D), np.random.randint(C, size=(6,))
    model = cs231n.FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64, **kwargs)
    loss, grads = model.loss(X, y)
    if not kwargs.get("reg"):
        assert loss == pytest.approx(np.log(C), abs=0.2)
    for name in sorted(grads):
        if kwargs.get("normalization") == "batchnorm" and name in ("b1", "b2"):
            assert np.abs(grads[name]).max() < 1e-12  # a bias right before a norm layer has no effect
            continue
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)
        err = np.abs(num - grads[name]).max() / max(1e-8, np.abs(num).max())
        assert err < 1e-6, f"{name}: {err:.2e}"
    assert model.loss(X).shape == (N, C)


def test_fully_connected_net_solver_overfits_50_samples():
    """The notebook's check for a three-layer net: 50 samples, 20 epochs, batch 25 -> 100% train."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((50, 20))
    y = rng.integers(0, 10, 50)  # random labels: pure memorisation
    data = {"X_train": X, "y_train": y, "X_val": X[:10], "y_val": y[:10]}
    model = cs231n.FullyConnectedNet([100, 100], input_dim=20, weight_scale=5e-2)
    solver = Solver(model, data, num_epochs=20, batch_size=25, update_rule="adam",
                    optim_config={"learning_rate": 1e-2}, verbose=False)
    solver.train()
    assert solver.train_acc_history[-1] == 1.0
