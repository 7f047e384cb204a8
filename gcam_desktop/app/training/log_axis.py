"""A log axis whose tick labels never overlap. pyqtgraph's own log axis labels every 1..9 of
each decade once the range spans less than a few decades ("0.9 0.8 0.7" on top of each other
on a short loss plot); this one labels decades, then 2 and 5, then more of them, as far as the
axis' length leaves a label's height between labels, and marks the rest without text."""

from __future__ import annotations

import math

from PySide6.QtGui import QFontMetricsF

from gcam_desktop.app.common.pg_setup import pg

# Which mantissas of each decade get a label, densest first.
MANTISSAS = ((1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,))
GAP = 1.4  # room between labelled ticks, in label heights


def _min_gap(ms: tuple[int, ...]) -> float:
    """The smallest distance in decades between neighbouring labels of mantissas `ms`."""
    return min(math.log10(b / a) for a, b in zip(ms, (*ms[1:], 10 * ms[0])))


def _in_range(lo: float, hi: float, ms: tuple[int, ...]) -> list[float]:
    return [d + math.log10(m) for d in range(math.floor(lo), math.ceil(hi) + 1) for m in ms
            if lo <= d + math.log10(m) <= hi]


def labelled_ticks(lo: float, hi: float, pixels: float, need: float) -> list[float]:
    """log10 of the values to label on an axis from 10**lo to 10**hi `pixels` long, at least
    `need` pixels apart."""
    per_decade = pixels / (hi - lo)
    for ms in MANTISSAS:
        if _min_gap(ms) * per_decade >= need:
            values = _in_range(lo, hi, ms)
            return values if len(values) >= 2 else _linear(lo, hi, per_decade, need)
    every = math.ceil(need / per_decade)  # decades themselves too close: every n-th decade
    return [float(d) for d in range(math.ceil(lo), math.floor(hi) + 1) if d % every == 0]


def _linear(lo: float, hi: float, per_decade: float, need: float) -> list[float]:
    """Within less than a decade's 1..9 (0.62 to 0.78, say): evenly spaced round values, the
    step the smallest 1-2-5 step whose closest pair (the top two) is `need` apart."""
    top, bottom = 10 ** hi, 10 ** lo
    exp = math.floor(math.log10(top - bottom)) - 2
    for step in (m * 10 ** e for e in range(exp, exp + 4) for m in (1, 2, 5)):
        values = [k * step for k in range(math.ceil(bottom / step), math.floor(top / step) + 1)]
        if len(values) < 2:
            break
        if math.log10(values[-1] / values[-2]) * per_decade >= need:
            return [math.log10(v) for v in values]
    return []


class LogAxis(pg.AxisItem):
    """Labelled ticks as far apart as a label is high; the other 1..9 ticks unlabelled."""

    def __init__(self, orientation: str = "left", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self.setStyle(maxTextLevel=0)  # only the first level carries text

    def label_height(self) -> float:
        return QFontMetricsF(self.style["tickFont"] or self.font()).height()

    def logTickValues(self, minVal, maxVal, size, stdTicks):
        lo, hi = sorted((minVal, maxVal))
        if not (hi > lo and size > 0 and math.isfinite(lo) and math.isfinite(hi)):
            return super().logTickValues(minVal, maxVal, size, stdTicks)
        labelled = labelled_ticks(lo, hi, size, GAP * self.label_height())
        per_decade = size / (hi - lo)
        minor = [v for v in _in_range(lo, hi, MANTISSAS[0])
                 if all(abs(v - w) * per_decade >= 2 for w in labelled)] if per_decade >= 20 else []
        return [(None, labelled), (None, minor)]

    def logTickStrings(self, values, scale, spacing):
        """0.05, 0.3, 2, 10 as written; far from 1, pyqtgraph's 10⁻⁵ form."""
        out = []
        for v in values:
            text = f"{10 ** v * scale:.3g}"
            out.append(super().logTickStrings([v], scale, spacing)[0] if "e" in text else text)
        return out
