"""Padding modules with PyTorch's names: ``ZeroPad``, ``ConstantPad``, ``ReflectionPad``,
``ReplicationPad`` and ``CircularPad``, each 1d/2d/3d; thin wrappers over
``numcnn.functional.pad_forward`` (no parameters, so any dtype passes through unchanged)."""

from __future__ import annotations

import numbers

from . import functional as F
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
    negative to crop, as in ``torch.nn.functional.pad``.  The classes are made by :func:`_family`."""

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

    def forward(self, x):
        return F.pad(x, self.padding, self._mode, self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class _ModePadNd(_PadNd):
    """A padding without a fill value: zeros, or the mode's copies of the input."""

    def __init__(self, padding):
        super().__init__(padding)

    def extra_repr(self):
        return f"{self.padding}"


def _family(family: str, base: type, mode: str, doc: str) -> tuple[type, type, type]:
    """The 1d, 2d and 3d module classes of a padding family: table rows, not class bodies, since
    they differ in nothing else.  ``doc`` may name ``{last}`` (the dimensions padded), ``{input}``
    (the input layouts) and ``{name}``."""
    classes = []
    for nd in (1, 2, 3):
        name = f"{family}{nd}d"
        text = doc.format(last=_LAST[nd], input=_INPUT[nd], name=name) + f"  See ``torch.nn.{name}``."
        attrs = {"_nd": nd, "_mode": mode, "__doc__": text, "__module__": __name__, "__qualname__": name}
        classes.append(type(name, (base,), attrs))
    return tuple(classes)


_LAST = {1: "the last dimension", 2: "the last two dimensions", 3: "the last three dimensions"}
_INPUT = {1: "(C, L) or (N, C, L)", 2: "(C, H, W) or (N, C, H, W)", 3: "(C, D, H, W) or (N, C, D, H, W)"}

ConstantPad1d, ConstantPad2d, ConstantPad3d = _family(
    "ConstantPad", _PadNd, "constant", "Pad {last} with ``value``: ``{name}(padding, value)``."
)
ZeroPad1d, ZeroPad2d, ZeroPad3d = _family(
    "ZeroPad", _ModePadNd, "constant", "Pad {last} with zeros: ``{name}(padding)``."
)
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = _family(
    "ReflectionPad", _ModePadNd, "reflect", "Mirror {input} at its borders, the edge not repeated (pads < sizes)."
)
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = _family(
    "ReplicationPad", _ModePadNd, "replicate", "Repeat the edge values of {input}."
)
CircularPad1d, CircularPad2d, CircularPad3d = _family(
    "CircularPad", _ModePadNd, "circular", "Wrap {input} around (pads <= sizes)."
)
