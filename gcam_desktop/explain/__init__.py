"""The explanation engine: CAM and gradient methods, colour maps and overlays. Qt-free.

The method names are plain constants, and the engine (which imports torch, seconds at start-up)
loads on first use of `explain` / `Explanation`, so `gcam_desktop.explain.overlay` and these
names stay cheap to import.
"""

from __future__ import annotations

CAM_METHODS: tuple[str, ...] = (
    "gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam", "eigencam", "cam",
)
GRADIENT_METHODS: tuple[str, ...] = (
    "saliency", "guided_backprop", "guided_gradcam", "smoothgrad", "integrated_gradients",
)
METHODS: tuple[str, ...] = CAM_METHODS + GRADIENT_METHODS
# Methods whose map lives at a layer of the model (the others live at the input's resolution).
LAYER_METHODS: tuple[str, ...] = CAM_METHODS + ("guided_gradcam",)

__all__ = ["CAM_METHODS", "GRADIENT_METHODS", "LAYER_METHODS", "METHODS", "Explanation", "explain"]


def __getattr__(name: str):
    if name in ("explain", "Explanation"):
        from . import engine

        value = globals()[name] = getattr(engine, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
