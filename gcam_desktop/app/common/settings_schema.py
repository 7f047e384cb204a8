"""What each remembered setting may hold, read off the dataclass that owns the value: its
type from the field's annotation, its range from the field's `valid` metadata (or a check the
caller gives). A value that fails is replaced by its default and named, so one damaged field
costs that field only. Plain Python, no Qt, no torch."""

from __future__ import annotations

import copy
import math
import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, Union

Check = Callable[[Any], bool]


@dataclass(frozen=True)
class Spec:
    name: str
    default: Any
    check: Check


def type_check(hint) -> Check:
    """A predicate for JSON values of the annotated type (bool is no number; floats finite)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        parts = [type_check(a) for a in args]
        return lambda v: any(p(v) for p in parts)
    if origin is list:
        item = type_check(args[0]) if args else (lambda v: True)
        return lambda v: isinstance(v, list) and all(item(x) for x in v)
    if origin is dict:
        key, value = (type_check(a) for a in args) if args else (lambda v: True, lambda v: True)
        return lambda v: isinstance(v, dict) and all(key(k) and value(x) for k, x in v.items())
    simple = {
        type(None): lambda v: v is None,
        bool: lambda v: isinstance(v, bool),
        int: lambda v: isinstance(v, int) and not isinstance(v, bool),
        float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v),
        str: lambda v: isinstance(v, str),
    }
    if hint in simple:
        return simple[hint]
    raise TypeError(f"settings: no check for values of type {hint!r}")


def _default(f) -> Any:
    if f.default is not MISSING:
        return f.default
    return f.default_factory() if f.default_factory is not MISSING else None


def specs_of(cls, only: tuple[str, ...] | None = None, defaults: dict | None = None,
             valid: dict[str, Check] | None = None) -> list[Spec]:
    """One Spec per field of dataclass `cls` (or the fields named in `only`, in that order):
    default from the dataclass unless `defaults` names another, check = type and range."""
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in fields(cls)}
    out = []
    for name in only or tuple(by_name):
        f = by_name[name]
        typed = type_check(hints[name])
        ranged = (valid or {}).get(name) or f.metadata.get("valid")
        check = typed if ranged is None else (lambda v, t=typed, r=ranged: t(v) and bool(r(v)))
        out.append(Spec(name, (defaults or {}).get(name, _default(f)), check))
    return out


def defaults_of(specs: list[Spec]) -> dict[str, Any]:
    return {s.name: copy.deepcopy(s.default) for s in specs}


def clean(specs: list[Spec], given: Any, where: str) -> tuple[dict[str, Any], list[str]]:
    """`given`'s valid values over the defaults, and the names ("where.field") of those
    dropped. Keys no spec names are kept as they are (a newer version's settings)."""
    if not isinstance(given, dict):
        return defaults_of(specs), [where or "settings"]
    out = dict(given)
    dropped = []
    for s in specs:
        if s.name not in given:
            out[s.name] = copy.deepcopy(s.default)
            continue
        try:
            ok = s.check(given[s.name])
        except (TypeError, ValueError):  # a range check on a value of another type
            ok = False
        if not ok:
            out[s.name] = copy.deepcopy(s.default)
            dropped.append(f"{where}.{s.name}" if where else s.name)
    return out, dropped
