"""Binding a :mod:`numcnn.functional` pair to the tape: run ``*_forward`` on the arrays, record
one node whose backward is the pair's ``*_backward`` on the forward's cache.

Inputs may be Tensors or plain arrays; an array (or None) is a constant, its parent slot None.
Under ``no_grad`` (or when no input requires a gradient) :func:`record` keeps no node, so the
closure, and with it the cache, is dropped as soon as the output exists.
"""

from __future__ import annotations

from ...autograd import Tensor, is_grad_enabled, record

__all__ = ["data", "parent", "unary", "with_params"]


def data(x):
    """The array inside ``x`` (a Tensor), or ``x`` itself (an array, a number or None)."""
    return x.data if isinstance(x, Tensor) else x


def parent(x):
    """``x`` when it is a Tensor, else None (a constant: no gradient flows to it)."""
    return x if isinstance(x, Tensor) else None


def records(x) -> bool:
    """Whether an op on ``x`` now records a node (as :func:`numcnn.autograd.record` decides)."""
    return is_grad_enabled() and isinstance(x, Tensor) and x.requires_grad


def unary(forward, backward, x, *args, name: str, **kwargs) -> Tensor:
    """Apply a one-input pair (``forward(x, ...) -> (out, cache)``, ``backward(g, cache) -> dx``)."""
    out, cache = forward(data(x), *args, **kwargs)
    return record(out, (parent(x),), lambda g: (backward(g, cache),), name)


def with_params(forward, backward, x, params, *args, name: str, **kwargs) -> Tensor:
    """Apply a pair whose backward returns ``(dx, d param...)``, one per entry of ``params``
    (None for an absent parameter, like a bias)."""
    out, cache = forward(data(x), *(data(p) for p in params), *args, **kwargs)
    return record(out, (parent(x),) + tuple(parent(p) for p in params), lambda g: backward(g, cache), name)
