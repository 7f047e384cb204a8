"""The explanation engine: CAM and gradient methods, colour maps and overlays. Qt-free.

The method names are plain constants, and the engine (which imports torch, seconds at start-up)
loads on first use of `explain` / `Explanation`, so `gcam_desktop.explain.overlay` and these
names stay cheap to import.
"""

from __future__ import annotations

from gcam_desktop.lazy import lazy_attributes

from .names import (
    CAM_METHODS, GRADIENT_METHODS, LAYER_METHODS, METHOD_LABELS, METHODS, method_label,
)

__all__ = [
    "CAM_METHODS", "GRADIENT_METHODS", "LAYER_METHODS", "METHOD_LABELS", "METHODS", "Explanation",
    "explain", "method_label",
]

__getattr__ = lazy_attributes(__name__, globals(), {"explain": "engine", "Explanation": "engine"})
