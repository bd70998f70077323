"""CS231n assignment 2's ``layers.py`` API, on numcnn's fast ops.

Signatures, dict parameters and return values are the assignment's.  Where the assignment's
semantics differ from PyTorch's, the assignment's are kept (and said so):

* ``affine_*``: ``w`` is (D, M) (PyTorch's Linear weight is (M, D)); ``x`` of any shape
  (N, d_1, ..., d_k) is flattened to (N, D).
* ``batchnorm_*``: ``bn_param['momentum']`` (default 0.9) is the weight of the OLD running
  average (PyTorch's momentum 0.1 is the weight of the new one), and ``running_var`` is updated
  with the BIASED batch variance (PyTorch: unbiased).  ``bn_param`` is updated in place with the
  running statistics, as in the assignment.
* ``dropout_*``: ``dropout_param['p']`` is the KEEP probability (2020+ assignment; PyTorch's
  ``p`` drops); a ``'seed'`` makes the mask deterministic; without one the mask is drawn from a
  generator seeded from ``np.random``, so ``np.random.seed`` makes it reproducible.
* Parameters are cast to ``x``'s dtype (the assignment relies on NumPy's silent upcasting).
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional.dropout import check_probability
from ..functional.loss import check_targets
from ..reference import conv_backward_naive, conv_forward_naive, max_pool_backward_naive, max_pool_forward_naive
from .fast_layers import as_dtype_of

__all__ = [
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
    "svm_loss",
    "batchnorm_forward",
    "batchnorm_backward",
    "batchnorm_backward_alt",
    "spatial_batchnorm_forward",
    "spatial_batchnorm_backward",
    "layernorm_forward",
    "layernorm_backward",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
    "dropout_forward",
    "dropout_backward",
    "conv_forward_naive",
    "conv_backward_naive",
    "max_pool_forward_naive",
    "max_pool_backward_naive",
]


def _as_array(x, name):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    return x


def affine_forward(x, w, b):
    """Affine layer: x (N, d_1, ..., d_k) flattened to (N, D), w (D, M), b (M,) -> out (N, M).

    Returns ``(out, cache)``.
    """
    _as_array(x, "x")
    _as_array(w, "w")
    if x.ndim < 1 or w.ndim != 2 or int(np.prod(x.shape[1:])) != w.shape[0]:
        raise ValueError(
            f"affine_forward: x {x.shape} flattens to (N, {int(np.prod(x.shape[1:])) if x.ndim else '?'}) "
            f"but w {getattr(w, 'shape', None)} must be (D, M) with D = prod(x.shape[1:])"
        )
    w, b = as_dtype_of(x, w, b)
    out, cache = F.linear_forward(x.reshape(x.shape[0], -1), w.T, b)
    return out, (x.shape, cache)


def affine_backward(dout, cache):
    """Backward of :func:`affine_forward`: returns ``(dx, dw, db)`` with dx of x's shape, dw (D, M)."""
    x_shape, lin_cache = cache
    dx, dw, db = F.linear_backward(dout, lin_cache)
    return dx.reshape(x_shape), dw.T, db


def relu_forward(x):
    """ReLU: returns ``(out, cache)``."""
    return F.relu_forward(x)


def relu_backward(dout, cache):
    """Backward of :func:`relu_forward`: returns ``dx``."""
    return F.relu_backward(dout, cache)


def softmax_loss(x, y):
    """Softmax cross-entropy: x (N, C) scores, y (N,) labels in [0, C).  Returns ``(loss, dx)``,
    the loss averaged over N."""
    return F.cross_entropy(x, y)


def svm_loss(x, y):
    """Multiclass SVM (hinge, margin 1): x (N, C), y (N,).  Returns ``(loss, dx)``, averaged over N."""
    _as_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (N, C), got shape {x.shape}")
    labels, _ = check_targets(x, np.asarray(y))  # the same label checks as the softmax loss
    if labels is None:
        raise TypeError("y must hold integer class indices")
    n = x.shape[0]
    rows = np.arange(n)
    correct = x[rows, labels][:, None]
    margins = np.maximum(0, x - correct + 1)
    margins[rows, labels] = 0
    loss = float(margins.sum() / n)
    positive = (margins > 0).astype(x.dtype)
    positive[rows, labels] = -positive.sum(axis=1)
    return loss, positive / x.dtype.type(n)


# --- batch normalisation ------------------------------------------------------------------------


