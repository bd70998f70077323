"""One gradient-check factory for every ``*_forward``/``*_backward`` pair, in MyGrad's style.

``check_op_gradients(forward, backward, inputs, wrt=...)`` runs the forward on ``inputs`` (keyword
arguments: arrays and options alike), draws an upstream gradient ``dout``, runs the backward and
compares each gradient in ``wrt`` with the float64 centred difference of ``sum(forward(...) *
dout)``.  ``backprop_test_factory(...)`` turns that into a hypothesis test over a strategy of
inputs, so a new op gets its gradient check in a few lines::

    test_conv2d_gradients = backprop_test_factory(
        F.conv2d_forward, F.conv2d_backward, conv_inputs(), wrt=("x", "weight", "bias"))

``grads`` names the backward's results in order (default ``wrt``; a single array is one
result); a name in ``grads`` but not in ``wrt`` is returned but not checked (e.g. a gradient for
an input that is held constant).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

__all__ = ["numerical_gradient", "check_op_gradients", "check_positional_op_gradients", "backprop_test_factory", "rel_error"]


def rel_error(a, b) -> float:
    """CS231n's relative error: max |a - b| / max(1e-8, |a| + |b|)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)), initial=0.0))


def _output(result):
    """The forward's output array, also from ``((out, indices), cache)``."""
    out = result[0]
    return out[0] if isinstance(out, tuple) else out


def numerical_gradient(forward, inputs: dict, name: str, dout: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """d sum(forward(**inputs)[0] * dout) / d inputs[name] by centred differences, in float64.

    The two outputs are subtracted before the weighted sum (CS231n's
    ``eval_numerical_gradient_array``), which keeps the rounding error small.
    """
    x = np.array(inputs[name], dtype=np.float64, copy=True)
    args = dict(inputs, **{name: x})
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.array(_output(forward(**args)), dtype=np.float64, copy=True)
        x[i] = old - h
        minus = np.array(_output(forward(**args)), dtype=np.float64, copy=True)
        x[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def check_op_gradients(forward, backward, inputs: dict, wrt=("x",), grads=None, *, seed=0, rtol=1e-5, atol=1e-7, h=1e-6,
                       max_rel_error=None, max_scaled_error=None, dout=None):
    """Assert that ``backward``'s gradients of the arrays ``wrt`` match centred differences.

    Parameters
    ----------
    forward, backward : the op's pair, ``forward(**inputs) -> (out, cache)``
    inputs : dict
        Keyword arguments of ``forward``; the arrays in it should be float64.
    wrt : names of the inputs whose gradients are checked
    grads : names of the backward's results in order (default ``wrt``)
    seed : seeds the upstream gradient ``dout`` (standard normal)
    dout : the upstream gradient itself, instead of drawing one
    rtol, atol : ``np.testing.assert_allclose``'s tolerances (the default criterion)
    max_rel_error : instead, CS231n's relative error (max over elements of
        ``|a - b| / max(1e-8, |a| + |b|)``) must stay below this
    max_scaled_error : instead, ``max |a - b| / max(1, max |numeric|)`` must stay below this
        (an absolute error for small gradients, a relative one for large; entry-wise relative
        error blows up on entries that are ~0)
    h : the centred difference's step

    Returns
    -------
    dict : the analytic gradients by name, for further assertions.
    """
    grads = tuple(wrt if grads is None else grads)
    result = forward(**inputs)
    out = _output(result)
    if dout is None:
        dout = np.random.default_rng(seed).standard_normal(out.shape)
    analytic = backward(dout, result[1])
    if not isinstance(analytic, tuple):
        analytic = (analytic,)
    assert len(analytic) == len(grads), f"backward returned {len(analytic)} gradients, expected {grads}"
    by_name = dict(zip(grads, analytic))
    for name in wrt:
        got = by_name[name]
        assert got is not None, f"backward returned None for {name}"
        assert got.shape == np.shape(inputs[name]), f"d{name} has shape {got.shape}, {name} {np.shape(inputs[name])}"
        assert got.dtype == np.asarray(inputs[name]).dtype, f"d{name} is {got.dtype}, {name} {np.asarray(inputs[name]).dtype}"
        want = numerical_gradient(forward, inputs, name, dout, h)
        if max_rel_error is not None:
            err = rel_error(got, want)
            assert err < max_rel_error, f"gradient of {name}: relative error {err:.2e}"
        elif max_scaled_error is not None:
            err = np.max(np.abs(want - got), initial=0.0) / max(1.0, np.max(np.abs(want), initial=0.0))
            assert err < max_scaled_error, f"gradient of {name}: error {err:.2e} (relative {rel_error(got, want):.1e})"
        else:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=f"gradient of {name}")
    return by_name


def check_positional_op_gradients(forward, backward, arrays: dict, options=None, grad_positions=None, **check):
    """:func:`check_op_gradients` for an op called with its arrays by position (a lambda, or an op
    whose array arguments are not named ``x``/``weight``/...).

    ``arrays`` holds the forward's leading positional arguments in order, by any names;
    ``options`` its keyword arguments.  ``grad_positions`` maps a name to the position of its
    gradient in the backward's result, or to None for an array held constant (default: the
    argument order).  ``check`` goes to :func:`check_op_gradients` (tolerances, seed, h).

    Returns the forward's output, for further assertions.
    """
    options = options or {}
    names = list(arrays)
    positions = {name: (grad_positions or {}).get(name, i) for i, name in enumerate(names)}
    wrt = tuple(name for name in names if positions[name] is not None)

    def forward_by_name(**given):
        return forward(*(given[name] for name in names), **options)

    def backward_by_name(dout, cache):
        grads = backward(dout, cache)
        grads = grads if isinstance(grads, tuple) else (grads,)
        assert len(grads) > max((positions[name] for name in wrt), default=-1), f"backward returned {len(grads)} gradients for {wrt}"
        return tuple(grads[positions[name]] for name in wrt)

    check_op_gradients(forward_by_name, backward_by_name, arrays, wrt, **check)
    return _output(forward_by_name(**arrays))


def backprop_test_factory(forward, backward, inputs_strategy, wrt=("x",), grads=None, *, max_examples=10, **tolerances):
    """A hypothesis test: :func:`check_op_gradients` on every ``inputs`` dict the strategy draws."""

    @settings(max_examples=max_examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(inputs=inputs_strategy)
    def test(inputs):
        check_op_gradients(forward, backward, inputs, wrt, grads, **tolerances)

    test.__name__ = f"test_{getattr(forward, '__name__', 'op')}_gradients"
    return test
