"""CS231n's ``classifiers`` package: ``ThreeLayerConvNet`` (``classifiers/cnn.py``)."""

from .cnn import ThreeLayerConvNet

__all__ = ["ThreeLayerConvNet"]
