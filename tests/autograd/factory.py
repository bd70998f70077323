"""A MyGrad-style check for Tensor ops, so each op's test is a few lines.

:func:`check_op` runs an op on float64 tensors and checks, in one go:

* the forward against NumPy (when a NumPy twin is given) and against PyTorch (where importable);
* the output's type, shape and dtype, and that no operand was modified in place;
* the gradient of every Tensor operand against float64 centred differences;
* the gradient of every Tensor operand against PyTorch's (1e-9 relative).

Operands that are ndarrays become leaf tensors that require a gradient; operands wrapped in
:class:`Const` are passed as they are (a Python number or an ndarray), to test mixed operands.
"""

from __future__ import annotations

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numcnn
from tests.helpers import numeric_grad

try:
    import torch
except ImportError:  # the NumPy checks still run; the torch ones are skipped
    torch = None

__all__ = ["Const", "check_op", "float_arrays", "FEW", "torch"]

FEW = settings(max_examples=12, deadline=None)  # each example runs a numeric gradient


class Const:
    """An operand passed to the op as is (a number or an ndarray) and never differentiated."""

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Const({self.value!r})"


def float_arrays(shape, low: float = -3.0, high: float = 3.0, away_from_zero: float = 0.0):
    """Float64 arrays of ``shape`` with values in [low, high], optionally with |v| >= away_from_zero
    (denominators, logs)."""
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    if away_from_zero:
        elements = elements.filter(lambda v: abs(v) >= away_from_zero)
    return hnp.arrays(np.float64, shape, elements=elements)


def _as_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value.copy())
    return value


def check_op(op, *operands, numpy_op=None, torch_op=None, use_torch: bool = True, seed: int = 0):
    """Check ``op(*operands)`` forward and backward; return the output Tensor.

    Parameters
    ----------
    op : callable
        Takes the operands (Tensors for ndarray operands, raw values for :class:`Const`).
    operands : ndarray or Const
        ndarrays become float64 leaf tensors that require a gradient.
    numpy_op : callable, optional
        The same computation on the raw values; its result is the expected forward.
    torch_op : callable, optional
        The op on torch tensors (ndarray Consts become torch tensors); defaults to ``op`` itself,
        which works whenever the numcnn spelling is PyTorch's.
    use_torch : bool
        False where PyTorch has no counterpart.
    """
    raw = [o.value if isinstance(o, Const) else np.asarray(o, dtype=np.float64) for o in operands]
    before = [np.array(r, copy=True) for r in raw]
    wrt = [i for i, o in enumerate(operands) if not isinstance(o, Const)]

    def call(values, wrt_tensors=True):
        args = [numcnn.tensor(v, requires_grad=wrt_tensors) if i in wrt else v for i, v in enumerate(values)]
        return args, op(*args)

    leaves, out = call(raw)
    assert isinstance(out, numcnn.Tensor), f"op returned {type(out).__name__}, not a Tensor"
    for r, b in zip(raw, before):
        np.testing.assert_array_equal(r, b, err_msg="the op modified an operand in place")
    if numpy_op is not None:
        expected = np.asarray(numpy_op(*raw))
        assert out.shape == expected.shape, (out.shape, expected.shape)
        assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
        np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)

    dout = np.random.default_rng(seed).standard_normal(out.shape)
    if wrt:
        assert out.requires_grad and out._node is not None
        out.backward(dout)
    for i in wrt:
        grad = leaves[i].grad
        assert grad is not None and grad.shape == raw[i].shape and grad.dtype == np.float64
        if not grad.size:
            continue

        def f(x, i=i):
            values = list(raw)
            values[i] = x
            return call(values, wrt_tensors=False)[1].data

        np.testing.assert_allclose(grad, numeric_grad(f, raw[i], dout, h=1e-6), rtol=1e-6, atol=1e-8,
                                   err_msg=f"gradient of operand {i} against centred differences")

    if torch is not None and use_torch:
        targs = [_as_torch(v) for v in raw]
        for i in wrt:
            targs[i].requires_grad_(True)
        tout = (torch_op or op)(*targs)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg="forward vs torch")
        if wrt:
            tout.backward(torch.from_numpy(dout))
        for i in wrt:
            np.testing.assert_allclose(leaves[i].grad, targs[i].grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=f"gradient of operand {i} vs torch")
    return out
