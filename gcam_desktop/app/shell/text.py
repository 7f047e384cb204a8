"""How the app writes numbers in labels and tables: one place for every formatter."""

from __future__ import annotations

from typing import Mapping

DASH = "\u2013"


def format_duration(seconds: float) -> str:
    """'2 h 05 min', '3 min 07 s', '42 s' (an ETA, a run's length)."""
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def format_percent(fraction) -> str:
    """An accuracy in [0, 1] as '87.5 %'; an em dash when there is none."""
    return f"{fraction * 100:.1f} %" if isinstance(fraction, (int, float)) else "\u2014"


def format_value(v: float) -> str:
    """A colour bar's end: three significant digits."""
    return f"{v:.3g}" if v != 0 else "0"


def format_interval(c: Mapping | None, scale: float = 1.0, digits: int = 3) -> str:
    """A mean with its 95 % interval, {'mean', 'lo', 'hi'} (evaluation summaries): 'm [lo, hi]'."""
    if not c or c.get("mean") is None:
        return DASH
    return f"{c['mean'] * scale:.{digits}f} [{c['lo'] * scale:.{digits}f}, {c['hi'] * scale:.{digits}f}]"
