"""CS231n's ``classifiers`` package: ``ThreeLayerConvNet`` (``cnn.py``), ``TwoLayerNet`` and
``FullyConnectedNet`` (``fc_net.py``)."""

from .cnn import ThreeLayerConvNet
from .fc_net import FullyConnectedNet, TwoLayerNet

__all__ = ["ThreeLayerConvNet", "TwoLayerNet", "FullyConnectedNet"]
