"""Unbatched inputs, PyTorch's convention for every conv, transposed conv, pool and unpool.

Given ``x`` of shape (C, *spatial) instead of (N, C, *spatial), PyTorch treats it as a batch of
one and returns results without the batch axis.  Here that is done once, by two decorators:
:func:`accepts_unbatched` on each public ``*_forward`` adds the axis, calls the batched op and
takes the axis off its results (the output, and ``indices`` where returned); its cache is an
:class:`UnbatchedCache` around the batched op's, so that :func:`unbatched_backward` (on the public
conv backwards, and on the one private backward each other family's 1d/2d/3d functions share)
adds the axis to ``dout`` and takes it off ``dx`` (weight and bias gradients have no batch axis
either way).  Batched calls pass straight through.
"""

from __future__ import annotations

from dataclasses import dataclass
import functools

import numpy as np

from ._window import check_dout

__all__ = ["UnbatchedCache", "accepts_unbatched", "unbatched_backward"]


@dataclass(frozen=True)
class UnbatchedCache:
    """The cache of an op applied to an unbatched input: the batched op's cache, and the
    forward output's shape without the batch axis."""

    batched: object
    out_shape: tuple


def _first(result):
    """``result`` (an array, or a tuple of arrays such as ``(out, indices)``) without its batch axis."""
    if isinstance(result, tuple):
        return tuple(None if a is None else a[0] for a in result)
    return result[0]


def accepts_unbatched(nd: int, *, indices: bool = False):
    """Decorator for a public ``*_forward(x, ...)`` with ``nd`` spatial dimensions: an ``x`` of
    ``nd + 1`` dimensions is run as a batch of one.  With ``indices``, the argument after ``x``
    (``indices``, of x's shape) is per-sample too, as in max unpooling."""

    def decorate(forward):
        @functools.wraps(forward)
        def wrapper(x, *args, **kwargs):
            if not (isinstance(x, np.ndarray) and x.ndim == nd + 1):
                return forward(x, *args, **kwargs)
            if indices:
                args, kwargs = _batch_indices(x, args, kwargs)
            result, cache = forward(x[None], *args, **kwargs)
            result = _first(result)
            out = result[0] if isinstance(result, tuple) else result
            return result, UnbatchedCache(cache, out.shape)

        return wrapper

    return decorate


def _batch_indices(x, args, kwargs):
    """``indices`` (second positional argument or keyword) with a batch axis, checked against x."""
    positional = bool(args)
    given = args[0] if positional else kwargs.get("indices")
    if isinstance(given, np.ndarray):
        if given.shape != x.shape:
            raise ValueError(f"indices must have the shape of x {x.shape}, got {given.shape}")
        given = given[None]
    if positional:
        return (given,) + tuple(args[1:]), kwargs
    return args, {**kwargs, "indices": given}


def unbatched_backward(backward):
    """Decorator for a public ``*_backward(dout, cache, ...)``: with an :class:`UnbatchedCache`,
    ``dout`` gets its batch axis back and ``dx`` (the result, or the first of a tuple such as
    ``(dx, dw, db)``) loses it."""

    @functools.wraps(backward)
    def wrapper(dout, cache, *args, **kwargs):
        if not isinstance(cache, UnbatchedCache):
            return backward(dout, cache, *args, **kwargs)
        dout = check_dout(dout, cache.out_shape, getattr(dout, "dtype", None))
        grads = backward(dout[None], cache.batched, *args, **kwargs)
        if isinstance(grads, tuple):
            return _first(grads[:1]) + grads[1:]
        return grads[0]

    return wrapper
