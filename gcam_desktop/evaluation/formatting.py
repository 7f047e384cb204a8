"""Numbers as the report shows them. A value that is missing (None) or not finite (NaN from a
model whose output was not finite, or no image to average) is never formatted as a number:
it is shown as an en dash, with the reason where the caller knows it."""

from __future__ import annotations

import math
from typing import Mapping

DASH = "\u2013"


def missing(why: str | None = None) -> str:
    return f"{DASH} ({why})" if why else DASH


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def number(x, spec: str = ".3f", scale: float = 1.0, why: str | None = None) -> str:
    """`x * scale` in the format `spec`, or the dash (with `why`) when x is None or not finite."""
    return format(x * scale, spec) if _finite(x) else missing(why)


def format_interval(c: Mapping | None, scale: float = 1.0, digits: int = 3, why: str | None = None) -> str:
    """A bootstrap_ci result as "mean [lo, hi]" (values times `scale`), or the dash when empty."""
    if not c or not all(_finite(c.get(k)) for k in ("mean", "lo", "hi")):
        return missing(why)
    return f"{c['mean'] * scale:.{digits}f} [{c['lo'] * scale:.{digits}f}, {c['hi'] * scale:.{digits}f}]"


def difference(d: Mapping | None, scale: float = 1.0, spec: str = "+.3f", unit: str = "",
               why: str | None = None) -> str:
    """A paired difference (a bootstrap_ci) as "+0.123 (95 % CI +0.050 to +0.200)", or the dash."""
    if not d or not all(_finite(d.get(k)) for k in ("mean", "lo", "hi")):
        return missing(why)
    return (f"{d['mean'] * scale:{spec}}{unit} (95 % CI {d['lo'] * scale:{spec}} to "
            f"{d['hi'] * scale:{spec}})")
