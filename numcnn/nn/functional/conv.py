"""Convolutions on Tensors: ``conv1d/2d/3d`` and ``conv_transpose1d/2d/3d`` with
``torch.nn.functional``'s signatures, bound to their pairs in :mod:`numcnn.functional`.

The input gradient is skipped (the pair's ``input_grad=False``) when the input does not require a
gradient at the time of the backward pass, as PyTorch does for the images entering a network.
"""

from __future__ import annotations

from ... import functional as _pairs
from ...autograd import Tensor, record
from ._bind import data, parent

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]


def _apply(forward, backward, input, weight, bias, name, **options) -> Tensor:
    out, cache = forward(data(input), data(weight), data(bias), **options)
    x = parent(input)

    def grads(g):
        return backward(g, cache, input_grad=x is not None and x.requires_grad)

    return record(out, (x, parent(weight), parent(bias)), grads, name)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros"):
    """1-D convolution: input (N, C_in, L), weight (C_out, C_in/groups, kL) -> (N, C_out, L_out).
    See :func:`conv2d`."""
    return _apply(_pairs.conv1d_forward, _pairs.conv1d_backward, input, weight, bias, "conv1d", stride=stride,
                  padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros"):
    """2-D convolution, as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    input : Tensor or ndarray, shape (N, C_in, H, W)
    weight : Tensor or ndarray, shape (C_out, C_in/groups, kH, kW)
    bias : Tensor or ndarray, shape (C_out,), or None
    stride, padding, dilation, groups
        PyTorch's meanings; ``padding`` may be ``'same'`` or ``'valid'``.
    padding_mode : {'zeros', 'reflect', 'replicate', 'circular'}, keyword only
        A numcnn extension (``torch.nn.Conv2d``'s option) so modules need no separate pad.

    Returns
    -------
    Tensor, shape (N, C_out, H_out, W_out), input's dtype
    """
    return _apply(_pairs.conv2d_forward, _pairs.conv2d_backward, input, weight, bias, "conv2d", stride=stride,
                  padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode)


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, padding_mode="zeros"):
    """3-D convolution: input (N, C_in, D, H, W), weight (C_out, C_in/groups, kD, kH, kW).
    See :func:`conv2d`."""
    return _apply(_pairs.conv3d_forward, _pairs.conv3d_backward, input, weight, bias, "conv3d", stride=stride,
                  padding=padding, dilation=dilation, groups=groups, padding_mode=padding_mode)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """1-D transposed convolution: input (N, C_in, L), weight (C_in, C_out/groups, kL).
    See :func:`conv_transpose2d`."""
    return _apply(_pairs.conv_transpose1d_forward, _pairs.conv_transpose1d_backward, input, weight, bias,
                  "conv_transpose1d", stride=stride, padding=padding, output_padding=output_padding,
                  groups=groups, dilation=dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """2-D transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    input : Tensor or ndarray, shape (N, C_in, H, W)
    weight : Tensor or ndarray, shape (C_in, C_out/groups, kH, kW)
    bias : Tensor or ndarray, shape (C_out,), or None

    Returns
    -------
    Tensor, shape (N, C_out, H_out, W_out) with
    ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``
    """
    return _apply(_pairs.conv_transpose2d_forward, _pairs.conv_transpose2d_backward, input, weight, bias,
                  "conv_transpose2d", stride=stride, padding=padding, output_padding=output_padding,
                  groups=groups, dilation=dilation)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """3-D transposed convolution: input (N, C_in, D, H, W), weight (C_in, C_out/groups, kD, kH, kW).
    See :func:`conv_transpose2d`."""
    return _apply(_pairs.conv_transpose3d_forward, _pairs.conv_transpose3d_backward, input, weight, bias,
                  "conv_transpose3d", stride=stride, padding=padding, output_padding=output_padding,
                  groups=groups, dilation=dilation)
