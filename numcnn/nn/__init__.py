"""Layers as modules, with PyTorch's names and constructor signatures; thin wrappers over
``numcnn.functional``."""

from .conv import Conv1d, Conv2d, Conv3d
from .module import Module, Parameter, Sequential
from .pooling import AvgPool1d, AvgPool2d, AvgPool3d, MaxPool1d, MaxPool2d, MaxPool3d

__all__ = [
    "Module",
    "Parameter",
    "Sequential",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "MaxPool1d",
    "MaxPool2d",
    "MaxPool3d",
    "AvgPool1d",
    "AvgPool2d",
    "AvgPool3d",
]
