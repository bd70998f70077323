"""Every Tensor op of numcnn.autograd.ops: forward against NumPy and torch, gradients against
float64 centred differences and torch's, over hypothesis-drawn (broadcast) shapes and values."""

import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numcnn
from tests.autograd.factory import FEW, Const, check_op, float_arrays

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv]


def _pair(shapes, draw):
    a = draw(float_arrays(shapes[0], away_from_zero=0.5))
    b = draw(float_arrays(shapes[1], away_from_zero=0.5))
    return a, b


# --- arithmetic -------------------------------------------------------------------------------
@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@FEW
@given(data=st.data(), shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
def test_binary_tensor_tensor_broadcasts(op, data, shapes):
    a, b = _pair(shapes.input_shapes, data.draw)
    check_op(op, a, b, numpy_op=op)


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@FEW
@given(data=st.data(), shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       tensor_first=st.booleans())
def test_binary_tensor_with_ndarray(op, data, shapes, tensor_first):
    a, b = _pair(shapes.input_shapes, data.draw)
    if tensor_first:
        check_op(op, a, Const(b), numpy_op=op)
    else:  # ndarray (op) Tensor must reach the Tensor's reflected operator
        check_op(op, Const(a), b, numpy_op=op)


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), away_from_zero=0.5),
       number=st.sampled_from([2, -3, 0.5, 1.75]), tensor_first=st.booleans())
def test_binary_tensor_with_number(op, x, number, tensor_first):
    if tensor_first:
        check_op(op, x, Const(number), numpy_op=op)
    else:
        check_op(op, Const(number), x, numpy_op=op)


@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
def test_neg(x):
    check_op(operator.neg, x, numpy_op=operator.neg)


@pytest.mark.parametrize("exponent", [2, 3, -1, 0.5, -1.5, 0, 1])
@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), 0.5, 2.0))
def test_pow_number(exponent, x):
    check_op(lambda t: t**exponent, x, numpy_op=lambda a: a**exponent)


@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), -2.0, 2.0),
       base=st.sampled_from([2, 0.5, 3.0]))
def test_number_pow_tensor(x, base):
    check_op(lambda t: base**t, x, numpy_op=lambda a: base**a)


# --- matmul -----------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3,), (3,)),  # dot
    ((3,), (3, 2)),  # vector @ matrix
    ((2, 3), (3,)),  # matrix @ vector
    ((2, 3), (3, 4)),
    ((4, 2, 3), (4, 3, 2)),  # batched
    ((4, 2, 3), (3, 2)),  # batch broadcast against a matrix
    ((2, 1, 2, 3), (3, 3, 2)),  # batch axes broadcast both ways
    ((3,), (2, 3, 4)),  # vector @ batch
    ((2, 4, 3), (3,)),  # batch @ vector
]


@pytest.mark.parametrize("shape_a,shape_b", MATMUL_SHAPES)
@FEW
@given(data=st.data(), operands=st.sampled_from(["tensors", "ndarray_left", "ndarray_right"]))
def test_matmul(shape_a, shape_b, data, operands):
    a, b = data.draw(float_arrays(shape_a)), data.draw(float_arrays(shape_b))
    a = Const(a) if operands == "ndarray_left" else a
    b = Const(b) if operands == "ndarray_right" else b
    check_op(operator.matmul, a, b, numpy_op=operator.matmul)


# --- reductions -------------------------------------------------------------------------------
@st.composite
def _reduction_dims(draw, ndim):
    if draw(st.booleans()) or ndim == 0:
        return None
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    axes = [a - ndim if draw(st.booleans()) else a for a in axes]  # negative spellings too
    return axes[0] if len(axes) == 1 and draw(st.booleans()) else tuple(axes)


@pytest.mark.parametrize("name", ["sum", "mean"])
@FEW
@given(data=st.data(), x=float_arrays(hnp.array_shapes(min_dims=0, max_dims=4, max_side=3)),
       keepdim=st.booleans())
def test_sum_mean(name, data, x, keepdim):
    dim = data.draw(_reduction_dims(x.ndim))
    check_op(lambda t: getattr(t, name)(dim=dim, keepdim=keepdim), x,
             numpy_op=lambda a: getattr(np, name)(a, axis=dim, keepdims=keepdim))


@pytest.mark.parametrize("name", ["sum", "mean"])
@pytest.mark.parametrize("dim", [(), [], 0, -1])
def test_sum_mean_empty_dims_reduce_all_and_0d(name, dim):
    # an empty dim list reduces every axis (PyTorch); a 0-d tensor takes dim 0 and -1
    x = np.arange(6.0).reshape(2, 3) if dim in ((), []) else np.array(2.5)
    check_op(lambda t: getattr(t, name)(dim), x, numpy_op=lambda a: getattr(np, name)(a))


# --- shapes -----------------------------------------------------------------------------------
@FEW
@given(x=float_arrays(st.sampled_from([(2, 3, 4), (6, 4), (24,)])),
       shape=st.sampled_from([(4, 6), (2, -1), (24,), (2, 3, 2, 2), (-1,)]),
       method=st.sampled_from(["reshape", "view"]), star=st.booleans())
