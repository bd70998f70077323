"""Drop-in for CS231n assignment 2's code, no Cython build: ``fast_layers``, ``layers``,
``layer_utils``, ``gradient_check``, ``optim``, ``solver`` and ``classifiers`` (``cnn``, ``fc_net``), with the
assignment's signatures and dict parameters.

A compatibility façade only: it translates the assignment's conventions and calls
``numcnn.functional`` (fast) or ``numcnn.reference`` (naive).  The sub-modules mirror the
assignment's files (``from numcnn.cs231n.layers import *``), and everything is also importable
from ``numcnn.cs231n`` directly.  Where CS231n's semantics differ from PyTorch's (batch-norm
momentum and running variance, dropout's keep probability, affine weight layout) the
assignment's are kept; see :mod:`numcnn.cs231n.layers`.
"""

from . import gradient_check, layer_utils, layers, optim
from .classifiers import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from .fast_layers import *  # noqa: F401,F403
from .fast_layers import __all__ as _fast_all
from .gradient_check import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    eval_numerical_gradient_blobs,
    grad_check_sparse,
    rel_error,
)
from .layer_utils import *  # noqa: F401,F403
from .layer_utils import __all__ as _utils_all
from .layers import *  # noqa: F401,F403
from .layers import __all__ as _layers_all
from .optim import adam, rmsprop, sgd, sgd_momentum
from .solver import Solver

__all__ = sorted(
    set(_fast_all)
    | set(_utils_all)
    | set(_layers_all)
    | {
        "eval_numerical_gradient",
        "eval_numerical_gradient_array",
        "eval_numerical_gradient_blobs",
        "grad_check_sparse",
        "rel_error",
        "sgd",
        "sgd_momentum",
        "rmsprop",
        "adam",
        "Solver",
        "ThreeLayerConvNet",
        "TwoLayerNet",
        "FullyConnectedNet",
        "layers",
        "layer_utils",
        "gradient_check",
        "optim",
    }
)
