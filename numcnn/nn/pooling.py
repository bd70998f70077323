"""Pooling modules with PyTorch's names and constructor signatures; thin wrappers over
:mod:`numcnn.nn.functional` (no parameters, so any floating dtype passes through unchanged)."""

from __future__ import annotations

from ..functional._window import as_tuple
from . import functional as F
from .module import Module

__all__ = [
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d",
    "AdaptiveMaxPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
]


class _MaxPoolNd(Module):
    _nd = 2
    _function = staticmethod(F.max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False, ceil_mode=False):
        super().__init__()
        nd = self._nd
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_tuple(stride, nd, "stride", minimum=1)
        self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.dilation = as_tuple(dilation, nd, "dilation", minimum=1)
        self.return_indices = bool(return_indices)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        return self._function(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                              self.return_indices)

    def extra_repr(self):
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L).  See ``torch.nn.MaxPool1d``."""

    _nd = 1
    _function = staticmethod(F.max_pool1d)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over (N, C, H, W): ``MaxPool2d(kernel_size, stride=None, padding=0,
    dilation=1, return_indices=False, ceil_mode=False)``.  See ``torch.nn.MaxPool2d``."""

    _nd = 2
    _function = staticmethod(F.max_pool2d)


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over (N, C, D, H, W).  See ``torch.nn.MaxPool3d``."""

    _nd = 3
    _function = staticmethod(F.max_pool3d)


class _AvgPoolNd(Module):
    _nd = 2
    _function = staticmethod(F.avg_pool2d)
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

    def forward(self, x):
        extra = (self.divisor_override,) if self._has_divisor_override else ()
        return self._function(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                              self.count_include_pad, *extra)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling over (N, C, L): ``AvgPool1d(kernel_size, stride=None, padding=0,
    ceil_mode=False, count_include_pad=True)``.  See ``torch.nn.AvgPool1d``."""

    _nd = 1
    _function = staticmethod(F.avg_pool1d)
    _has_divisor_override = False

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling over (N, C, H, W): ``AvgPool2d(kernel_size, stride=None, padding=0,
    ceil_mode=False, count_include_pad=True, divisor_override=None)``.  See ``torch.nn.AvgPool2d``."""

    _nd = 2
    _function = staticmethod(F.avg_pool2d)


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over (N, C, D, H, W).  See ``torch.nn.AvgPool3d``."""

    _nd = 3
    _function = staticmethod(F.avg_pool3d)


class _AdaptivePoolNd(Module):
    _nd = 2
    _function = staticmethod(F.adaptive_avg_pool2d)

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return self._function(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """1-D adaptive average pooling over (N, C, L) to ``output_size``.  See ``torch.nn.AdaptiveAvgPool1d``."""

    _nd = 1
    _function = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """2-D adaptive average pooling over (N, C, H, W) to ``output_size`` (int or (H_out, W_out),
    None keeps a size); ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    _nd = 2
    _function = staticmethod(F.adaptive_avg_pool2d)


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """3-D adaptive average pooling over (N, C, D, H, W).  See ``torch.nn.AdaptiveAvgPool3d``."""

    _nd = 3
    _function = staticmethod(F.adaptive_avg_pool3d)


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size, return_indices=False):
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def forward(self, x):
        return self._function(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1-D adaptive max pooling over (N, C, L).  See ``torch.nn.AdaptiveMaxPool1d``."""

    _nd = 1
    _function = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2-D adaptive max pooling over (N, C, H, W) to ``output_size``:
    ``AdaptiveMaxPool2d(output_size, return_indices=False)``.  See ``torch.nn.AdaptiveMaxPool2d``."""

    _nd = 2
    _function = staticmethod(F.adaptive_max_pool2d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3-D adaptive max pooling over (N, C, D, H, W).  See ``torch.nn.AdaptiveMaxPool3d``."""

    _nd = 3
    _function = staticmethod(F.adaptive_max_pool3d)


class _MaxUnpoolNd(Module):
    _nd = 2
    _function = staticmethod(F.max_unpool2d)

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        nd = self._nd
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = self.kernel_size if stride is None else as_tuple(stride, nd, "stride", minimum=1)
        self.padding = as_tuple(padding, nd, "padding", minimum=0)

    def forward(self, x, indices, output_size=None):
        return self._function(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """1-D max unpooling: ``unpool(x, indices, output_size=None)``.  See ``torch.nn.MaxUnpool1d``."""

    _nd = 1
    _function = staticmethod(F.max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """2-D max unpooling: ``MaxUnpool2d(kernel_size, stride=None, padding=0)``, called as
    ``unpool(x, indices, output_size=None)`` with the indices of ``MaxPool2d(return_indices=True)``.
    Not usable inside ``Sequential`` (it takes two inputs), as in PyTorch."""

    _nd = 2
    _function = staticmethod(F.max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """3-D max unpooling.  See ``torch.nn.MaxUnpool3d``."""

    _nd = 3
    _function = staticmethod(F.max_unpool3d)
