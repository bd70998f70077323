"""conv's padding modes (zeros, reflect, replicate, circular) without PyTorch: numeric gradients
of conv with each mode, and the padding's adjoint (the fold-back of the gradient)."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from numcnn.functional.padding import pad_mode, pad_mode_adjoint
from tests.functional.op_checks import check_op_grads


CONV = {1: (F.conv1d_forward, F.conv1d_backward), 2: (F.conv2d_forward, F.conv2d_backward),
        3: (F.conv3d_forward, F.conv3d_backward)}


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "nd,spatial,kernel,padding,stride,dilation,groups",
    [
        (1, (6,), (3,), 2, 1, 1, 1),
        (2, (4, 5), (3, 2), (1, 2), (2, 1), 1, 2),
        (2, (5, 5), (3, 3), "same", 1, (2, 1), 1),
        (2, (4, 4), (2, 2), "same", 1, 1, 2),
        (3, (3, 4, 3), (2, 3, 2), 1, 1, 1, 1),
    ],
)
def test_conv_padding_mode_gradients(mode, nd, spatial, kernel, padding, stride, dilation, groups):
    rng = np.random.default_rng(0)
    c_in, c_out = 2 * groups, 2 * groups
    x = rng.standard_normal((2, c_in) + spatial)
    w = rng.standard_normal((c_out, c_in // groups) + kernel)
    b = rng.standard_normal(c_out)
    fwd, bwd = CONV[nd]
    check_op_grads(fwd, bwd, (x, w, b), ("dx", "dw", "db"), stride=stride, padding=padding,
                   dilation=dilation, groups=groups, padding_mode=mode)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_pad_mode_adjoint_is_the_transpose(mode):
    """<pad(x), g> == <x, pad_adjoint(g)> for random x, g: the fold-back is exactly the adjoint."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4, 5))
    pads = ((2, 3), (4, 1))
    xp = pad_mode(x, pads, mode)
    g = rng.standard_normal(xp.shape)
    assert np.isclose(np.sum(xp * g), np.sum(x * pad_mode_adjoint(g, pads, mode)))


def test_reflect_adds_mirrored_gradient_rows():
    x = np.arange(4.0).reshape(1, 1, 4)
    assert pad_mode(x, ((2, 1),), "reflect").ravel().tolist() == [2, 1, 0, 1, 2, 3, 2]
    g = pad_mode_adjoint(np.ones((1, 1, 7)), ((2, 1),), "reflect")
    assert g.ravel().tolist() == [1, 2, 3, 1]
    assert pad_mode(x, ((2, 1),), "circular").ravel().tolist() == [2, 3, 0, 1, 2, 3, 0]
    assert pad_mode(x, ((2, 1),), "replicate").ravel().tolist() == [0, 0, 0, 1, 2, 3, 3]
