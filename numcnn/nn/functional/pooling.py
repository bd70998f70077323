"""Pooling on Tensors with ``torch.nn.functional``'s names and signatures: max, average, adaptive
and max-unpooling in 1, 2 and 3 dimensions, each bound to its pair in :mod:`numcnn.functional`.

``return_indices=True`` returns ``(output, indices)``; the indices are an int64 Tensor that
records nothing (PyTorch's flat per-plane indices, what ``max_unpool*`` takes).
"""

from __future__ import annotations

from ... import functional as _pairs
from ...autograd import Tensor, record
from ...functional.pool import max_pool_values
from ._bind import data, parent, records, unary

__all__ = [
    "max_pool1d", "max_pool2d", "max_pool3d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "max_unpool1d", "max_unpool2d", "max_unpool3d",
]


def _with_indices(forward, backward, input, args, name, return_indices, values_nd=None, **options):
    """A max pool: its output on the tape, and the indices (when asked) as a constant Tensor.
    ``values_nd``: for ``max_pool{values_nd}d``, when nothing is recorded (``no_grad``, or an input
    that needs no gradient) and ``input`` is batched, the output alone, without the backward's
    argmax (the same values)."""
    if values_nd and not return_indices and not records(input) and data(input).ndim == values_nd + 2:
        return Tensor(max_pool_values(data(input), *args, nd=values_nd, **options))
    if not return_indices:
        return unary(forward, backward, input, *args, name=name, **options)
    (out, indices), cache = forward(data(input), *args, return_indices=True, **options)
    return record(out, (parent(input),), lambda g: (backward(g, cache),), name), Tensor(indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling over (N, C, L).  See :func:`max_pool2d`."""
    return _with_indices(_pairs.max_pool1d_forward, _pairs.max_pool1d_backward, input, (kernel_size,),
                         "max_pool1d", return_indices, values_nd=1, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling over (N, C, H, W), as ``torch.nn.functional.max_pool2d``.

    Returns
    -------
    Tensor, shape (N, C, H_out, W_out); ``(Tensor, indices)`` when ``return_indices``
    """
    return _with_indices(_pairs.max_pool2d_forward, _pairs.max_pool2d_backward, input, (kernel_size,),
                         "max_pool2d", return_indices, values_nd=2, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """3-D max pooling over (N, C, D, H, W).  See :func:`max_pool2d`."""
    return _with_indices(_pairs.max_pool3d_forward, _pairs.max_pool3d_backward, input, (kernel_size,),
                         "max_pool3d", return_indices, values_nd=3, stride=stride, padding=padding, dilation=dilation,
                         ceil_mode=ceil_mode)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling over (N, C, L), as ``torch.nn.functional.avg_pool1d``."""
    return unary(_pairs.avg_pool1d_forward, _pairs.avg_pool1d_backward, input, kernel_size, stride, padding,
                 ceil_mode, count_include_pad, name="avg_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling over (N, C, H, W), as ``torch.nn.functional.avg_pool2d``."""
    return unary(_pairs.avg_pool2d_forward, _pairs.avg_pool2d_backward, input, kernel_size, stride, padding,
                 ceil_mode, count_include_pad, divisor_override, name="avg_pool2d")


def avg_pool3d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """3-D average pooling over (N, C, D, H, W), as ``torch.nn.functional.avg_pool3d``."""
    return unary(_pairs.avg_pool3d_forward, _pairs.avg_pool3d_backward, input, kernel_size, stride, padding,
                 ceil_mode, count_include_pad, divisor_override, name="avg_pool3d")


def adaptive_avg_pool1d(input, output_size):
    """Adaptive average pooling over (N, C, L) to ``output_size``."""
    return unary(_pairs.adaptive_avg_pool1d_forward, _pairs.adaptive_avg_pool1d_backward, input, output_size,
                 name="adaptive_avg_pool1d")


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling over (N, C, H, W) to ``output_size`` (int, pair, None keeps a size)."""
    return unary(_pairs.adaptive_avg_pool2d_forward, _pairs.adaptive_avg_pool2d_backward, input, output_size,
                 name="adaptive_avg_pool2d")


def adaptive_avg_pool3d(input, output_size):
    """Adaptive average pooling over (N, C, D, H, W) to ``output_size``."""
    return unary(_pairs.adaptive_avg_pool3d_forward, _pairs.adaptive_avg_pool3d_backward, input, output_size,
                 name="adaptive_avg_pool3d")


def adaptive_max_pool1d(input, output_size, return_indices=False):
    """Adaptive max pooling over (N, C, L); ``(Tensor, indices)`` when ``return_indices``."""
    return _with_indices(_pairs.adaptive_max_pool1d_forward, _pairs.adaptive_max_pool1d_backward, input,
                         (output_size,), "adaptive_max_pool1d", return_indices)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Adaptive max pooling over (N, C, H, W); ``(Tensor, indices)`` when ``return_indices``."""
    return _with_indices(_pairs.adaptive_max_pool2d_forward, _pairs.adaptive_max_pool2d_backward, input,
                         (output_size,), "adaptive_max_pool2d", return_indices)


def adaptive_max_pool3d(input, output_size, return_indices=False):
    """Adaptive max pooling over (N, C, D, H, W); ``(Tensor, indices)`` when ``return_indices``."""
    return _with_indices(_pairs.adaptive_max_pool3d_forward, _pairs.adaptive_max_pool3d_backward, input,
                         (output_size,), "adaptive_max_pool3d", return_indices)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool1d`.  See :func:`max_unpool2d`."""
    return unary(_pairs.max_unpool1d_forward, _pairs.max_unpool1d_backward, input, data(indices), kernel_size,
                 stride, padding, output_size, name="max_unpool1d")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool2d`, as ``torch.nn.functional.max_unpool2d``: each value
    goes to its index in a zero output plane.  ``indices`` (Tensor or int array) is a constant."""
    return unary(_pairs.max_unpool2d_forward, _pairs.max_unpool2d_backward, input, data(indices), kernel_size,
                 stride, padding, output_size, name="max_unpool2d")


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Partial inverse of :func:`max_pool3d`.  See :func:`max_unpool2d`."""
    return unary(_pairs.max_unpool3d_forward, _pairs.max_unpool3d_backward, input, data(indices), kernel_size,
                 stride, padding, output_size, name="max_unpool3d")
