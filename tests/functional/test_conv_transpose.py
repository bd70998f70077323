"""conv_transpose{1,2,3}d without PyTorch: numeric gradients over strides, output_padding,
groups and dilation; the transposed conv is conv's input gradient."""

from __future__ import annotations

import numpy as np
import pytest

import numcnn.functional as F
from tests.functional.op_checks import check_op_grads


CONVT = {1: (F.conv_transpose1d_forward, F.conv_transpose1d_backward),
         2: (F.conv_transpose2d_forward, F.conv_transpose2d_backward),
         3: (F.conv_transpose3d_forward, F.conv_transpose3d_backward)}


@pytest.mark.parametrize(
    "nd,spatial,kernel,stride,padding,output_padding,groups,dilation,bias",
    [
        (1, (4,), (3,), 2, 1, 1, 1, 1, True),
        (1, (3,), (2,), 1, 2, 1, 1, 2, False),  # output_padding < dilation, > padding: cropped rows
        (2, (3, 2), (3, 2), (2, 3), (1, 0), (1, 2), 2, 1, True),
        (2, (2, 3), (2, 3), 1, 0, 0, 1, (2, 1), True),
        (3, (2, 2, 3), (2, 2, 2), 2, (0, 1, 0), (1, 0, 1), 1, 1, True),
    ],
)
def test_conv_transpose_gradients(nd, spatial, kernel, stride, padding, output_padding, groups, dilation, bias):
    rng = np.random.default_rng(2)
    c_in, c_out = 2 * groups, 3 * groups
    x = rng.standard_normal((2, c_in) + spatial)
    w = rng.standard_normal((c_in, c_out // groups) + kernel)
    arrays = (x, w, rng.standard_normal(c_out)) if bias else (x, w)
    fwd, bwd = CONVT[nd]
    check_op_grads(fwd, bwd, arrays, ("dx", "dw", "db")[: len(arrays)], stride=stride, padding=padding,
                   output_padding=output_padding, groups=groups, dilation=dilation)


def test_conv_transpose_is_the_conv_input_gradient():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((6, 2, 3, 3))
    out, cache = F.conv2d_forward(x, w, stride=2, padding=1, groups=2)
    dout = rng.standard_normal(out.shape)
    dx, _, _ = F.conv2d_backward(dout, cache)
    # 7 -> 4 -> 7 needs output_padding 0 along H; 6 -> 3 -> 5 needs 1 along W.
    y, _ = F.conv_transpose2d_forward(dout, w, stride=2, padding=1, output_padding=(0, 1), groups=2)
    np.testing.assert_allclose(y, dx, rtol=1e-12, atol=1e-12)
