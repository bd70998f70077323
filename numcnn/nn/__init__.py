"""Layers as modules, with PyTorch's names and constructor signatures; thin wrappers over
``numcnn.functional``."""

from .module import Module, Parameter, Sequential

__all__ = ["Module", "Parameter", "Sequential"]
