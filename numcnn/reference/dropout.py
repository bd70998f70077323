"""Loop twin of ``dropout_forward/backward``, element by element.

Same random contract as the fast path, so the same generator state gives the same mask: one
``rng.random(x.shape)`` draw (float32 for float32 input, else float64), element ``i`` kept when
``u[i] < 1 - p`` and then scaled by ``1 / (1 - p)``; ``out[i] = x[i] * mask[i]`` (a product, so a
dropped NaN stays NaN, as in PyTorch).  Eval mode and ``p = 0`` return ``x`` itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..functional.dropout import check_probability
from ._loops import check_array, check_cache, check_dout

__all__ = ["dropout_forward", "dropout_backward"]


@dataclass(frozen=True)
class DropoutCache:
    mask: np.ndarray | None  # 0 or 1 / (1 - p) per element; None: the identity
    x_shape: tuple
    dtype: np.dtype


def dropout_forward(x, p=0.5, training=True, rng=None):
    """Inverted dropout by loops, the spec of :func:`numcnn.functional.dropout_forward`.

    ``p`` is the probability of dropping an element; ``rng`` a numpy Generator, a seed or None.
    Returns ``(out, cache)``, ``out`` of x's shape and dtype.
    """
    check_array(x, "x")
    p = check_probability(p)
    if not training or p == 0.0:
        return x, DropoutCache(mask=None, x_shape=x.shape, dtype=x.dtype)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    u = rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    keep = 1.0 - p
    scale = x.dtype.type(1.0 / keep) if keep > 0 else x.dtype.type(0)
    mask = np.empty_like(x)
    out = np.empty_like(x)
    for i in np.ndindex(x.shape):
        mask[i] = scale if u[i] < keep else 0
        out[i] = x[i] * mask[i]
    return out, DropoutCache(mask=mask, x_shape=x.shape, dtype=x.dtype)


def dropout_backward(dout, cache):
    """Backward pass of :func:`dropout_forward`: ``dx[i] = dout[i] * mask[i]``."""
    check_cache(cache, DropoutCache, "reference dropout_forward")
    dout = check_dout(dout, cache.x_shape, cache.dtype)
    if cache.mask is None:
        return dout
    dx = np.empty_like(dout)
    for i in np.ndindex(dx.shape):
        dx[i] = dout[i] * cache.mask[i]
    return dx
