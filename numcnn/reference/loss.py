"""Loop twins of ``softmax``, ``log_softmax`` and ``cross_entropy``, one row (sample, spatial
position) at a time.

For a row ``z``: ``log_softmax(z) = z - m - log(sum(exp(z - m)))`` with ``m = max(z)`` (no
overflow).  Cross-entropy against target distribution ``q`` (a one-hot class, or given
probabilities; label smoothing ``e`` mixes in ``e / C``): ``loss = mean over rows of
-sum_{q_c != 0} q_c log p_c`` and ``dlogits = (p * sum(q) - q) / rows``.
"""

from __future__ import annotations

import numpy as np

from ..functional.loss import check_targets
from ._loops import check_array

__all__ = ["softmax", "log_softmax", "cross_entropy"]


def _rows(a, axis):
    """Every 1-D row of ``a`` along ``axis``, as (index into a, row) with a slice at ``axis``."""
    axis = axis % a.ndim
    rest = a.shape[:axis] + a.shape[axis + 1 :]
    for i in np.ndindex(rest):
        index = i[:axis] + (slice(None),) + i[axis:]
        yield index, a[index]


def _log_softmax_row(z):
    m = np.max(z)
    return z - m - np.log(np.sum(np.exp(z - m)))


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, row by row; shape and dtype of ``x``."""
    check_array(x, "x", min_ndim=1)
    out = np.empty_like(x)
    for index, z in _rows(x, axis):
        out[index] = _log_softmax_row(z)
    return out


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, row by row; shape and dtype of ``x``."""
    check_array(x, "x", min_ndim=1)
    out = np.empty_like(x)
    for index, z in _rows(x, axis):
        e = np.exp(z - np.max(z))
        out[index] = e / np.sum(e)
    return out


def cross_entropy(logits, y, label_smoothing=0.0):
    """Mean cross-entropy and its gradient by loops, the spec of
    :func:`numcnn.functional.cross_entropy`: logits (N, C) or (N, C, *d), y class indices (N, *d)
    or probabilities of logits' shape.  Returns ``(loss, dlogits)``."""
    check_array(logits, "logits", min_ndim=2)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing!r}")
    labels, probs = check_targets(logits, y)
    dt = logits.dtype.type
    c = logits.shape[1]
    count = logits.size // c
    loss = 0.0
    dlogits = np.empty_like(logits)
    for index, z in _rows(logits, 1):
        if labels is not None:
            q = np.zeros(c, dtype=logits.dtype)
            q[labels[index[:1] + index[2:]]] = 1
        else:
            q = probs[index]
        q = (1 - dt(label_smoothing)) * q + dt(label_smoothing) / dt(c)
        logp = _log_softmax_row(z)
        loss -= sum(float(qc) * float(lc) for qc, lc in zip(q, logp) if qc != 0)
        dlogits[index] = (np.exp(logp) * np.sum(q) - q) / dt(count)
    return loss / count, dlogits
