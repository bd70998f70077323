"""The PyTorch-named extras: exp, log, sqrt, abs, clamp, max/min, argmax/argmin, T, expand,
repeat, casts and tolist; gradients against centred differences and torch, ties as torch."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numcnn
from tests.autograd.factory import FEW, check_op, float_arrays, torch

SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)


@pytest.mark.parametrize("name,low,high", [("exp", -2, 2), ("log", 0.2, 3), ("sqrt", 0.2, 3), ("abs", -3, 3)])
@FEW
@given(data=st.data())
def test_elementwise(name, low, high, data):
    x = data.draw(float_arrays(SHAPES, low, high, away_from_zero=0.05 if name == "abs" else 0.0))
    check_op(lambda t: getattr(t, name)(), x, numpy_op=getattr(np, name))


def test_abs_gradient_at_zero_is_zero():
    x = check_op(lambda t: t.abs(), np.array([-1.0, 0.0, 2.0]), use_torch=False)
    y = numcnn.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    abs(y).sum().backward()
    np.testing.assert_array_equal(y.grad, [-1.0, 0.0, 1.0])
    assert isinstance(x, numcnn.Tensor)


@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (0, 1)])
@FEW
@given(x=float_arrays(SHAPES, -2, 2))
def test_clamp(bounds, x):
    low, high = bounds
    near_kink = np.zeros(x.shape, dtype=bool)
    for bound in (low, high):
        if bound is not None:
            near_kink |= np.abs(x - bound) < 1e-3
    x = np.where(near_kink, x + 0.01, x)  # centred differences need the values off the kinks
    check_op(lambda t: t.clamp(low, high), x, numpy_op=lambda a: np.clip(a, low, high))
    check_op(lambda t: t.clip(min=low, max=high), x, numpy_op=lambda a: np.clip(a, low, high))


def test_clamp_gradient_at_the_bounds_passes_as_torch():
    x = numcnn.tensor([-1.0, 0.0, 1.0, 2.0, 3.0], requires_grad=True)
    x.clamp(0, 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="min or max"):
        x.clamp()
    np.testing.assert_array_equal(x.clamp(2, 1).data, [1.0] * 5)  # min > max: all max, as torch


@st.composite
def _distinct_values(draw, shapes):
    """Arrays without ties (a tie has no derivative for centred differences to find)."""
    shape = draw(shapes)
    order = draw(st.permutations(range(int(np.prod(shape)))))
    return (np.array(order, dtype=np.float64).reshape(shape) - 2.0) * 0.75


@pytest.mark.parametrize("name", ["max", "min"])
@FEW
@given(x=_distinct_values(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3)), data=st.data(), keepdim=st.booleans())
def test_max_min(name, x, data, keepdim):
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1))
    reduce = getattr(np, name)
    check_op(lambda t: getattr(t, name)(), x, numpy_op=reduce)
    check_op(lambda t: getattr(t, name)(dim, keepdim).values, x,
             numpy_op=lambda a: reduce(a, axis=dim, keepdims=keepdim))
    check_op(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim)[0], x,
             numpy_op=lambda a: reduce(a, axis=dim, keepdims=keepdim))
    indices = getattr(numcnn.tensor(x), name)(dim, keepdim).indices
    arg = getattr(np, "arg" + name)(x, axis=dim, keepdims=keepdim)
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data, arg)


TIES = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]])


def test_max_ties_follow_torch():
    # a full reduction shares the gradient among tied maxima; max(dim) sends it to the first
    x = numcnn.tensor(TIES, requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, [[0, 0.5, 0.5], [0, 0, 0]])
    x.grad = None
    values, indices = x.max(1)
    values.sum().backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(indices.data, [1, 0])
    if torch is not None:
        for reduce in (lambda t: t.max(), lambda t: t.min(), lambda t: t.max(1).values,
                       lambda t: t.min(0, keepdim=True).values, lambda t: t.max(-1, True)[0]):
            x, t = numcnn.tensor(TIES, requires_grad=True), torch.tensor(TIES, requires_grad=True)
            reduce(x).sum().backward()
            reduce(t).sum().backward()
            np.testing.assert_array_equal(x.grad, t.grad.numpy())


def test_max_min_of_0d_and_empty():
    x = numcnn.tensor(2.5, requires_grad=True)
    values, indices = x.max(0)
    assert values.shape == () and indices.data == 0
    values.backward()
    np.testing.assert_array_equal(x.grad, 1.0)
    with pytest.raises(ValueError, match=r"empty.*\(0, 2\)"):
        numcnn.tensor(np.zeros((0, 2))).max()


def test_argmax_argmin():
    x = numcnn.tensor(TIES, requires_grad=True)
    assert x.argmax().dtype == np.int64 and x.argmax().item() == 1 and x.argmin().item() == 5
    assert not x.argmax().requires_grad and x.argmax()._node is None
    np.testing.assert_array_equal(x.argmax(1).data, [1, 0])
    assert x.argmax(0, keepdim=True).shape == (1, 3)
    np.testing.assert_array_equal(x.argmin(-1).data, [0, 2])
    if torch is not None:
        t = torch.from_numpy(TIES)
        assert x.argmax().item() == t.argmax().item()
        np.testing.assert_array_equal(x.argmax(1).data, t.argmax(1).numpy())


@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
def test_T_and_mT(x):
    check_op(lambda t: t.T, x, numpy_op=lambda a: a.T, use_torch=x.ndim == 2)  # torch warns off 2-D
    if x.ndim >= 2:
        check_op(lambda t: t.mT, x, numpy_op=lambda a: np.swapaxes(a, -1, -2))


@pytest.mark.parametrize("shape,sizes", [((3, 1), (3, 4)), ((1,), (2, 3, 5)), ((2, 1), (-1, 3)),
                                         ((2, 1), (4, -1, 2)), ((), (2, 2))])
def test_expand(shape, sizes):
    x = np.random.default_rng(4).standard_normal(shape)
    target = tuple(n if n != -1 else (1,) * (len(sizes) - len(shape)) + shape for n in sizes)
    target = tuple(n if isinstance(n, int) else n[i] for i, n in enumerate(target))
    check_op(lambda t: t.expand(*sizes), x, numpy_op=lambda a: np.broadcast_to(a, target))
    check_op(lambda t: t.expand(sizes), x, numpy_op=lambda a: np.broadcast_to(a, target))


@pytest.mark.parametrize("shape,repeats", [((2, 3), (1, 1)), ((2, 3), (2, 3)), ((3,), (2, 2)), ((2, 1), (1, 2, 3)),
                                           ((), (3,))])
def test_repeat(shape, repeats):
    x = np.random.default_rng(5).standard_normal(shape)
    check_op(lambda t: t.repeat(*repeats), x, numpy_op=lambda a: np.tile(a, repeats))
    check_op(lambda t: t.repeat(repeats), x, numpy_op=lambda a: np.tile(a, repeats))


def test_expand_repeat_errors():
    x = numcnn.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\) cannot expand to \(4, 3\)"):
        x.expand(4, 3)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        x.expand(3)
    with pytest.raises(ValueError, match=r"at least one per axis"):
        x.repeat(2)


def test_casts_are_recorded_and_cast_the_gradient_back():
    x = numcnn.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    assert x.float() is x
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])
    counts = numcnn.tensor(np.array([1, 2]))
    assert counts.float().dtype == np.float32 and counts.double().dtype == np.float64


def test_tolist():
    x = numcnn.tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    assert x.tolist() == [[1.0, 2.0]] and type(x.tolist()[0][0]) is float
    assert numcnn.tensor(3).tolist() == 3


def test_extras_keep_float32():
    x = numcnn.tensor(np.array([[0.5, 2.0, 1.5], [1.0, 3.0, 0.25]], dtype=np.float32), requires_grad=True)
    outs = [x.exp(), x.log(), x.sqrt(), x.abs(), x.clamp(0.6, 2), x.clamp(max=1), x.max(), x.min(1).values,
            x.T, x.mT, x.expand(2, 2, 3), x.repeat(2, 1), x.double().float()]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == np.float32


def test_asarray_gives_the_values():
    x = numcnn.tensor(np.arange(3.0), requires_grad=True)
    assert np.asarray(x) is x.data
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), [0, 1, 2])
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
