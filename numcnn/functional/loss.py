"""Softmax, log-softmax and the cross-entropy loss with its gradient, numerically stable."""

from __future__ import annotations

import numbers

import numpy as np

from ._checks import check_array

__all__ = ["softmax", "log_softmax", "cross_entropy"]


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, computed after subtracting the max (no overflow).

    Parameters
    ----------
    x : ndarray, floating
    axis : int

    Returns
    -------
    ndarray, shape and dtype of ``x``
    """
    check_array(x, "x", min_ndim=1)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, stable; shape and dtype of ``x``."""
    check_array(x, "x", min_ndim=1)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def check_targets(logits, y):
    """Class-index targets, shape (N,) or (N, *d) for logits (N, C) or (N, C, *d), in [0, C)."""
    if not isinstance(y, np.ndarray):
        y = np.asarray(y)
        if y.dtype == object:
            raise TypeError("y must be an array of integer class indices")
    n, c = logits.shape[0], logits.shape[1]
    expected = (n,) + logits.shape[2:]
    if np.issubdtype(y.dtype, np.floating) and y.shape == logits.shape:
        if np.any(y < 0):
            raise ValueError("class-probability targets y must be non-negative")
        return None, y.astype(logits.dtype, copy=False)
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise TypeError(
            f"y must hold integer class indices (or class probabilities of logits' shape {logits.shape}), "
            f"got dtype {y.dtype} and shape {y.shape}"
        )
    if y.shape != expected:
        raise ValueError(f"y must have shape {expected} to match logits {logits.shape}, got {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= c):
        bad = y[(y < 0) | (y >= c)]
        raise ValueError(
            f"labels must be in [0, {c - 1}] for logits with {c} classes, got {bad.ravel()[:5].tolist()}"
        )
    return y.astype(np.intp, copy=False), None


def cross_entropy(logits, y, label_smoothing=0.0):
    """Mean cross-entropy of softmax(logits) against targets, and its gradient, as
    ``torch.nn.functional.cross_entropy(logits, y, label_smoothing=...)`` with reduction 'mean'.

    With label smoothing ``e`` the target distribution is ``(1 - e) * onehot(y) + e / C``, and
    ``loss = mean_n( -sum_c q_c log softmax(logits)_c )``; the gradient is
    ``(softmax(logits) - q) / N``.

    Parameters
    ----------
    logits : ndarray, shape (N, C) or (N, C, *d), floating
        Unnormalised scores; any magnitude (log-sum-exp with the max subtracted).
    y : ndarray of int, shape (N,) or (N, *d), values in [0, C)
        Class indices.  Alternatively class probabilities with the shape of ``logits`` (PyTorch's
        soft targets; the mean is then over N * prod(d) as well).
    label_smoothing : float in [0, 1]

    Returns
    -------
    loss : float
    dlogits : ndarray, shape and dtype of ``logits``
        Gradient of ``loss`` with respect to ``logits``.

    Examples
    --------
    >>> import numpy as np
    >>> loss, d = cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6) == round(float(np.log(4)), 6), d.shape
    (True, (2, 4))
    """
    check_array(logits, "logits", min_ndim=2)
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(f"label_smoothing must be a real number in [0, 1], got {label_smoothing!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    labels, probs = check_targets(logits, y)
    c = logits.shape[1]
    if c == 0 or logits.shape[0] == 0:
        raise ValueError(f"logits must have at least one sample and one class, got shape {logits.shape}")
    logp = log_softmax(logits, axis=1)
    count = logits.size // c  # N * prod(d): the samples the mean is over
    dt = logits.dtype.type
    eps = dt(label_smoothing)
    if labels is not None:
        target = np.zeros_like(logits)
        np.put_along_axis(target, np.expand_dims(labels, 1), dt(1), axis=1)
    else:
        target = probs
    if label_smoothing:
        target = (1 - eps) * target + eps / dt(c)
    # -sum q log p, in one pass; q = 0 entries contribute nothing even where log p = -inf
    terms = np.where(target != 0, target * logp, dt(0))
    loss = float(-terms.sum(dtype=np.float64) / count)
    dlogits = (np.exp(logp) * target.sum(axis=1, keepdims=True) - target) / dt(count)
    return loss, dlogits.astype(logits.dtype, copy=False)
