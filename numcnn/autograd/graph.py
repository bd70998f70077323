"""The define-by-run graph: grad mode, one node per op application, and the reverse pass.

Every differentiable op computes its output with NumPy and calls :func:`record`, which wraps the
output in a :class:`~numcnn.autograd.tensor.Tensor` and, when gradients are wanted, remembers the
op's inputs and a ``backward(grad_out) -> (grad per input)`` closure (micrograd's ``_backward``,
Chainer's ``FunctionNode``).  For an op with a pair in :mod:`numcnn.functional` the closure just
calls the pair's ``*_backward`` on the pair's cache: the cache is the saved context, and no
gradient is written twice.

:func:`run_backward` orders the nodes reachable from the roots (a depth-first topological sort),
walks them once in reverse, and accumulates into ``.grad`` of the leaf tensors that require it.
Each node is freed as it is used, so a graph is walked once unless ``retain_graph=True``.
Under :class:`no_grad` nothing is recorded: the closure, and with it the op's cache, is dropped
as soon as the output exists.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "record", "run_backward"]

_state = threading.local()  # grad mode is per thread, as in PyTorch


def is_grad_enabled() -> bool:
    """Whether ops called now are recorded for a backward pass (False inside :class:`no_grad`)."""
    return getattr(_state, "enabled", True)


class _GradMode:
    _enabled: bool

    def __enter__(self):
        self._previous = is_grad_enabled()
        _state.enabled = self._enabled
        return self

    def __exit__(self, *exc):
        _state.enabled = self._previous
        return False

    def __call__(self, func):
        """Use as a decorator: ``func`` runs in this grad mode."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():
                return func(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Context manager and decorator under which no op is recorded and no backward cache is kept
    (inference, evaluation, parameter updates)::

        with numcnn.no_grad():
            logits = model(x)
    """

    _enabled = False


class enable_grad(_GradMode):
    """Context manager and decorator that turns recording back on inside :class:`no_grad`."""

    _enabled = True


class Node:
    """One application of an op: its inputs (``None`` for an absent optional input, like a bias)
    and the closure that maps the output's gradient to one gradient per input (``None`` where an
    input needs none)."""

    __slots__ = ("parents", "backward", "name")

    def __init__(self, parents, backward, name):
        self.parents = parents
        self.backward = backward
        self.name = name

    def __repr__(self):
        return f"<Node {self.name}>"


def record(data, parents, backward, name: str = "op"):
    """Wrap ``data`` (the op's output) in a Tensor and, when recording and any input requires a
    gradient, attach the node that makes it differentiable.

    Parameters
    ----------
    data : ndarray
        The output the op computed.
    parents : tuple of Tensor or None
        The op's tensor inputs, in the order ``backward`` returns their gradients.
    backward : callable
        ``backward(grad_out) -> tuple`` with one ndarray (of that input's shape) or None per parent.
    name : str
        The op's name, shown in the node's repr and in error messages.
    """
    from .tensor import Tensor

    out = Tensor(data)
    if is_grad_enabled() and any(p is not None and p.requires_grad for p in parents):
        out.requires_grad = True
        out._node = Node(tuple(parents), backward, name)
    return out


def _topological_order(roots):
    """Tensors reachable from ``roots`` through recorded nodes, each after all of its inputs."""
    order, seen = [], set()
    for root in roots:
        stack = [(root, False)]
        while stack:
            tensor, expanded = stack.pop()
            if expanded:
                order.append(tensor)
                continue
            # Marked when expanded, not when pushed: a tensor pushed earlier by one consumer and
            # reached again through another must be expanded above the second one's marker, or it
            # would be ordered before that consumer (a = x; cat([a, a * 3]) lost a * 3's gradient).
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            stack.append((tensor, True))
            node = tensor._node
            if node is None:
                continue
            for parent in node.parents:
                if parent is not None and parent.requires_grad and id(parent) not in seen:
                    stack.append((parent, False))
    return order


def run_backward(roots, grads, retain_graph: bool = False) -> None:
    """Backpropagate ``grads`` (one ndarray per root tensor) and ACCUMULATE into ``.grad`` of every
    leaf tensor that requires a gradient, as PyTorch's ``torch.autograd.backward``."""
    pending: dict[int, np.ndarray] = {}
    owned: set[int] = set()  # gradients this pass allocated, safe to add into in place

    def add(tensor, grad):
        key = id(tensor)
        if key not in pending:
            pending[key] = grad
        elif key in owned:
            pending[key] += grad
        else:
            pending[key] = pending[key] + grad
            owned.add(key)

    for root, grad in zip(roots, grads):
        if root.requires_grad:
            add(root, grad)
    for tensor in reversed(_topological_order(roots)):
        grad = pending.pop(id(tensor), None)
        if grad is None:
            continue
        node = tensor._node
        if node is None:
            tensor._accumulate(grad)
            continue
        if node.backward is None:
            raise RuntimeError(
                f"backward through the graph a second time (at {node.name}): its saved caches were "
                "freed after the first backward; pass retain_graph=True to the first call"
            )
        parent_grads = node.backward(grad)
        if not retain_graph:
            node.backward = None
        for parent, parent_grad in zip(node.parents, parent_grads):
            if parent is not None and parent_grad is not None and parent.requires_grad:
                add(parent, parent_grad)
