"""Bad input gets a clear ValueError/TypeError naming the argument and the shapes."""

import numpy as np
import pytest

from numcnn.functional import conv1d_forward, conv2d_backward, conv2d_forward, max_pool2d_backward, max_pool2d_forward
from numcnn import reference

X = np.zeros((2, 4, 8, 8))
W = np.zeros((6, 4, 3, 3))


@pytest.mark.parametrize(
    "call,error,pattern",
    [
        (lambda: conv2d_forward(np.zeros((8, 8)), W), ValueError, r"x must be 3-D \(C, H, W\) \(unbatched\) or 4-D .*\(8, 8\)"),
        (lambda: conv2d_forward(X, np.zeros((6, 4, 3))), ValueError, r"weight must be 4-D .*\(6, 4, 3\)"),
        (lambda: conv2d_forward(X, np.zeros((6, 3, 3, 3))), ValueError, r"4 channels .*\(2, 4, 8, 8\).*\(6, 3, 3, 3\)"),
        (lambda: conv2d_forward(X, np.zeros((6, 2, 3, 3)), groups=3), ValueError, r"groups=3 must divide"),
        (lambda: conv2d_forward(X, np.zeros((6, 2, 3, 3)), groups=0), ValueError, r"groups must be a positive int"),
        (lambda: conv2d_forward(X, W, stride=0), ValueError, r"stride must be positive"),
        (lambda: conv2d_forward(X, W, stride=(1, -1)), ValueError, r"stride must be positive"),
        (lambda: conv2d_forward(X, W, dilation=0), ValueError, r"dilation must be positive"),
        (lambda: conv2d_forward(X, W, padding=-1), ValueError, r"padding must be >= 0"),
        (lambda: conv2d_forward(X, W, padding="full"), ValueError, r"padding must be 'valid', 'same'.*'full'"),
        (lambda: conv2d_forward(X, W, padding="same", stride=2), ValueError, r"padding='same' .* strided"),
        (lambda: conv2d_forward(X, W, stride=(1, 2, 3)), TypeError, r"stride must be an int or a tuple of 2 ints"),
        (lambda: conv2d_forward(X, W, stride=1.5), TypeError, r"stride must be an int"),
        (lambda: conv2d_forward(X, np.zeros((6, 4, 9, 9))), ValueError, r"kernel size \(9, 9\).*larger than the padded input \(8, 8\)"),
        (lambda: conv2d_forward(X, W, dilation=4), ValueError, r"kernel .*larger than the padded input"),
        (lambda: conv2d_forward(X, W, np.zeros(5)), ValueError, r"bias must have shape \(6,\).*got \(5,\)"),
        (lambda: conv2d_forward(X, W.astype(np.float32)), TypeError, r"weight dtype float32 does not match x dtype float64"),
        (lambda: conv2d_forward(X.astype(int), W), TypeError, r"x must have a floating dtype"),
        (lambda: conv2d_forward(X.tolist(), W), TypeError, r"x must be a numpy.ndarray"),
        (lambda: conv1d_forward(X, W), ValueError, r"x must be 2-D \(C, L\) \(unbatched\) or 3-D"),
        (lambda: max_pool2d_forward(np.zeros((8, 8)), 2), ValueError, r"x must be 3-D .* or 4-D"),
        (lambda: max_pool2d_forward(X, 0), ValueError, r"kernel_size must be positive"),
        (lambda: max_pool2d_forward(X, 3, padding=2), ValueError, r"padding should be at most half of the kernel size"),
        (lambda: max_pool2d_forward(X, 9), ValueError, r"larger than the input \(8, 8\)"),
        (lambda: max_pool2d_forward(X, 2, stride=0), ValueError, r"stride must be positive"),
        (lambda: max_pool2d_forward(np.zeros((1, 1, 1, 7)), (2, 1), stride=2, padding=(1, 0), dilation=2, ceil_mode=True),
         ValueError, r"a pooling window covers no input element"),
        (lambda: reference.conv_forward_naive(X, W, np.zeros(6), {"stride": 1, "pad": -5}), ValueError, r"larger than the padded input"),
        (lambda: reference.max_pool_forward_naive(X, {"pool_height": 9, "pool_width": 2, "stride": 1}), ValueError, r"larger than the padded input"),
    ],
)
def test_bad_forward_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_dout_of_the_wrong_shape():
    out, cache = conv2d_forward(X, W, padding=1)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 6, 8, 8\), got \(2, 6, 8, 7\)"):
        conv2d_backward(np.zeros((2, 6, 8, 7)), cache)
    out, cache = max_pool2d_forward(X, 2)
    with pytest.raises(ValueError, match=r"dout must have the forward output's shape \(2, 4, 4, 4\)"):
        max_pool2d_backward(np.zeros((2, 4, 4)), cache)


def test_wrong_cache_type():
    _, cache = max_pool2d_forward(X, 2)
    with pytest.raises(TypeError, match="ConvCache"):
        conv2d_backward(np.zeros((2, 4, 4, 4)), cache)


def test_naive_output_size_is_an_integer():
    out, _ = reference.conv_forward_naive(np.zeros((1, 1, 6, 6)), np.zeros((1, 1, 3, 3)), np.zeros(1), {"stride": 2, "pad": 0})
    assert out.shape == (1, 1, 2, 2)  # floor((6 - 3) / 2) + 1, never 2.5
    out, _ = reference.max_pool_forward_naive(np.zeros((1, 1, 5, 5)), {"pool_height": 2, "pool_width": 2, "stride": 2})
    assert out.shape == (1, 1, 2, 2)
