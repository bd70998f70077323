"""Convolution modules: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d`` with PyTorch's constructor
signatures, parameter names (``weight``, ``bias``) and default initialisation; thin wrappers over
:mod:`numcnn.nn.functional`."""

from __future__ import annotations

import math

import numpy as np

from ..functional._window import as_tuple
from ..functional.padding import check_padding_mode
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _ConvBase(Module):
    """What a convolution and a transposed convolution module share: the repr."""

    _nd = 2

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        zero = (0,) * self._nd
        if self.padding != zero:
            s += f", padding={self.padding}"
        if getattr(self, "output_padding", zero) != zero:
            s += f", output_padding={self.output_padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvNd(_ConvBase):
    _nd = 2
    _function = staticmethod(F.conv2d)

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        padding_mode="zeros",
        dtype=np.float32,
    ):
        super().__init__()
        nd = self._nd
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups} must be positive and divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = as_tuple(stride, nd, "stride", minimum=1)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.dilation = as_tuple(dilation, nd, "dilation", minimum=1)
        self.groups = groups
        self.padding_mode = check_padding_mode(padding_mode)
        fan_in = in_channels // groups * math.prod(self.kernel_size)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(init.kaiming_uniform(shape, fan_in, dtype))
        self.register_parameter("bias", Parameter(init.uniform_bias(out_channels, fan_in, dtype)) if bias else None)

    def forward(self, x):
        self._check_input_dtype(x, self.weight.data)
        return self._function(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups,
                              padding_mode=self.padding_mode)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L); weight (C_out, C_in/groups, kL).  See ``torch.nn.Conv1d``."""

    _nd = 1
    _function = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W); weight (C_out, C_in/groups, kH, kW).

    ``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
    bias=True, padding_mode='zeros', dtype=np.float32)``, initialised as PyTorch does
    (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels/groups * kH * kW).
    """

    _nd = 2
    _function = staticmethod(F.conv2d)


class Conv3d(_ConvNd):
    """3-D convolution over (N, C_in, D, H, W); weight (C_out, C_in/groups, kD, kH, kW).  See ``torch.nn.Conv3d``."""

    _nd = 3
    _function = staticmethod(F.conv3d)


class _ConvTransposeNd(_ConvBase):
    _nd = 2
    _function = staticmethod(F.conv_transpose2d)

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups=1,
        bias=True,
        dilation=1,
        padding_mode="zeros",
        dtype=np.float32,
    ):
        super().__init__()
        nd = self._nd
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(
                f"groups={groups} must be positive and divide in_channels={in_channels} and "
                f"out_channels={out_channels}"
            )
        if padding_mode != "zeros":
            raise ValueError(
                f"Only 'zeros' padding mode is supported for {type(self).__name__}, got {padding_mode!r}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = as_tuple(kernel_size, nd, "kernel_size", minimum=1)
        self.stride = as_tuple(stride, nd, "stride", minimum=1)
        self.padding = as_tuple(padding, nd, "padding", minimum=0)
        self.output_padding = as_tuple(output_padding, nd, "output_padding", minimum=0)
        self.dilation = as_tuple(dilation, nd, "dilation", minimum=1)
        self.groups = groups
        self.padding_mode = padding_mode
        # PyTorch computes fan_in from the weight's dim 1: out_channels/groups * prod(kernel).
        fan_in = out_channels // groups * math.prod(self.kernel_size)
        shape = (in_channels, out_channels // groups) + self.kernel_size
        self.weight = Parameter(init.kaiming_uniform(shape, fan_in, dtype))
        self.register_parameter("bias", Parameter(init.uniform_bias(out_channels, fan_in, dtype)) if bias else None)

    def _output_padding(self, x, output_size):
        """PyTorch's rule: the output_padding that makes the output ``output_size``."""
        if output_size is None:
            return self.output_padding
        nd = self._nd
        size = tuple(int(v) for v in output_size)
        if len(size) == nd + 2:
            size = size[2:]
        if len(size) != nd:
            raise ValueError(f"output_size must have {nd} or {nd + 2} elements, got {tuple(output_size)!r}")
        result = []
        for axis, (o, n, s, p, d, k) in enumerate(
            zip(size, x.shape[2:], self.stride, self.padding, self.dilation, self.kernel_size)
        ):
            smallest = (n - 1) * s - 2 * p + d * (k - 1) + 1
            if not smallest <= o < smallest + s:
                raise ValueError(
                    f"requested output_size {tuple(output_size)} is not possible: dimension {axis} must be "
                    f"in [{smallest}, {smallest + s - 1}] for input {x.shape[2:]}"
                )
            result.append(o - smallest)
        return tuple(result)

    def forward(self, x, output_size=None):
        self._check_input_dtype(x, self.weight.data)
        return self._function(x, self.weight, self.bias, self.stride, self.padding,
                              self._output_padding(x, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C_in, L); weight (C_in, C_out/groups, kL).
    See ``torch.nn.ConvTranspose1d``."""

    _nd = 1
    _function = staticmethod(F.conv_transpose1d)


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C_in, H, W); weight (C_in, C_out/groups, kH, kW).

    ``ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1, padding_mode='zeros', dtype=np.float32)``;
    ``module(x, output_size=(H_out, W_out))`` picks the output_padding, as in PyTorch.
    """

    _nd = 2
    _function = staticmethod(F.conv_transpose2d)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over (N, C_in, D, H, W); weight (C_in, C_out/groups, kD, kH, kW).
    See ``torch.nn.ConvTranspose3d``."""

    _nd = 3
    _function = staticmethod(F.conv_transpose3d)
