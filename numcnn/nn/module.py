"""Module, Parameter and Sequential: the thin stateful layer over :mod:`numcnn.nn.functional`.

A module's ``forward`` works on Tensors, as in PyTorch; calling it records the ops on the tape, and
``loss.backward()`` ACCUMULATES into every parameter's ``.grad``.  Called on ndarrays, a module
also keeps the explicit API: ``out = model(x)`` returns ndarrays and ``model.backward(dout)``
runs the reverse pass from that call and returns the input's gradient (see :meth:`Module.__call__`).
A legacy module that defines its own ``forward`` on ndarrays and ``backward(dout)`` keeps working,
on the tape too (:func:`_call_legacy`).  Names and state-dict keys follow PyTorch (``'0.weight'``,
``'1.running_mean'``), so a state dict exported from the equivalent ``torch.nn`` model loads as is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from ..autograd import Tensor, is_grad_enabled, record, run_backward

__all__ = ["Parameter", "Module", "Sequential"]


class Parameter(Tensor):
    """A trainable tensor: ``.data`` (the values) and ``.grad`` (same shape and dtype, or None).

    A leaf that always requires a gradient; ``backward()`` and the explicit ``Module.backward``
    both accumulate into ``.grad``.
    """

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(np.asarray(data), requires_grad=requires_grad)

    def accumulate(self, grad: np.ndarray) -> None:
        """Add ``grad`` into ``.grad`` (allocating it on first use)."""
        self._accumulate(grad)

    def __repr__(self):
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class.  Subclasses set ``Parameter`` attributes, buffers via ``register_buffer`` and
    child modules as attributes, and implement ``forward(x)`` and ``backward(dout)``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_explicit", None)  # (inputs, outputs) of the last ndarray call

    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError("call Module.__init__() before assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)):
            # reassigning a buffer (BatchNorm's new running statistics) keeps it a buffer
            object.__setattr__(self, name, value)
            return
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, value: np.ndarray | None) -> None:
        """A non-trainable state array (e.g. BatchNorm's running mean) saved in the state dict."""
        object.__setattr__(self, name, value)
        self._buffers[name] = True

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        """Register ``value`` (None for an absent parameter, like ``bias=False``)."""
        object.__setattr__(self, name, value)
        if value is not None:
            self._parameters[name] = value

    # --- running --------------------------------------------------------------------------
    # A subclass that overrides ``backward`` is a legacy module (see _call_legacy), unless it says
    # its ``backward`` is a form of the explicit API's, as CrossEntropyLoss's is.
    _explicit_backward = False

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *inputs, **kwargs):
        """Run ``forward``.  With a Tensor among the inputs, on the tape, returning Tensors.

        With ndarrays only (the explicit API): floating arrays are wrapped as leaf Tensors that
        require a gradient (none under ``no_grad``), ``forward`` runs on the tape, the call's
        inputs and outputs are kept for :meth:`backward`, and ndarrays come back (a tuple for
        several outputs).
        """
        if type(self).backward is not Module.backward and not self._explicit_backward:
            return _call_legacy(self, inputs, kwargs)
        if any(isinstance(a, Tensor) for a in inputs) or any(isinstance(a, Tensor) for a in kwargs.values()):
            return self.forward(*inputs, **kwargs)
        object.__setattr__(self, "_explicit", None)  # free the last call's graph before building one
        recording = is_grad_enabled()
        wrapped = tuple(
            _InputLeaf(a, recording and np.issubdtype(a.dtype, np.floating)) if isinstance(a, np.ndarray) else a
            for a in inputs
        )
        outputs = self.forward(*wrapped, **kwargs)
        if recording:
            object.__setattr__(self, "_explicit", (wrapped, outputs))
        if isinstance(outputs, tuple):
            return tuple(_array(o) for o in outputs)
        return _array(outputs)

    def backward(self, dout, input_grad=True):
        """The explicit API: backpropagate ``dout`` from the outputs of the last ndarray call,
        ACCUMULATE into the parameters' ``.grad``, and return the input's gradient: one array, or a
        tuple with one per floating ndarray input when there are several (integer inputs, such
        as labels or unpooling indices, take none).

        ``dout`` is one array, or a tuple with one per output (None for an output to skip); one
        array for several outputs goes to the first.  ``input_grad=False`` says the caller has no
        use for the input's gradient (the images going into a network): convolutions then skip
        computing it, and None is returned.  The graph is kept, so ``backward`` may be called
        again (gradients accumulate) until the next forward.
        """
        kept = self._explicit
        if kept is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        inputs, outputs = kept
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        douts = tuple(dout) if isinstance(dout, (tuple, list)) else (dout,)
        leaves = [a for a in inputs if isinstance(a, Tensor)]
        for leaf in leaves:
            leaf.grad = None
            leaf.requires_grad = bool(input_grad) and np.issubdtype(leaf.dtype, np.floating)
        roots, grads = [], []
        for out, g in zip(outputs, douts):
            if g is None or not isinstance(out, Tensor):
                continue
            g = np.asarray(g)
            if g.shape != out.shape:
                raise ValueError(f"{type(self).__name__}.backward: dout has shape {g.shape}, the output has shape {out.shape}")
            roots.append(out)
            grads.append(g)
        run_backward(roots, grads, retain_graph=True)
        if not input_grad:
            return None
        dxs = tuple(
            a.grad if a.grad is not None else np.zeros_like(a.data)
            for a in inputs
            if isinstance(a, _InputLeaf) and a.requires_grad
        )
        return dxs[0] if len(dxs) == 1 else dxs

    def train(self, mode: bool = True) -> "Module":
        object.__setattr__(self, "training", bool(mode))
        for child in self._modules.values():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    # --- parameters and state ---------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from self._modules.items()

    def children(self) -> Iterator["Module"]:
        yield from self._modules.values()

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        for name, module in self.named_modules(prefix):
            for pname, param in module._parameters.items():
                yield (f"{name}.{pname}" if name else pname), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        for name, module in self.named_modules(prefix):
            for bname in module._buffers:
                value = getattr(module, bname)
                if value is not None:
                    yield (f"{name}.{bname}" if name else bname), value

    def num_parameters(self, trainable_only: bool = True) -> int:
        """Total number of scalar parameters (plus buffers' elements if ``trainable_only`` is False)."""
        total = sum(p.data.size for p in self.parameters())
        if not trainable_only:
            total += sum(np.size(b) for _, b in self.named_buffers())
        return int(total)

    def to(self, dtype) -> "Module":
        """Cast every parameter and floating buffer to ``dtype`` in place (like ``model.double()``);
        gradients are dropped.  Returns ``self``."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"dtype must be a floating dtype, got {dtype}")
        for module in self.modules():
            for param in module._parameters.values():
                param.data = param.data.astype(dtype)
                param.grad = None
            for bname in module._buffers:
                value = getattr(module, bname)
                if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.floating):
                    object.__setattr__(module, bname, value.astype(dtype))
        return self

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    def _check_input_dtype(self, x, reference) -> None:
        """A module casts nothing silently: ``x`` must have its parameters' (``reference``'s) dtype."""
        if isinstance(x, Tensor):
            x = x.data
        if isinstance(x, np.ndarray) and reference is not None and x.dtype != reference.dtype:
            raise TypeError(
                f"{type(self).__name__}: input dtype {x.dtype} does not match the parameters' dtype "
                f"{reference.dtype}; cast the input (x.astype(np.{reference.dtype})) or convert the "
                f"model (model.to(np.{x.dtype}))"
            )

    def zero_grad(self) -> None:
        for param in self.parameters():
            param.grad = None

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        """Parameters and buffers by PyTorch's key names, as copies."""
        state = OrderedDict()
        for name, module in self.named_modules():
            prefix = f"{name}." if name else ""
            for pname, param in module._parameters.items():
                state[prefix + pname] = param.data.copy()
            for bname in module._buffers:
                value = getattr(module, bname)
                if value is not None:
                    state[prefix + bname] = np.array(value, copy=True)
        return state

    # Keys that may be absent from, or present in, either side without counting as missing or
    # unexpected: BatchNorm's counter, which older PyTorch checkpoints lack and only momentum=None
    # uses.
    _OPTIONAL_KEYS = ("num_batches_tracked",)

    def load_state_dict(self, state, strict: bool = True) -> None:
        """Load arrays by key; shapes must match.  Parameters take the loaded arrays' dtype.

        ``strict``: every key must match (missing and unexpected keys are named in a KeyError).
        ``num_batches_tracked`` is optional on both sides.
        """
        own = self.state_dict()
        optional = lambda k: k.rsplit(".", 1)[-1] in self._OPTIONAL_KEYS  # noqa: E731
        given = {k: v for k, v in state.items() if k in own or not optional(k)}
        missing = [k for k in own if k not in given and not optional(k)]
        unexpected = [k for k in given if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        mismatched = [
            f"{k}: expected {own[k].shape}, got {np.shape(given[k])}"
            for k in own
            if k in given and tuple(np.shape(given[k])) != own[k].shape
        ]
        if mismatched:
            raise ValueError("load_state_dict: shape mismatch for " + "; ".join(mismatched))
        not_float = [
            f"{k} ({np.asarray(given[k]).dtype})"
            for k in own
            if k in given and np.issubdtype(own[k].dtype, np.floating)
            and not np.issubdtype(np.asarray(given[k]).dtype, np.floating)
        ]
        if not_float:
            raise TypeError("load_state_dict: floating arrays expected for " + ", ".join(not_float))
        for name, module in self.named_modules():
            prefix = f"{name}." if name else ""
            for pname, param in module._parameters.items():
                if prefix + pname in given:
                    param.data = np.array(given[prefix + pname], copy=True)
                    param.grad = None
            for bname in module._buffers:
                if prefix + bname in given:
                    object.__setattr__(module, bname, np.array(given[prefix + bname], copy=True))

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        for name, child in self._modules.items():
            child_repr = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child_repr}")
        return lines[0] + (")" if len(lines) == 1 else "\n" + "\n".join(lines[1:]) + "\n)")


