"""The fast path: every op as a pair of pure functions ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache)``, NCHW, PyTorch's argument names and semantics, the input's dtype kept."""

from .activation import leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward
from .conv import (
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv3d_backward,
    conv3d_forward,
)
from .dropout import dropout_backward, dropout_forward
from .linear import linear_backward, linear_forward
from .loss import cross_entropy, log_softmax, softmax
from .normalization import (
    batch_norm_backward,
    batch_norm_forward,
    group_norm_backward,
    group_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from .avg_pool import (
    avg_pool1d_backward,
    avg_pool1d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    avg_pool3d_backward,
    avg_pool3d_forward,
)
from .pool import (
    max_pool1d_backward,
    max_pool1d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool3d_backward,
    max_pool3d_forward,
)

__all__ = [
    "conv1d_forward",
    "conv1d_backward",
    "conv2d_forward",
    "conv2d_backward",
    "conv3d_forward",
    "conv3d_backward",
    "max_pool1d_forward",
    "max_pool1d_backward",
    "max_pool2d_forward",
    "max_pool2d_backward",
    "max_pool3d_forward",
    "max_pool3d_backward",
    "linear_forward",
    "linear_backward",
    "relu_forward",
    "relu_backward",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "batch_norm_forward",
    "batch_norm_backward",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm_forward",
    "group_norm_backward",
    "dropout_forward",
    "dropout_backward",
    "cross_entropy",
    "softmax",
    "log_softmax",
    "avg_pool1d_forward",
    "avg_pool1d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool3d_forward",
    "avg_pool3d_backward",
]