def test_reshape_view(x, shape, method, star):
    op = (lambda t: getattr(t, method)(*shape)) if star else (lambda t: getattr(t, method)(shape))
    check_op(op, x, numpy_op=lambda a: a.reshape(shape))


@pytest.mark.parametrize("start,end", [(0, -1), (1, -1), (0, 1), (1, 2), (-2, -1), (2, 2)])
def test_flatten(start, end):
    x = np.random.default_rng(1).standard_normal((2, 3, 2, 2))
    shape = x.shape[:start % 4] + (-1,) + x.shape[end % 4 + 1:]
    check_op(lambda t: t.flatten(start, end), x, numpy_op=lambda a: a.reshape(shape))


@FEW
@given(x=float_arrays(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3)), data=st.data())
def test_permute_and_transpose(x, data):
    dims = data.draw(st.permutations(range(x.ndim)))
    check_op(lambda t: t.permute(*dims), x, numpy_op=lambda a: a.transpose(dims))
    check_op(lambda t: t.permute(dims), x, numpy_op=lambda a: a.transpose(dims))
    d0, d1 = data.draw(st.integers(-x.ndim, x.ndim - 1)), data.draw(st.integers(-x.ndim, x.ndim - 1))
    check_op(lambda t: t.transpose(d0, d1), x, numpy_op=lambda a: np.swapaxes(a, d0, d1))


@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, -3, (0, 2)])
def test_squeeze(dim):
    x = np.random.default_rng(2).standard_normal((1, 3, 1))
    expected = {None: (3,), 0: (3, 1), 1: (1, 3, 1), 2: (1, 3), -1: (1, 3), -3: (3, 1), (0, 2): (3,)}[dim]
    op = (lambda t: t.squeeze()) if dim is None else (lambda t: t.squeeze(dim))
    assert check_op(op, x).shape == expected


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_unsqueeze(dim):
    x = np.random.default_rng(3).standard_normal((2, 3))
    check_op(lambda t: t.unsqueeze(dim), x, numpy_op=lambda a: np.expand_dims(a, dim))


# --- indexing ---------------------------------------------------------------------------------
KEYS = [
    1, -1, slice(None), slice(1, None), slice(None, None, -1), slice(3, 0, -2),
    (Ellipsis, 1), (None, 0), (slice(None), None, 2), (1, Ellipsis, slice(None, None, -1)),
    (0, 1, 2),
    np.array([0, 2, 0, 0]),  # repeated indices accumulate
    [1, 1, 3],
    (np.array([0, 1, 0]), slice(None), np.array([2, 2, 0])),
    (slice(None), np.array([[1, 0], [1, 1]])),
]


@pytest.mark.parametrize("key", KEYS, ids=repr)
@FEW
@given(x=float_arrays((4, 3, 3)))
def test_getitem(key, x):
    parts = key if isinstance(key, tuple) else (key,)
    negative_step = any(isinstance(k, slice) and (k.step or 1) < 0 for k in parts)  # torch has none
    check_op(lambda t: t[key], x, numpy_op=lambda a: a[key], use_torch=not negative_step)


@FEW
@given(x=float_arrays((3, 4)), data=st.data())
def test_getitem_boolean_mask(x, data):
    mask = data.draw(hnp.arrays(np.bool_, (3, 4)))
    check_op(lambda t: t[mask], x, numpy_op=lambda a: a[mask])
    rows = data.draw(hnp.arrays(np.bool_, (3,)))
    check_op(lambda t: t[rows, 1:], x, numpy_op=lambda a: a[rows, 1:])


def test_getitem_with_tensor_index():
    x = np.arange(12.0).reshape(4, 3)
    index = numcnn.tensor(np.array([3, 3, 0]))
    out = check_op(lambda t: t[index], x, use_torch=False)
    np.testing.assert_array_equal(out.data, x[[3, 3, 0]])


# --- cat and stack ----------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@FEW
@given(data=st.data(), sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3))
def test_cat(dim, data, sizes):
    arrays = []
    for n in sizes:
        shape = [2, 3]
        shape[dim] = n
        arrays.append(data.draw(float_arrays(tuple(shape))))
    check_op(lambda *ts: numcnn.cat(ts, dim), *arrays,
             numpy_op=lambda *a: np.concatenate(a, axis=dim), torch_op=lambda *ts: __import__("torch").cat(ts, dim))


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
@FEW
@given(data=st.data(), count=st.integers(1, 3))
def test_stack(dim, data, count):
    arrays = [data.draw(float_arrays((2, 3))) for _ in range(count)]
    check_op(lambda *ts: numcnn.stack(ts, dim), *arrays,
             numpy_op=lambda *a: np.stack(a, axis=dim), torch_op=lambda *ts: __import__("torch").stack(ts, dim))


def test_cat_with_ndarray_operand():
    a, b = np.ones((2, 2)), np.arange(4.0).reshape(2, 2)
    check_op(lambda t, c: numcnn.cat([t, c], 1), a, Const(b), numpy_op=lambda t, c: np.concatenate([t, c], 1),
             use_torch=False)
