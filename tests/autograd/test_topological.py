"""The reverse walk visits every tensor after all of its consumers, however the graph reaches it
(a regression: a tensor pushed by one consumer and reached again through another was ordered too
early, and the U-Net's skip connections lost the gradient of their second use)."""

import numpy as np

import numcnn


def test_input_used_directly_and_through_an_op_of_a_later_input():
    x = np.arange(6.0).reshape(2, 3)
    a = numcnn.tensor(x, requires_grad=True)
    c = numcnn.cat([a, a * 3], 1)  # cat's parents: a, then a * 3 whose parent is a again
    (c * c).sum().backward()
    np.testing.assert_allclose(a.grad, 2 * x + 2 * 9 * x)


def test_diamond_of_intermediates():
    x = np.linspace(-1, 1, 5)
    a = numcnn.tensor(x, requires_grad=True)
    h = a * 2
    out = numcnn.stack([h, h * h, (h * 3) * h]).sum()  # d/da = 2 + 8a + 24a
    out.backward()
    np.testing.assert_allclose(a.grad, 2 + 8 * x + 24 * x)
