"""`explain()`: one entry point for every method; the parts every method shares live here once.

Speed: for the CAM family the layers before the target layer run without an autograd graph
(the parameters are frozen and the input needs no gradient), and a hook turns the layer's
output into a fresh leaf. The backward from the class score therefore stops at the layer:
at a ResNet50's layer4 it runs through the pooling and the linear head only, so a map costs
about one forward pass, and the K target classes of a top-k request share that forward.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gcam_desktop.models.gates import has_gates, recording_gates

from . import CAM_METHODS, GRADIENT_METHODS, METHODS
from .attention import attention_gates, attention_scope
from .cam_methods import CAM_IMPLS, CamInputs, CamMethod
from .deeplift import DEEPLIFT_IMPLS
from .gradient_methods import GRADIENT_IMPLS
from .lrp import LRP_IMPLS
from .perturbation_methods import PERTURBATION_IMPLS
from .model_state import LayerCapture, explaining, forward_logits, model_device
from .names import PERTURBATION_METHODS
from .targets import check_request, resolve_targets

assert set(CAM_IMPLS) == set(CAM_METHODS)
assert set(GRADIENT_IMPLS) | {"guided_gradcam"} == set(GRADIENT_METHODS)
assert set(PERTURBATION_IMPLS) == set(PERTURBATION_METHODS)
# The methods at the input's resolution, all with the gradient methods' run() -> GradientResult.
INPUT_IMPLS = {**GRADIENT_IMPLS, **LRP_IMPLS, **DEEPLIFT_IMPLS, **PERTURBATION_IMPLS}


@dataclass
class Explanation:
    """Maps for N images x K target classes. Tensors are detached, on the model's device.

    maps: float32 N x K x H x W in [0, 1], at the input's size (min-max per map).
    raw: float32 N x K x h x w before normalisation, at the layer's resolution (the input's for
        the gradient methods), so magnitudes compare across models. Non-negative, except for
        `signed` methods (integrated_gradients), whose `maps` show the magnitude.
    classes: N x K long, the explained classes; probs / logits: N x num_classes.
    layer: the explained layer, None for the methods that work at the input.
    """

    maps: Tensor
    raw: Tensor
    classes: Tensor
    probs: Tensor
    logits: Tensor
    method: str
    layer: str | None
    signed: bool = False
    attention: str = "on"  # "on", "off", "mean" or "custom": how the SE gates ran
    gates: dict[str, Tensor] | None = None  # with gates=True: {gate name: N x C}, {} without attention


def explain(model: nn.Module, images: Tensor, method: str = "gradcam", layer: str | None = None,
            targets: Any = None, top_k: int = 1, attention: Any = "on",
            gate_means: Any = None, gates: bool = False, **options: Any) -> Explanation:
    """Explain the model's scores for `images` (N x 3 x H x W, already normalised).

    layer: for the CAM methods and guided_gradcam; None means `model.default_layer`.
    targets: None (the prediction, or the top_k most probable classes), an int for every
        image, one int per image, or N x K ints. top_k: K maps per image (with targets=None).
    options: method-specific, e.g. smoothgrad(samples, noise, batch_size, seed),
        integrated_gradients(steps, baseline, batch_size), scorecam(batch_size, max_channels).
    attention: for SE / s_se models, "on" (as trained), "off" (every gate replaced by 1: the
        plain residual branch) or "mean" (each gate fixed at `gate_means[name]`, e.g. from
        `attention.reference_gate_means`); a mapping {gate name: C vector or number} is used as
        given. Every forward of the call (the map, prediction and probabilities) runs so; a
        model without gates raises ValueError for anything but "on".
    gates: also return the gates of the images' forward (`Explanation.gates`); for the CAM
        methods they are recorded on the way, at no extra forward.

    Runs on the model's device. The model is left as it was found (mode, requires_grad flags,
    no hooks, no parameter .grad), also when this raises. A wrong method, layer, class index
    or option raises ValueError naming what is valid.
    """
    name = _check_method(method)
    opts = _check_options(name, options)
    k = check_request(targets, top_k)
    x = _as_images(images, model)
    scope = attention_scope(model, attention, gate_means)  # a wrong mode raises here, wrong gate values on entry
    mode = attention if isinstance(attention, str) else "custom"
    record = gates and has_gates(model)
    # Grad mode on for the whole call (a caller under no_grad still gets gradients); the
    # parts that need none switch it off themselves.
    with explaining(model), scope, torch.enable_grad():
        if name in CAM_IMPLS:
            layer_name, module = resolve_layer(model, layer)
            ex = _run_cam(model, x, layer_name, module, CAM_IMPLS[name], targets, k, opts, record)
        elif name == "guided_gradcam":
            layer_name, module = resolve_layer(model, layer)
            ex = _guided_gradcam(model, x, layer_name, module, targets, k, record)
        else:
            res = INPUT_IMPLS[name].run(model, x, targets, k, opts)
            ex = _explanation(res.raw, x, res.logits, res.classes, name, None, res.signed)
            if record:  # these methods' forwards see perturbed images: one clean forward for the gates
                ex.gates = attention_gates(model, x)
    ex.attention = mode
    if gates and ex.gates is None:
        ex.gates = {}
    return ex


def _run_cam(model: nn.Module, x: Tensor, layer: str, module: nn.Module, impl: CamMethod,
             targets: Any, top_k: int, options: dict, record: bool = False) -> Explanation:
    # Gates are recorded during this one forward only: later forwards (Score-CAM's masked
    # copies) must not replace them.
    with LayerCapture(module, layer, start_graph=impl.uses_gradients) as capture, \
            torch.set_grad_enabled(impl.uses_gradients), \
            recording_gates(model) if record else nullcontext() as kept:
        logits = forward_logits(model, x)
    acts = capture.result()
    classes = resolve_targets(targets, top_k, logits)
    raw = impl.raw_maps(CamInputs(model, x, acts, logits, classes, layer, options))
    ex = _explanation(raw, x, logits.detach(), classes, impl.name, layer)
    if kept is not None:
        ex.gates = kept.in_order()
    return ex


def _guided_gradcam(model: nn.Module, x: Tensor, layer: str, module: nn.Module, targets: Any,
                    top_k: int, record: bool = False) -> Explanation:
    """Selvaraju et al.: guided backpropagation times the upsampled, normalised Grad-CAM map
    of the same class (both reduced over colour channels the same way, as the map >= 0)."""
    cam = _run_cam(model, x, layer, module, CAM_IMPLS["gradcam"], targets, top_k, {}, record)
    guided = GRADIENT_IMPLS["guided_backprop"].run(model, x, cam.classes, 1, {})
    ex = _explanation(guided.raw * cam.maps, x, cam.logits, cam.classes, "guided_gradcam", layer)
    ex.gates = cam.gates
    return ex


def _explanation(raw: Tensor, x: Tensor, logits: Tensor, classes: Tensor, method: str,
                 layer: str | None, signed: bool = False) -> Explanation:
    raw = raw.detach().float()
    magnitude = raw.abs() if signed else raw
    size = tuple(x.shape[-2:])
    if tuple(magnitude.shape[-2:]) != size:
        magnitude = F.interpolate(magnitude, size=size, mode="bilinear", align_corners=False)
    logits = logits.detach().float()
    return Explanation(maps=normalize01(magnitude), raw=raw, classes=classes.detach().long(),
                       probs=torch.softmax(logits, 1), logits=logits, method=method, layer=layer,
                       signed=signed)


def normalize01(maps: Tensor) -> Tensor:
    """Min-max per map over the last two dimensions; a constant map becomes all zeros."""
    lo = maps.amin((-2, -1), keepdim=True)
    span = maps.amax((-2, -1), keepdim=True) - lo
    return torch.where(span > 0, (maps - lo) / span.clamp_min(torch.finfo(maps.dtype).tiny),
                       torch.zeros_like(maps))


def resolve_layer(model: nn.Module, layer: str | None) -> tuple[str, nn.Module]:
    """The layer's name and module; the model's `explainable_layers` are the valid names
    (any named submodule for a model without that list, e.g. a plain torchvision one)."""
    arch = getattr(model, "arch", type(model).__name__)
    valid = getattr(model, "explainable_layers", None)
    if layer is None:
        layer = getattr(model, "default_layer", None)
        if layer is None:
            names = valid or [n for n, _ in model.named_children()]
            raise ValueError(f"{arch} names no default layer; pass layer=, one of: {', '.join(names)}")
    if valid is not None:
        if layer not in valid:
            raise ValueError(f"unknown layer {layer!r} for {arch}; valid layers: {', '.join(valid)}")
        return layer, model.get_submodule(layer)
    modules = dict(model.named_modules())
    if not layer or layer not in modules:
        raise ValueError(f"unknown layer {layer!r} for {arch}; valid layers are its submodules, e.g. "
                         f"{', '.join(n for n, _ in model.named_children())}")
    return layer, modules[layer]


def method_options(method: str) -> dict[str, Any]:
    """The options a method takes, with their defaults."""
    name = _check_method(method)
    impl = CAM_IMPLS.get(name) or INPUT_IMPLS.get(name)
    return dict(impl.options) if impl is not None else {}


def _check_method(method: Any) -> str:
    name = str(method).lower() if isinstance(method, str) else None
    if name not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    return name


def _check_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    defaults = method_options(name)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        takes = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
        raise ValueError(f"{name} takes no option {', '.join(map(repr, unknown))}; its options: {takes}")
    return {**defaults, **options}


def _as_images(images: Any, model: nn.Module) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point() or images.dim() not in (3, 4):
        what = (f"a {images.dim()}-d {images.dtype} tensor" if isinstance(images, Tensor)
                else type(images).__name__)
        raise ValueError(f"images must be a float tensor N x 3 x H x W, already normalised; got {what}")
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.shape[0] == 0:
        raise ValueError("no images to explain (batch of 0)")
    device, dtype = model_device(model)
    # Detached: a caller's graph must not grow, nor the pre-layer forward record one.
    return images.detach().to(device, dtype)
