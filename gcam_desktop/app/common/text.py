"""How the app writes numbers in labels: one place for its formatters (a bootstrap interval is
written by gcam_desktop.evaluation.format_interval, shared with gcam-evaluate's report)."""

from __future__ import annotations


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

