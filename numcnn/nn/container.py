"""``ModuleList`` and ``ModuleDict``: children held in a list or a dict, registered so that their
parameters, state-dict keys (``'blocks.0.weight'``) and train/eval mode follow, as in PyTorch.
They have no ``forward``: the owning module's ``forward`` decides how the children are called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .module import Module

__all__ = ["ModuleList", "ModuleDict"]


def _checked(module, where: str) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"{where} takes Modules, got {type(module).__name__}")
    return module


class ModuleList(Module):
    """A list of modules (``torch.nn.ModuleList``): ``append``, ``extend``, ``insert``, indexing
    (slices give a ModuleList), ``len``, iteration, ``del``."""

    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module
        for name in [n for n in self.__dict__ if n.isdigit()]:
            del self.__dict__[name]  # attributes '0', '1', ... are not used: _modules is the list

    def _index(self, index: int) -> int:
        n = len(self._modules)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for a ModuleList of {n} modules")
        return index % n

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        self._modules[str(self._index(index))] = _checked(module, "ModuleList")

    def __delitem__(self, index) -> None:
        modules = list(self._modules.values())
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module: Module) -> "ModuleList":
        self._modules[str(len(self._modules))] = _checked(module, "ModuleList.append")
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def insert(self, index: int, module: Module) -> None:
        modules = list(self._modules.values())
        modules.insert(index, _checked(module, "ModuleList.insert"))
        self._renumber(modules)

    def forward(self, *inputs):
        raise NotImplementedError("ModuleList has no forward(); call its modules from your own forward()")


class ModuleDict(Module):
    """Modules by name (``torch.nn.ModuleDict``): ``[key]``, ``keys``, ``values``, ``items``,
    ``update``, ``pop``, ``in``, ``len``, iteration over keys; insertion order is kept."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict keys must be strings, got {type(key).__name__}")
        setattr(self, key, _checked(module, "ModuleDict"))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]
        self.__dict__.pop(key, None)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules))

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        module = self._modules[key]
        del self[key]
        return module

    def update(self, modules) -> None:
        pairs = modules.items() if isinstance(modules, Mapping) else modules
        for key, module in pairs:
            self[key] = module

    def forward(self, *inputs):
        raise NotImplementedError("ModuleDict has no forward(); call its modules from your own forward()")
