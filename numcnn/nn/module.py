"""Module, Parameter and Sequential: the thin stateful layer over ``numcnn.functional``.

A module's ``forward`` calls an op's ``*_forward`` and keeps its cache; ``backward`` calls the
matching ``*_backward``, ACCUMULATES parameter gradients into ``Parameter.grad`` and returns dx.
Names and state-dict keys follow PyTorch (``'0.weight'``, ``'1.running_mean'``), so a state dict
exported from the equivalent ``torch.nn`` model loads as is.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Iterator

import numpy as np

from ..autograd import Tensor

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
    def forward(self, x):
        raise NotImplementedError

    def backward(self, dout, input_grad=True):
        """Accumulate parameter gradients from ``dout`` and return the input's gradient.

        ``input_grad=False`` says the caller has no use for the input's gradient (the data going
        into a network, as a tensor that does not require grad in PyTorch): a module may then skip
        computing it and return None.  Convolutions do; cheap modules compute it anyway.
        """
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

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
        if isinstance(x, np.ndarray) and reference is not None and x.dtype != reference.dtype:
            raise TypeError(
                f"{type(self).__name__}: input dtype {x.dtype} does not match the parameters' dtype "
                f"{reference.dtype}; cast the input (x.astype(np.{reference.dtype})) or convert the "
                f"model (model.to(np.{x.dtype}))"
            )

    def _cached(self, cache):
        """The forward cache a backward pass needs, or a clear error if forward has not run."""
        if cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward() called before forward()")
        return cache

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
    """Modules applied in order; indexable (``model[3]``), iterable, ``len()``-able.

    One reordering, invisible in the results: a ``MaxPool*d`` right after a ``ReLU`` runs first
    (the same output, up to the sign of a zero, and the same gradients; see
    :func:`_pool_before_relu`), so the ReLU works on the pooled, smaller tensor.  Run through the
    Sequential (``model(x)``, ``model.backward(dout)``, or slices of it), this is transparent;
    calling the layers' own ``backward`` one by one after ``model(x)`` is not supported there.
    """

    def __init__(self, *modules: Module):
        super().__init__()
        for i, module in enumerate(modules):
            if not isinstance(module, Module):
                raise TypeError(f"Sequential takes Modules, argument {i} is {type(module).__name__}")
            setattr(self, str(i), module)

    def __getitem__(self, index):
        if isinstance(index, slice):
            part = Sequential()
            for name, module in list(self._modules.items())[index]:
                setattr(part, name, module)  # keeps the names, as PyTorch: model[2:4] has '2.weight'
            return part
        return list(self._modules.values())[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def forward(self, x):
        modules = list(self._modules.values())
        for i in _run_order(modules):
            x = modules[i](x)
        return x

    def backward(self, dout, input_grad=True):
        modules = list(self._modules.values())
        if not modules:
            return dout
        order = _run_order(modules)  # the modules alone decide it, so a slice model[:k] agrees
        for i in reversed(order[1:]):
            dout = modules[i].backward(dout)
        # only the first layer run is told, so a custom module with backward(self, dout) keeps
        # working anywhere else in the model
        first = modules[order[0]]
        return first.backward(dout) if input_grad else first.backward(dout, input_grad=False)


def _run_order(modules) -> list[int]:
    """Indices of ``modules`` in the order Sequential runs them: as given, except that a max pool
    right after a ReLU runs first (see :func:`_pool_before_relu`)."""
    order = []
    i = 0
    while i < len(modules):
        if i + 1 < len(modules) and _pool_before_relu(modules[i], modules[i + 1]):
            order += [i + 1, i]
            i += 2
        else:
            order.append(i)
            i += 1
    return order


def _pool_before_relu(first: Module, second: Module) -> bool:
    """Whether ``second`` (a max pool) may run before ``first`` (a ReLU).

    max-pool(relu(x)) == relu(max-pool(x)), and so is the input gradient: max commutes with the
    monotone ReLU, the first maximum of a window is the same either way among positive values,
    and where ReLU creates new ties (at 0) its gradient is 0 whichever position the pool picks.
    Only the sign of an output zero may differ.  Run pool-first, the ReLU touches a quarter of
    the elements behind a 2x2 pool (LeNet: 0.3 ms of a 5 ms training step).
    """
    return getattr(first, "_commutes_with_max_pool", False) and getattr(second, "_is_plain_max_pool", False)