def _bn_forward(x, gamma, beta, bn_param, axes):
    """Batch norm over ``axes`` of x with CS231n's running-average convention (see module doc)."""
    _as_array(x, "x")
    if not isinstance(bn_param, dict):
        raise TypeError(f"bn_param must be a dict, got {type(bn_param).__name__}")
    mode = bn_param.get("mode", "train")
    if mode not in ("train", "test"):
        raise ValueError(f'Invalid forward batchnorm mode "{mode}"')
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    c = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(c, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.zeros(c, dtype=x.dtype))
    gamma, beta = as_dtype_of(x, gamma, beta)
    gamma = None if gamma is None else gamma.reshape(c)
    beta = None if beta is None else beta.reshape(c)
    if mode == "train":
        out, cache = F.batch_norm_forward(x, None, None, gamma, beta, training=True, eps=eps)
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)  # biased: the assignment's convention
        running_mean = momentum * running_mean + (1 - momentum) * mean
        running_var = momentum * running_var + (1 - momentum) * var
    else:
        out, cache = F.batch_norm_forward(
            x, running_mean.astype(x.dtype, copy=False), running_var.astype(x.dtype, copy=False), gamma, beta,
            training=False, eps=eps,
        )
    bn_param["running_mean"] = running_mean
    bn_param["running_var"] = running_var
    return out, cache


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, D) with gamma, beta (D,).

    ``bn_param``: ``mode`` ('train' or 'test', required), ``eps`` (1e-5), ``momentum`` (0.9,
    weight of the old running average), ``running_mean``/``running_var`` (D,) (created as zeros,
    updated in place in the dict; the variance update uses the biased batch variance).

    Returns ``(out, cache)``.
    """
    _as_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"batchnorm_forward expects x of shape (N, D), got {x.shape}; use spatial_batchnorm_forward for (N, C, H, W)")
    return _bn_forward(x, gamma, beta, bn_param, axes=0)


def batchnorm_backward(dout, cache):
    """Backward of :func:`batchnorm_forward`: returns ``(dx, dgamma, dbeta)``."""
    return F.batch_norm_backward(dout, cache)


def batchnorm_backward_alt(dout, cache):
    """The assignment's simplified-formula variant; numcnn's backward already is the simplified
    formula, so this returns the same ``(dx, dgamma, dbeta)``."""
    return F.batch_norm_backward(dout, cache)


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalisation of x (N, C, H, W) per channel (statistics over N, H, W); gamma, beta (C,).

    Same ``bn_param`` as :func:`batchnorm_forward`.  Returns ``(out, cache)``.
    """
    _as_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"spatial_batchnorm_forward expects x of shape (N, C, H, W), got {x.shape}")
    return _bn_forward(x, gamma, beta, bn_param, axes=(0, 2, 3))


def spatial_batchnorm_backward(dout, cache):
    """Backward of :func:`spatial_batchnorm_forward`: returns ``(dx, dgamma, dbeta)``, dgamma (C,)."""
    return F.batch_norm_backward(dout, cache)


def layernorm_forward(x, gamma, beta, ln_param):
    """Layer normalisation of x (N, D) per sample; gamma, beta (D,); ``ln_param`` {'eps': 1e-5}.

    Returns ``(out, cache)``.
    """
    _as_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"layernorm_forward expects x of shape (N, D), got {x.shape}")
    gamma, beta = as_dtype_of(x, gamma, beta)
    return F.layer_norm_forward(x, x.shape[1], gamma, beta, eps=(ln_param or {}).get("eps", 1e-5))


def layernorm_backward(dout, cache):
    """Backward of :func:`layernorm_forward`: returns ``(dx, dgamma, dbeta)``."""
    return F.layer_norm_backward(dout, cache)


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Group normalisation of x (N, C, H, W) in G groups of channels; gamma, beta (1, C, 1, 1);
    ``gn_param`` {'eps': 1e-5}.  Returns ``(out, cache)``."""
    _as_array(x, "x")
    if x.ndim != 4:
        raise ValueError(f"spatial_groupnorm_forward expects x of shape (N, C, H, W), got {x.shape}")
    gamma, beta = as_dtype_of(x, gamma, beta)
    c = x.shape[1]
    for name, arr in (("gamma", gamma), ("beta", beta)):
        if np.size(arr) != c:
            raise ValueError(f"{name} must have C = {c} entries (shape (1, C, 1, 1)), got shape {np.shape(arr)}")
    out, cache = F.group_norm_forward(x, G, gamma.reshape(c), beta.reshape(c), eps=(gn_param or {}).get("eps", 1e-5))
    return out, (np.shape(gamma), cache)


def spatial_groupnorm_backward(dout, cache):
    """Backward of :func:`spatial_groupnorm_forward`: ``(dx, dgamma, dbeta)``, dgamma (1, C, 1, 1)."""
    param_shape, gn_cache = cache
    dx, dgamma, dbeta = F.group_norm_backward(dout, gn_cache)
    return dx, dgamma.reshape(param_shape), dbeta.reshape(param_shape)


# --- dropout ------------------------------------------------------------------------------------


def dropout_forward(x, dropout_param):
    """Inverted dropout.  ``dropout_param``: ``p`` the KEEP probability, ``mode`` ('train' or
    'test'), optional ``seed``.  Train: ``out = x * (rand < p) / p``; test: ``out = x``.

    Returns ``(out, cache)`` with ``cache = (dropout_param, mask)`` as in the assignment.
    """
    _as_array(x, "x")
    keep = dropout_param["p"]
    mode = dropout_param.get("mode", "train")
    if mode not in ("train", "test"):
        raise ValueError(f'Invalid forward dropout mode "{mode}"')
    check_probability(keep, "dropout_param['p'] (keep probability)")
    if "seed" in dropout_param:
        rng = np.random.default_rng(dropout_param["seed"])
    else:
        rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
    out, cache = F.dropout_forward(x, 1.0 - keep, training=(mode == "train"), rng=rng)
    return out, (dropout_param, cache)


def dropout_backward(dout, cache):
    """Backward of :func:`dropout_forward`: returns ``dx``."""
    dropout_param, drop_cache = cache
    return F.dropout_backward(dout, drop_cache)
