"""The executable spec: a loop twin of every ``*_forward``/``*_backward`` pair in
:mod:`numcnn.functional`, with the same name, arguments and cache-and-backward contract, written
as direct loops over output positions (and kernel offsets) that read like the formula.  N-dimensional
where that costs nothing; slow on purpose.  ``numcnn.functional`` is the fast path and never
imports this package; ``tests/reference/test_agreement.py`` checks that the two agree.

Also CS231n's four naive layer passes (``conv_forward_naive`` ...), built on the twins.
"""

from .activation import leaky_relu_backward, leaky_relu_forward, relu_backward, relu_forward
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
from .conv import conv1d_backward, conv1d_forward, conv2d_backward, conv2d_forward, conv3d_backward, conv3d_forward
from .conv_transpose import (
    conv_transpose1d_backward,
    conv_transpose1d_forward,
    conv_transpose2d_backward,
    conv_transpose2d_forward,
    conv_transpose3d_backward,
    conv_transpose3d_forward,
)
from .cs231n import conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive
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
from .pad import pad_backward, pad_forward
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
    "adaptive_avg_pool1d_backward", "adaptive_avg_pool1d_forward", "adaptive_avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool3d_backward", "adaptive_avg_pool3d_forward",
    "adaptive_max_pool1d_backward", "adaptive_max_pool1d_forward", "adaptive_max_pool2d_backward",
    "adaptive_max_pool2d_forward", "adaptive_max_pool3d_backward", "adaptive_max_pool3d_forward",
    "avg_pool1d_backward", "avg_pool1d_forward", "avg_pool2d_backward", "avg_pool2d_forward",
    "avg_pool3d_backward", "avg_pool3d_forward", "batch_norm_backward", "batch_norm_forward",
    "conv1d_backward", "conv1d_forward", "conv2d_backward", "conv2d_forward", "conv3d_backward",
    "conv3d_forward", "conv_backward_naive", "conv_forward_naive", "conv_transpose1d_backward",
    "conv_transpose1d_forward", "conv_transpose2d_backward", "conv_transpose2d_forward",
    "conv_transpose3d_backward", "conv_transpose3d_forward", "cross_entropy", "dropout_backward",
    "dropout_forward", "group_norm_backward", "group_norm_forward", "layer_norm_backward",
    "layer_norm_forward", "leaky_relu_backward", "leaky_relu_forward", "linear_backward",
    "linear_forward", "log_softmax", "max_pool1d_backward", "max_pool1d_forward", "max_pool2d_backward",
    "max_pool2d_forward", "max_pool3d_backward", "max_pool3d_forward", "max_pool_backward_naive",
    "max_pool_forward_naive", "max_unpool1d_backward", "max_unpool1d_forward", "max_unpool2d_backward",
    "max_unpool2d_forward", "max_unpool3d_backward", "max_unpool3d_forward", "pad_backward",
    "pad_forward", "relu_backward", "relu_forward", "softmax",
]
