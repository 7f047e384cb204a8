"""The explanation methods' names and labels, torch-free (the app fills its menus before the
engine loads). The engine implements exactly these; a test checks that."""

from __future__ import annotations

METHOD_LABELS: dict[str, str] = {
    "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "xgradcam": "XGrad-CAM",
    "hirescam": "HiRes-CAM", "layercam": "LayerCAM", "scorecam": "Score-CAM",
    "eigencam": "Eigen-CAM", "cam": "CAM",
    "saliency": "Saliency", "guided_backprop": "Guided backprop",
    "guided_gradcam": "Guided Grad-CAM", "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated Gradients",
    "lrp": "LRP",
    "deeplift": "DeepLIFT", "occlusion": "Occlusion", "rise": "RISE",
}
CAM_METHODS: tuple[str, ...] = (
    "gradcam", "gradcam++", "xgradcam", "hirescam", "layercam", "scorecam", "eigencam", "cam",
)
GRADIENT_METHODS: tuple[str, ...] = (
    "saliency", "guided_backprop", "guided_gradcam", "smoothgrad", "integrated_gradients",
)
# The survey's two further families (issue 21); each name is added with its implementation.
PROPAGATION_METHODS: tuple[str, ...] = ("lrp", "deeplift")
PERTURBATION_METHODS: tuple[str, ...] = ("occlusion", "rise")
# How the method box groups them, in this order: (family label, its methods).
METHOD_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CAM", CAM_METHODS), ("Gradient", GRADIENT_METHODS),
    ("Propagation", PROPAGATION_METHODS), ("Perturbation", PERTURBATION_METHODS),
)
METHODS: tuple[str, ...] = tuple(m for _, family in METHOD_FAMILIES for m in family)
# Methods whose map lives at a layer of the model (the others live at the input's resolution).
LAYER_METHODS: tuple[str, ...] = CAM_METHODS + ("guided_gradcam",)
# Two maps agree as much as their most important pixels, this share of each, overlap
# (metrics.top_region_iou): the one fraction of the app's agreement, gcam-evaluate's
# agreement table and the sanity checks. TOP_REGION is how it reads ("top-20 %").
TOP_FRACTION = 0.2
TOP_REGION = f"top-{round(TOP_FRACTION * 100)} %"


def method_label(name: str) -> str:
    """The name a person reads ("Grad-CAM"); an unknown name is shown as it is."""
    return METHOD_LABELS.get(name, name)
