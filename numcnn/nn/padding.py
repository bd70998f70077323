"""Padding modules with PyTorch's names: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``,
``ReplicationPad`` and ``CircularPad``, each 1d/2d/3d; thin wrappers over
``numcnn.functional.pad_forward`` (no parameters, so any dtype passes through unchanged)."""

from __future__ import annotations

import numbers

from .. import functional as F
from .module import Module

__all__ = [
    "ZeroPad1d",
    "ZeroPad2d",
    "ZeroPad3d",
    "ConstantPad1d",
    "ConstantPad2d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad2d",
    "ReplicationPad3d",
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
]


class _PadNd(Module):
    """``padding``: an int for every side, or 2 * nd ints (left, right, top, bottom, front, back),
    negative to crop, as in ``torch.nn.functional.pad``."""

    _nd = 2
    _mode = "constant"

    def __init__(self, padding, value=0.0):
        super().__init__()
        sides = 2 * self._nd
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (int(padding),) * sides
        if not isinstance(padding, (tuple, list)) or len(padding) != sides:
            raise ValueError(f"padding must be an int or a tuple of {sides} ints, got {padding!r}")
        self.padding = tuple(padding)
        self.value = value
        self._cache = None

    def forward(self, x):
        out, self._cache = F.pad_forward(x, self.padding, self._mode, self.value)
        return out

    def backward(self, dout, input_grad=True):
        return F.pad_backward(dout, self._cached(self._cache))

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ModePadNd(_PadNd):
    """A padding without a fill value: zeros, or the mode's copies of the input."""

    def __init__(self, padding):
        super().__init__(padding)

    def extra_repr(self):
        return f"{self.padding}"


class ConstantPad1d(_PadNd):
    """Pad the last dimension with ``value``: ``ConstantPad1d(padding, value)``.  See ``torch.nn.ConstantPad1d``."""

    _nd = 1


class ConstantPad2d(_PadNd):
    """Pad the last two dimensions with ``value``: ``ConstantPad2d(padding, value)``, padding an int
    or (left, right, top, bottom).  See ``torch.nn.ConstantPad2d``."""

    _nd = 2


class ConstantPad3d(_PadNd):
    """Pad the last three dimensions with ``value``.  See ``torch.nn.ConstantPad3d``."""

    _nd = 3


class ZeroPad1d(_ModePadNd):
    """Pad the last dimension with zeros.  See ``torch.nn.ZeroPad1d``."""

    _nd = 1


class ZeroPad2d(_ModePadNd):
    """Pad the last two dimensions with zeros: ``ZeroPad2d(padding)``, padding an int or
    (left, right, top, bottom).  See ``torch.nn.ZeroPad2d``."""

    _nd = 2


class ZeroPad3d(_ModePadNd):
    """Pad the last three dimensions with zeros.  See ``torch.nn.ZeroPad3d``."""

    _nd = 3


class ReflectionPad1d(_ModePadNd):
    """Mirror (C, L) or (N, C, L) at its ends, the edge not repeated.  See ``torch.nn.ReflectionPad1d``."""

    _nd = 1
    _mode = "reflect"


class ReflectionPad2d(_ModePadNd):
    """Mirror (C, H, W) or (N, C, H, W) at its borders: ``ReflectionPad2d(padding)``, each pad
    smaller than its dimension.  See ``torch.nn.ReflectionPad2d``."""

    _nd = 2
    _mode = "reflect"


class ReflectionPad3d(_ModePadNd):
    """Mirror (C, D, H, W) or (N, C, D, H, W) at its borders.  See ``torch.nn.ReflectionPad3d``."""

    _nd = 3
    _mode = "reflect"


class ReplicationPad1d(_ModePadNd):
    """Repeat the edge values of (C, L) or (N, C, L).  See ``torch.nn.ReplicationPad1d``."""

    _nd = 1
    _mode = "replicate"


class ReplicationPad2d(_ModePadNd):
    """Repeat the edge values of (C, H, W) or (N, C, H, W).  See ``torch.nn.ReplicationPad2d``."""

    _nd = 2
    _mode = "replicate"


class ReplicationPad3d(_ModePadNd):
    """Repeat the edge values of (C, D, H, W) or (N, C, D, H, W).  See ``torch.nn.ReplicationPad3d``."""

    _nd = 3
    _mode = "replicate"


class CircularPad1d(_ModePadNd):
    """Wrap (C, L) or (N, C, L) around (pad at most its length).  See ``torch.nn.CircularPad1d``."""

    _nd = 1
    _mode = "circular"


class CircularPad2d(_ModePadNd):
    """Wrap (C, H, W) or (N, C, H, W) around (pads at most the sizes).  See ``torch.nn.CircularPad2d``."""

    _nd = 2
    _mode = "circular"


class CircularPad3d(_ModePadNd):
    """Wrap (C, D, H, W) or (N, C, D, H, W) around.  See ``torch.nn.CircularPad3d``."""

    _nd = 3
    _mode = "circular"
