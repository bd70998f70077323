"""Convolution, forward and backward, for 1, 2 and 3 spatial dimensions (one code path).

- api.py: the public functions and their argument checks (``padding`` becomes ``pads`` there);
- planner.py: which algorithm runs each pass, chosen once per forward from shapes, dtype and
  threads: a printable :class:`ConvPlan` kept in the cache (``cache.plan``); ``force_paths``;
- rules.py: the speed rules the planner applies (measured thresholds);
- run.py: runs a plan's passes on its batch parts (threads); the seams conv_transpose.py uses;
- one module per algorithm, each with ``forward``, ``weight_grad`` and ``input_grad`` (None where
  it has no such pass): gemm (im2col + GEMM, col2im dx), pointwise, stacked, band2d,
  depthwise_banded, depthwise_flat, depthwise_shifted, correlation and flat (input gradients);
- columns.py: im2col columns, chunking and the GEMM layouts the GEMM paths share.

See notes/conv-planner.md for the rules and the measurements behind them.
"""

from . import api
from .api import (
    ConvCache,
    check_bias,
    conv1d_backward,
    conv1d_forward,
    conv2d_backward,
    conv2d_forward,
    conv3d_backward,
    conv3d_forward,
)
from .columns import Chunking, bias_grad
from .planner import PASSES, ConvPlan, Geometry, force_paths, plan_conv
from .run import conv_nd, conv_nd_and_weight_grad, conv_nd_input_grad, conv_nd_weight_grad

__all__ = [name for name in api.__all__ if name != "ConvCache"]  # the conv*d pairs
