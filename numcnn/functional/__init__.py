"""The fast path: every op as a pair of pure functions ``*_forward(...) -> (out, cache)`` and
``*_backward(dout, cache)``, NCHW, PyTorch's argument names and semantics, the input's dtype kept.

As in PyTorch, every conv, pool and unpool also takes an unbatched (C, *spatial) input and then
returns results without the batch axis (``_batch.py``); ``pad_forward`` is ``F.pad``."""

from .activation import leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward, relu_values
from .adaptive_pool import (
    adaptive_avg_pool1d_backward,
    adaptive_avg_pool1d_forward,
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    adaptive_avg_pool3d_backward,
    adaptive_avg_pool3d_forward,
    adaptive_max_pool1d_backward,
    adaptive_max_pool1d_forward,
    adaptive_max_pool2d_backward,
    adaptive_max_pool2d_forward,
    adaptive_max_pool3d_backward,
    adaptive_max_pool3d_forward,
)
from .avg_pool import (
    avg_pool1d_backward,
    avg_pool1d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    avg_pool3d_backward,
    avg_pool3d_forward,
)
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
    batch_norm_values,
    group_norm_backward,
    group_norm_forward,
    layer_norm_backward,
    layer_norm_forward,
)
from .conv_transpose import (
    conv_transpose1d_backward,
    conv_transpose1d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose3d_backward,
    conv_transpose3d_forward,
)
from .padding import pad_backward, pad_forward
from .pool import (
    max_pool1d_backward,
    max_pool1d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    max_pool3d_backward,
    max_pool3d_forward,
)
from .unpool import (
    max_unpool1d_backward,
    max_unpool1d_forward,
    max_unpool2d_backward,
    max_unpool2d_forward,
    max_unpool3d_backward,
    max_unpool3d_forward,
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
    "relu_values",
    "leaky_relu_forward",
    "leaky_relu_backward",
    "batch_norm_forward",
    "batch_norm_backward",
    "batch_norm_values",
    "layer_norm_forward",
    "layer_norm_backward",
    "group_norm_forward",
    "group_norm_backward",
    "dropout_forward",
    "dropout_backward",
    "cross_entropy",
    "softmax",
    "log_softmax",
    "conv_transpose1d_forward",
    "conv_transpose1d_backward",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "conv_transpose3d_forward",
    "conv_transpose3d_backward",
    "avg_pool1d_forward",
    "avg_pool1d_backward",
    "avg_pool2d_forward",
    "avg_pool2d_backward",
    "avg_pool3d_forward",
    "avg_pool3d_backward",
    "adaptive_avg_pool1d_forward",
    "adaptive_avg_pool1d_backward",
    "adaptive_avg_pool2d_forward",
    "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool3d_forward",
    "adaptive_avg_pool3d_backward",
    "adaptive_max_pool1d_forward",
    "adaptive_max_pool1d_backward",
    "adaptive_max_pool2d_forward",
    "adaptive_max_pool2d_backward",
    "adaptive_max_pool3d_forward",
    "adaptive_max_pool3d_backward",
    "max_unpool1d_forward",
    "max_unpool1d_backward",
    "max_unpool2d_forward",
    "max_unpool2d_backward",
    "max_unpool3d_forward",
    "max_unpool3d_backward",
    "pad_forward",
    "pad_backward",
]
