"""Package attributes imported on first use: the packages whose modules import torch
(models, explain, similarity, training) keep `import <package>` cheap for the window's start-up
and the command lines. Qt-free, torch-free."""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Mapping


def lazy_attributes(package: str, namespace: dict, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: `name` comes from its submodule `where[name]`
    on first use, and is kept in `namespace` (the package's globals) from then on."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = namespace[name] = getattr(import_module(f".{where[name]}", package), name)
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
