"""`--option NAME=VALUE` (gcam-explain, one method) and `--option METHOD:NAME=VALUE` (gcam-evaluate,
several): a method's explain() options from the command line, checked against what it takes."""

from __future__ import annotations

import ast
from typing import Any, Sequence


def parse_option(item: str, method: str, options: dict[str, Any]) -> None:
    """NAME=VALUE into `options`; ValueError with the method's options when NAME is not one."""
    from gcam_desktop.explain.engine import method_options

    valid = method_options(method)
    name, sep, value = item.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or not name:
        raise ValueError(f"--option {item!r}: expected NAME=VALUE")
    if name not in valid:
        takes = ", ".join(f"{k} (default {v!r})" for k, v in valid.items()) or "none"
        raise ValueError(f"--option {name}: {method} has no such option; its options: {takes}")
    try:
        options[name] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        options[name] = value  # a bare word, e.g. baseline=zeros


def parse_method_options(items: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """METHOD:NAME=VALUE items into {method: {name: value}}, each method one of `methods`."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        method, sep, rest = item.partition(":")
        method = method.strip()
        if not sep or "=" in method:
            raise ValueError(f"--option {item!r}: expected METHOD:NAME=VALUE, e.g. rise:masks=100")
        if method not in methods:
            raise ValueError(f"--option {item!r}: {method} is not among --methods ({', '.join(methods)})")
        parse_option(rest, method, out.setdefault(method, {}))
    return out
