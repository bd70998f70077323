"""Optimizers with PyTorch's exact update rules: SGD, Adam, AdamW, RMSprop.

Parameters are :class:`numcnn.nn.Parameter` objects; ``step()`` updates ``param.data`` in place
(keeping its dtype) from ``param.grad`` and skips parameters whose grad is None, as PyTorch.
Hyper-parameters live in ``param_groups`` (a list of dicts, as PyTorch, so LR schedules can
change ``group['lr']``).  ``state_dict()`` holds only NumPy arrays and plain numbers/lists, so a
checkpoint can store it as ``.npz`` + JSON without pickle: see :func:`split_state_dict`.

LR schedules are in :mod:`numcnn.lr_scheduler` (also reachable as ``numcnn.optim.lr_scheduler``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .nn.module import Parameter

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "split_state_dict", "join_state_dict"]


def _check_number(value, name, *, low=0.0, high=None, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"{name} must be a finite real number, got {value!r}")
    if value < low or (high is not None and (value >= high if high_open else value > high)):
        bound = f"[{low}, {high})" if high_open else (f"[{low}, {high}]" if high is not None else f">= {low}")
        raise ValueError(f"Invalid {name}: {value!r} (must be {bound})")
    return float(value)


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, ``state_dict``/``load_state_dict``.

    Subclasses define ``defaults`` (hyper-parameters) and ``_update(param, grad, state, group)``.
    """

    def __init__(self, params, defaults: dict):
        if isinstance(params, Parameter):
            raise TypeError("params must be an iterable of Parameters (e.g. model.parameters()), got one Parameter")
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        self.defaults = dict(defaults)
        self.param_groups: list[dict] = []
        self.state: dict = {}  # Parameter -> dict of arrays / numbers
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group of parameters with its own hyper-parameters (others from the defaults)."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a param group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Parameter) else list(params)
        for p in params:
            if not isinstance(p, Parameter):
                raise TypeError(f"optimizer can only optimize numcnn.nn.Parameter objects, got {type(p).__name__}")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params", "initial_lr"}
        if unknown:
            raise ValueError(f"unknown hyper-parameters {sorted(unknown)} for {type(self).__name__}")
        full = {**self.defaults, **group, "params": params}
        self._check_group(full)
        self.param_groups.append(full)

    def _check_group(self, group: dict) -> None:
        """Validate a group's hyper-parameters (subclasses extend)."""
        _check_number(group["lr"], "learning rate")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of all parameters (None, or zeros with ``set_to_none=False``)."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = np.zeros_like(p.data)

    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.data.shape:
                    raise ValueError(f"gradient shape {p.grad.shape} does not match parameter shape {p.data.shape}")
                grad = p.grad.astype(p.data.dtype, copy=False)
                if group.get("maximize", False):
                    grad = -grad
                self._update(p, grad, self.state.setdefault(p, {}), group)

    def _update(self, p, grad, state, group):
        raise NotImplementedError

    # --- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params': [index]}]}``
        as PyTorch, with parameters numbered in group order; arrays are copies."""
        index, groups = {}, []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed = {k: (list(v) if isinstance(v, tuple) else v) for k, v in group.items() if k != "params"}
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                if p in self.state and self.state[p]:
                    state[index[id(p)]] = {
                        k: (np.array(v, copy=True) if isinstance(v, np.ndarray) else v) for k, v in self.state[p].items()
                    }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore from :meth:`state_dict` (index keys may be strings, as after a JSON round trip)."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(groups)} parameter groups, the optimizer has {len(self.param_groups)}"
            )
        for saved, own in zip(groups, self.param_groups):
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"loaded state dict has a group of {len(saved['params'])} parameters where the optimizer "
                    f"has {len(own['params'])}"
                )
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[int(i)] = p
        new_state = {}
        for key, entries in state_dict["state"].items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"loaded optimizer state refers to unknown parameter index {key!r}")
            restored = {}
            for k, v in entries.items():
                if isinstance(v, np.ndarray) and v.ndim > 0:
                    if v.shape != p.data.shape:
                        raise ValueError(f"optimizer state {k!r} of parameter {key} has shape {v.shape}, expected {p.data.shape}")
                    restored[k] = v.astype(p.data.dtype, copy=True)
                elif isinstance(v, np.ndarray):
                    restored[k] = v.item()
                else:
                    restored[k] = v
            new_state[p] = restored
        self.state = new_state
        for saved, own in zip(groups, self.param_groups):
            for k, v in saved.items():
                if k != "params":
                    own[k] = tuple(v) if k == "betas" else v

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, as ``torch.optim.SGD``::

        g = grad + weight_decay * p
        buf = g (first step) else momentum * buf + (1 - dampening) * g
        g = g + momentum * buf (nesterov) else buf          (when momentum != 0)
        p -= lr * g
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *, maximize=False):
        super().__init__(
            params,
            dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay, nesterov=bool(nesterov), maximize=bool(maximize)),
        )

    def _check_group(self, group):
        super()._check_group(group)
        _check_number(group["momentum"], "momentum value")
        _check_number(group["weight_decay"], "weight_decay value")
        _check_number(group["dampening"], "dampening value")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update(self, p, grad, state, group):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd != 0:
            grad = grad + wd * p.data
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = np.array(grad, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            state["momentum_buffer"] = buf
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= lr * grad


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to the gradient; ``amsgrad``)::

        m = beta1 * m + (1 - beta1) * g;   v = beta2 * v + (1 - beta2) * g^2
        v_max = max(v_max, v) (amsgrad)
        p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, *, maximize=False):
        super().__init__(
            params,
            dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=bool(amsgrad), maximize=bool(maximize)),
        )

    def _check_group(self, group):
        super()._check_group(group)
        _check_number(group["eps"], "epsilon value")
        _check_number(group["weight_decay"], "weight_decay value")
        betas = tuple(group["betas"])
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {group['betas']!r}")
        _check_number(betas[0], "beta parameter at index 0", high=1.0, high_open=True)
        _check_number(betas[1], "beta parameter at index 1", high=1.0, high_open=True)
        group["betas"] = betas

    def _update(self, p, grad, state, group):
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if self._decoupled:
                p.data *= 1 - lr * wd
            else:
                grad = grad + wd * p.data
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg += (1 - beta1) * (grad - exp_avg)  # lerp, as torch
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        step_size = lr / (1 - beta1**step)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        if group["amsgrad"]:
            if "max_exp_avg_sq" not in state:
                state["max_exp_avg_sq"] = np.zeros_like(p.data)
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            denom = np.sqrt(state["max_exp_avg_sq"]) / bias_correction2_sqrt + eps
        else:
            denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
        p.data -= step_size * (exp_avg / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay, as ``torch.optim.AdamW``: ``p *= 1 - lr * weight_decay``
    before the Adam step (the decay never enters the moments).  Default ``weight_decay=1e-2``."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``::

        g = grad + weight_decay * p
        s = alpha * s + (1 - alpha) * g^2
        avg = sqrt(s - a^2) with a = alpha * a + (1 - alpha) * g (centered) else sqrt(s);  avg += eps
        buf = momentum * buf + g / avg; p -= lr * buf   (momentum > 0)   else   p -= lr * g / avg
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False, *, maximize=False):
        super().__init__(
            params,
            dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum, centered=bool(centered), maximize=bool(maximize)),
        )

    def _check_group(self, group):
        super()._check_group(group)
        _check_number(group["eps"], "epsilon value")
        _check_number(group["momentum"], "momentum value")
        _check_number(group["weight_decay"], "weight_decay value")
        _check_number(group["alpha"], "alpha value")

    def _update(self, p, grad, state, group):
        lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
        momentum, wd = group["momentum"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p.data)
            if momentum > 0:
                state["momentum_buffer"] = np.zeros_like(p.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.data)
        state["step"] += 1
        if wd != 0:
            grad = grad + wd * p.data
        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            grad_avg = state.setdefault("grad_avg", np.zeros_like(p.data))
            grad_avg += (1 - alpha) * (grad - grad_avg)
            avg = np.sqrt(square_avg - grad_avg * grad_avg)
        else:
            avg = np.sqrt(square_avg)
        avg += eps
        if momentum > 0:
            buf = state.setdefault("momentum_buffer", np.zeros_like(p.data))
            buf *= momentum
            buf += grad / avg
            p.data -= lr * buf
        else:
            p.data -= lr * (grad / avg)


def split_state_dict(state_dict: dict, prefix: str = "") -> tuple[dict, dict]:
    """Split a (nested) state dict into ``(arrays, meta)``: ``arrays`` maps dotted names to
    NumPy arrays (for ``np.savez``), ``meta`` is the rest, JSON-serialisable, with each array
    replaced by ``{"__array__": name}``.  :func:`join_state_dict` inverts it.  Works for optimizer
    and scheduler state dicts."""
    arrays: dict = {}

    def walk(value, path):
        if isinstance(value, np.ndarray):
            name = prefix + ".".join(path)
            arrays[name] = value
            return {"__array__": name}
        if isinstance(value, dict):
            return {str(k): walk(v, path + [str(k)]) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [walk(v, path + [str(i)]) for i, v in enumerate(value)]
        if isinstance(value, np.generic):
            return value.item()
        return value

    return arrays, walk(state_dict, [])


def join_state_dict(arrays, meta):
    """Inverse of :func:`split_state_dict` (``arrays`` may be an open ``np.load`` archive)."""
    if isinstance(meta, dict):
        if set(meta) == {"__array__"}:
            return np.array(arrays[meta["__array__"]], copy=True)
        return {k: join_state_dict(arrays, v) for k, v in meta.items()}
    if isinstance(meta, list):
        return [join_state_dict(arrays, v) for v in meta]
    return meta


from . import lr_scheduler  # noqa: E402,F401  (numcnn.optim.lr_scheduler, as torch.optim.lr_scheduler)
