"""Differentiable layers on :class:`~numcnn.autograd.Tensor` with ``torch.nn.functional``'s names
and signatures (``import numcnn.nn.functional as F``).

Each function runs its pair's ``*_forward`` from :mod:`numcnn.functional` and records one node
whose backward is the pair's ``*_backward``: gradients are written once, in the pairs.  Inputs may
be Tensors or ndarrays (constants); under :class:`numcnn.no_grad` nothing is recorded.
"""

from .activation import dropout, leaky_relu, relu
from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .linear import linear
from .loss import cross_entropy
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import (
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
    avg_pool1d,
    avg_pool2d,
    avg_pool3d,
    max_pool1d,
    max_pool2d,
    max_pool3d,
    max_unpool1d,
    max_unpool2d,
    max_unpool3d,
)

__all__ = [
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
    "linear", "relu", "leaky_relu", "dropout",
    "batch_norm", "layer_norm", "group_norm", "cross_entropy",
]
