"""CS231n's ``optim.py``: first-order update rules with config dicts.

Every rule has the signature ``next_w, config = rule(w, dw, config=None)``; ``config`` holds the
hyper-parameters and the rule's state (velocity, caches, Adam's ``t``), created with the
assignment's defaults on first use.  These are the assignment's formulas, which differ from
``numcnn.optim`` (PyTorch's): e.g. ``sgd_momentum`` keeps ``v = mu * v - lr * dw``, and ``adam``
increments ``t`` before the bias correction, as the 2020+ assignment does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sgd", "sgd_momentum", "rmsprop", "adam"]


def sgd(w, dw, config=None):
    """Vanilla SGD: ``w -= learning_rate * dw`` (in place, as the assignment).  Default lr 1e-2."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: ``v = momentum * v - lr * dw; w += v``.  Defaults lr 1e-2, momentum 0.9."""
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("momentum", 0.9)
    v = config.get("velocity", np.zeros_like(w))
    v = config["momentum"] * v - config["learning_rate"] * dw
    next_w = w + v
    config["velocity"] = v
    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: ``cache = decay * cache + (1 - decay) * dw^2; w -= lr * dw / (sqrt(cache) + eps)``.

    Defaults lr 1e-2, decay_rate 0.99, epsilon 1e-8.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("cache", np.zeros_like(w))
    cache = config["decay_rate"] * config["cache"] + (1 - config["decay_rate"]) * dw**2
    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + config["epsilon"])
    config["cache"] = cache
    return next_w, config


def adam(w, dw, config=None):
    """Adam with bias correction; ``t`` is incremented before use.

    Defaults lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-8; state ``m``, ``v``, ``t``.
    """
    if config is None:
        config = {}
    config.setdefault("learning_rate", 1e-3)
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    config.setdefault("epsilon", 1e-8)
    config.setdefault("m", np.zeros_like(w))
    config.setdefault("v", np.zeros_like(w))
    config.setdefault("t", 0)
    b1, b2 = config["beta1"], config["beta2"]
    config["t"] += 1
    t = config["t"]
    m = b1 * config["m"] + (1 - b1) * dw
    v = b2 * config["v"] + (1 - b2) * dw**2
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    next_w = w - config["learning_rate"] * m_hat / (np.sqrt(v_hat) + config["epsilon"])
    config["m"], config["v"] = m, v
    return next_w, config
