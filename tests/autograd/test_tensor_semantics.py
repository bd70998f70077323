"""What backward() and grad mode promise: accumulation, leaves, freeing, no_grad, dtypes, dispatch."""

import sys

import numpy as np
import pytest

import numcnn


def leaf(values, dtype=np.float64):
    return numcnn.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# --- backward() -------------------------------------------------------------------------------
def test_backward_without_gradient_needs_one_element():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"one-element.*\(2,\)"):
        (x * 2).backward()
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])
    y = leaf([[3.0]])
    (y * y).backward()  # one element of any shape is fine
    np.testing.assert_array_equal(y.grad, [[6.0]])


def test_backward_gradient_shape_is_checked():
    x = leaf([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"\(2,\).*\(3,\)"):
        (x * 2).backward(np.ones(2))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        numcnn.tensor([1.0]).sum().backward()


def test_two_backward_calls_accumulate_into_leaves():
    x = leaf([1.0, -2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 - 4.0])


def test_non_leaf_tensors_get_no_grad():
    x = leaf([1.0, 2.0])
    hidden = x * 2
    (hidden * hidden).sum().backward()
    assert hidden.grad is None and not hidden.is_leaf and x.is_leaf
    np.testing.assert_array_equal(x.grad, 8 * x.data)


def test_requires_grad_propagates():
    x, c = leaf([1.0]), numcnn.tensor([2.0])
    assert (x + c).requires_grad and (c * x).requires_grad and (x.sum()).requires_grad
    assert not (c + c).requires_grad and (c + c)._node is None
    with pytest.raises(TypeError, match="floating"):
        numcnn.tensor([1, 2], requires_grad=True)


def test_constant_operand_gets_no_grad():
    x, c = leaf([1.0, 2.0]), numcnn.tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_second_backward_through_freed_graph_raises_retain_graph_allows_it():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad, 4 * x.data)
    with pytest.raises(RuntimeError, match="second time.*retain_graph"):
        y.backward()


def test_same_tensor_twice_gets_the_sum():
    x = leaf([3.0, -1.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data)
    x.grad = None
    (x + x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_diamond_graph():
    x = leaf([2.0])
    a, b = x * 3, x ** 2  # x feeds two branches that meet again
    (a * b).sum().backward()  # d(3x * x^2)/dx = 9x^2
    np.testing.assert_allclose(x.grad, 9 * x.data**2)


def test_deep_chain_does_not_hit_the_recursion_limit():
    x = leaf([1.0])
    y = x
    for _ in range(max(5000, sys.getrecursionlimit() + 1000)):
        y = y * 1.0 + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0])


def test_backward_from_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(np.array([0.5, 0.25]))
    np.testing.assert_array_equal(x.grad, [0.5, 0.25])


def test_backward_does_not_write_into_the_callers_gradient():
    x = leaf([1.0, 2.0])
    gradient = np.array([1.0, 1.0])
    y = x * 1.0
    (y + y).backward(gradient)
    (x * 1.0).backward(gradient)
    np.testing.assert_array_equal(gradient, [1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# --- grad mode --------------------------------------------------------------------------------
def test_no_grad_context_records_nothing():
    x = leaf([1.0, 2.0])
    with numcnn.no_grad():
        assert not numcnn.is_grad_enabled()
        y = (x * 2).sum()
    assert numcnn.is_grad_enabled()
    assert not y.requires_grad and y._node is None


def test_no_grad_decorator_and_enable_grad_inside():
    x = leaf([1.0, 2.0])

    @numcnn.no_grad()
    def inference(t):
        frozen = t * 2
        with numcnn.enable_grad():
            recorded = t * 3
        return frozen, recorded

    frozen, recorded = inference(x)
    assert not frozen.requires_grad and frozen._node is None
    assert recorded.requires_grad and recorded._node is not None
    assert numcnn.is_grad_enabled()


def test_bare_decorators():
    x = leaf([1.0])

    @numcnn.no_grad
    def frozen(t):
        return t * 2

    @numcnn.enable_grad
    def recorded(t):
        return t * 2

    assert not frozen(x).requires_grad and frozen.__name__ == "frozen"
    with numcnn.no_grad():
        assert recorded(x).requires_grad


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(KeyError):
        with numcnn.no_grad():
            raise KeyError
    assert numcnn.is_grad_enabled()


def test_detach_shares_data_and_records_nothing():
    x = leaf([1.0, 2.0])
    d = (x * 1.0).detach()
    assert not d.requires_grad and d._node is None and d.is_leaf
    d0 = x.detach()
    assert np.shares_memory(d0.data, x.data)
    assert not (d0 * 2).requires_grad


# --- dtypes -----------------------------------------------------------------------------------
def test_float32_stays_float32():
    x = leaf(np.arange(1.0, 7.0).reshape(2, 3), np.float32)
    w = leaf(np.ones((3, 2)), np.float32)
    outs = [x * 2, 2 * x, x + 0.5, x / 3, 1 - x, x**2, 2.0**x, -x, x.mean(), x @ w, x[0], x.reshape(3, 2),
            numcnn.cat([x, x], 0), numcnn.stack([x, x]), x * np.float64(2.0)]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32


def test_float32_with_float64_ndarray_promotes_as_numpy_and_grad_is_cast_back():
    x = leaf([1.0, 2.0], np.float32)
    y = x * np.array([2.0, 3.0])  # NumPy's promotion: float32 * float64 array is float64
    assert y.dtype == np.result_type(np.float32, np.float64)
    y.sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


# --- NumPy meets Tensor -----------------------------------------------------------------------
@pytest.mark.parametrize("expression", [
    lambda a, t: a + t, lambda a, t: a - t, lambda a, t: a * t, lambda a, t: a / t, lambda a, t: a @ t,
])
def test_ndarray_on_the_left_dispatches_to_the_tensor(expression):
    a, t = np.full((2, 2), 2.0), leaf(np.eye(2) + 1)
    out = expression(a, t)
    assert isinstance(out, numcnn.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, expression(a, t.data))


def test_grad_mode_is_per_thread():
    import threading

    seen = []
    with numcnn.no_grad():
        worker = threading.Thread(target=lambda: seen.append(numcnn.is_grad_enabled()))
        worker.start()
        worker.join()
    assert seen == [True]
