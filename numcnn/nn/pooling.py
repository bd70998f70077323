"""Pooling modules with PyTorch's names and constructor signatures; thin wrappers over
``numcnn.functional`` (no parameters, so any floating dtype passes through unchanged)."""

from __future__ import annotations

from .. import functional as F
from ..functional._window import as_tuple
from .conv import check_cache
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"]


class _MaxPoolNd(Module):
    _nd = 2
    _forward = staticmethod(F.max_pool2d_forward)
    _backward = staticmethod(F.max_pool2d_backward)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        nd = self._nd
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_tuple(stride, nd, "stride", minimum=1)
        self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.dilation = as_tuple(dilation, nd, "dilation", minimum=1)
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)
        self._cache = None

    def forward(self, x):
        kwargs = dict(
            stride=self.stride, padding=self.padding, dilation=self.dilation, ceil_mode=self.ceil_mode
        )
        if self.return_indices:
            kwargs["return_indices"] = True
        out, self._cache = self._forward(x, self.kernel_size, **kwargs)
        return out

    def backward(self, dout):
        check_cache(self, self._cache)
        return self._backward(dout, self._cache)

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L).  See ``torch.nn.MaxPool1d``."""

    _nd = 1
    _forward = staticmethod(F.max_pool1d_forward)
    _backward = staticmethod(F.max_pool1d_backward)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over (N, C, H, W): ``MaxPool2d(kernel_size, stride=None, padding=0,
    dilation=1, return_indices=False, ceil_mode=False)``.  See ``torch.nn.MaxPool2d``."""

    _nd = 2
    _forward = staticmethod(F.max_pool2d_forward)
    _backward = staticmethod(F.max_pool2d_backward)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over (N, C, D, H, W).  See ``torch.nn.MaxPool3d``."""

    _nd = 3
    _forward = staticmethod(F.max_pool3d_forward)
    _backward = staticmethod(F.max_pool3d_backward)


class _AvgPoolNd(Module):
    _nd = 2
    _forward = staticmethod(F.avg_pool2d_forward)
    _backward = staticmethod(F.avg_pool2d_backward)
    _has_divisor_override = True

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None):
        super().__init__()
        nd = self._nd
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_tuple(stride, nd, "stride", minimum=1)
        self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override == 0:
            raise ValueError("divisor_override must not be zero")
        self.divisor_override = divisor_override
        self._cache = None

    def forward(self, x):
        kwargs = dict(
            stride=self.stride,
            padding=self.padding,
            ceil_mode=self.ceil_mode,
            count_include_pad=self.count_include_pad,
        )
        if self._has_divisor_override:
            kwargs["divisor_override"] = self.divisor_override
        out, self._cache = self._forward(x, self.kernel_size, **kwargs)
        return out

    def backward(self, dout):
        check_cache(self, self._cache)
        return self._backward(dout, self._cache)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling over (N, C, L): ``AvgPool1d(kernel_size, stride=None, padding=0,
    ceil_mode=False, count_include_pad=True)``.  See ``torch.nn.AvgPool1d``."""

    _nd = 1
    _forward = staticmethod(F.avg_pool1d_forward)
    _backward = staticmethod(F.avg_pool1d_backward)
    _has_divisor_override = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling over (N, C, H, W): ``AvgPool2d(kernel_size, stride=None, padding=0,
    ceil_mode=False, count_include_pad=True, divisor_override=None)``.  See ``torch.nn.AvgPool2d``."""

    _nd = 2
    _forward = staticmethod(F.avg_pool2d_forward)
    _backward = staticmethod(F.avg_pool2d_backward)


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over (N, C, D, H, W).  See ``torch.nn.AvgPool3d``."""

    _nd = 3
    _forward = staticmethod(F.avg_pool3d_forward)
    _backward = staticmethod(F.avg_pool3d_backward)