class Sequential(Module):
    """Modules applied in the order given; indexable (``model[3]``, slices keep the names),
    iterable, ``len()``-able, as ``torch.nn.Sequential``."""

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, argument {i} is {type(module).__name__}")
            setattr(self, str(i), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            # The same slice gives the same Sequential while the modules are unchanged, so that
            # ``model[:3](x)`` then ``model[:3].backward(dout)`` finds the graph that call kept.
            items = list(self._modules.items())[index]
            key = (index.start, index.stop, index.step, tuple(id(m) for _, m in items))
            slices = self.__dict__.setdefault("_slices", {})
            if key not in slices:
                part = Sequential()
                for name, module in items:
                    setattr(part, name, module)  # keeps the names, as PyTorch: model[2:4] has '2.weight'
                slices.clear()  # only the latest slice is kept: a model is not sliced in many ways at once
                slices[key] = part
            return slices[key]
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x


class _InputLeaf(Tensor):
    """An ndarray given to a module call, wrapped for the tape.  Its gradient is taken as the pass
    delivers it, not copied (the explicit API returns it; an identity layer's is ``dout`` itself,
    as before the tape), and a second contribution makes a new array rather than adding in place."""

    def _accumulate(self, grad):
        self.grad = grad if self.grad is None else self.grad + grad


def _array(value):
    """An output of an ndarray call, as the explicit API returns it: a Tensor's array."""
    return value.data if isinstance(value, Tensor) else value


def _call_legacy(module: Module, inputs, kwargs):
    """Call a module that defines its own ``forward`` on ndarrays and ``backward(dout)``.

    On ndarrays it runs as it always did (its own caches, its own backward).  With Tensors, its
    forward runs on their arrays and one node is recorded whose backward is the module's own
    ``backward``, which accumulates into its parameters and returns the input's gradient (a tuple
    for several inputs), so it works inside a model driven by the tape.
    """
    if not any(isinstance(a, Tensor) for a in inputs):
        return module.forward(*inputs, **kwargs)
    out = module.forward(*(a.data if isinstance(a, Tensor) else a for a in inputs), **kwargs)
    if not isinstance(out, np.ndarray):
        raise TypeError(
            f"{type(module).__name__} defines its own backward, so its forward must return one ndarray, "
            f"got {type(out).__name__}"
        )

    def backward(grad):
        dx = module.backward(grad)
        return dx if isinstance(dx, tuple) else (dx,)

    parents = tuple(a if isinstance(a, Tensor) else None for a in inputs)
    return record(out, parents, backward, type(module).__name__)
