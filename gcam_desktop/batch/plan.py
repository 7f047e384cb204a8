"""What a batch run explains and where each output goes: the request checked, the images
found (the output folder left out), the models that can serve the request, and the file
names of every map (see names.py for how a user's names become file names)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from gcam_desktop.batch.names import escaped, file_name, shown
from gcam_desktop.models.knowledge import class_index

if TYPE_CHECKING:
    from gcam_desktop.batch.explain_files import ModelSpec

Fail = Callable[[str, str], None]


@dataclass
class Plan:
    out: Path
    method: str
    layer: str | None
    target: int | str | None
    top_k: int
    options: dict[str, Any]
    cmap: str
    alpha: float
    max_side: int
    models: list  # the ModelSpecs that can serve the request; one found unfit later is removed
    items: list[tuple[Path, PurePath]] = field(default_factory=list)  # (image, relative output name)
    skipped: int = 0  # paths named or found that are not image files (each reported)
    target_of: dict[int, int | None] = field(default_factory=dict)  # id(model) -> class index

    def explains(self, spec: "ModelSpec") -> bool:
        """False for a model without the class asked for by name: its predictions only."""
        return not (isinstance(self.target, str) and self.target_of[id(spec)] is None)

    def map_files(self, spec: "ModelSpec", rel: PurePath, tag: str) -> tuple[Path, Path]:
        """(overlay PNG, raw .npy) of one map: OUT/<model>/<folders>/<stem>.<method>.<tag>.png"""
        png = file_name(rel.stem, f".{self.method}.{tag}.png")  # shortened if too long
        folder = self.out / model_folder(spec.name) / rel.parent
        return folder / png, folder / (png[:-len(".png")] + ".npy")

    def need(self):
        """What load_image must decode at least, for the biggest model input."""
        sizes = [int(m.meta.get("input_size", 224)) for m in self.models] or [224]
        return fit_request(self.max_side, max(sizes))


def check_request(method: str, options: dict, cmap: str) -> None:
    """ValueError, before any work, for a method, option or colour map that does not exist."""
    from gcam_desktop.explain import METHODS
    from gcam_desktop.explain.engine import method_options
    from gcam_desktop.explain.overlay import COLORMAPS

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods: {', '.join(METHODS)}")
    unknown = sorted(set(options) - set(method_options(method)))
    if unknown:
        raise ValueError(f"{method} has no option {', '.join(unknown)}; its options: "
                         f"{', '.join(method_options(method)) or 'none'}")
    if cmap not in COLORMAPS:
        raise ValueError(f"unknown colour map {cmap!r}; valid colour maps: {', '.join(COLORMAPS)}")


def make_plan(paths: Iterable, models: Sequence["ModelSpec"], out: Path, fail: Fail, **request) -> Plan:
    """The models that can serve `request` (each one that cannot is reported) and the images
    under `paths`, this run's output folders left out of the scan."""
    plan = Plan(out=out, models=[], **request)
    plan.models = [m for m in models if model_usable(m, plan.method, plan.layer, plan.target, plan.top_k, fail,
                                                        plan.options)]
    # A class asked for by name is looked up in each model (their class sets may differ).
    plan.target_of = {id(m): class_index(m.meta, plan.target) if isinstance(plan.target, str) else plan.target
                      for m in plan.models}
    # The output folder (and its model folders, should --out be the input folder itself) is
    # not scanned: a second run into a folder inside its input explained its own overlays.
    exclude = [out, *(out / model_folder(m.name) for m in models)]
    plan.items, plan.skipped = collect_images(paths, on_error=fail, exclude=exclude)
    return plan


def model_folder(name: str) -> str:
    """A model's folder under --out. Never starting with - or + (nor hidden), so the overlay and
    raw cells of predictions.csv, which start with it, are never taken for a formula."""
    keep = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in str(name)).lstrip("-+._").rstrip("._")
    return file_name(keep or "model")


def collect_images(paths: Iterable[str | os.PathLike], on_error: Fail | None = None,
                   exclude: Iterable[str | os.PathLike] = ()) -> tuple[list[tuple[Path, PurePath]], int]:
    """(image files under `paths`, how many paths were skipped as not image files).

    Files or folders, folders recursively in natural order, each with the relative name its
    outputs get: a folder's own name, then the path inside it, as a safe file name (names.py).
    A file named twice counts once; two different files with one relative name get suffixes.
    Every problem goes to on_error(shown path, why), whether the path was named or found."""
    from gcam_desktop.files import why_missing
    from gcam_desktop.imaging import not_a_file, scan_folder

    skipped = 0

    def report(path, message, bad=True):
        nonlocal skipped
        skipped += bad
        if on_error:
            on_error(shown(path), message)

    found: list[tuple[Path, PurePath]] = []
    seen: set[Path] = set()
    for given in paths:
        root = Path(given)
        if root.is_dir():
            files = [(p, _output_name(PurePath(root.resolve().name or "root", p.relative_to(root))))
                     for p in scan_folder(root, on_error=report, exclude=exclude)]
            if not files:
                report(root, "no images in this folder", bad=False)
        elif root.is_file():
            files = [(root, _output_name(PurePath(root.name)))]  # not filtered by extension: the loader judges
        else:
            report(root, not_a_file(root) if os.path.exists(root) else why_missing(root))
            continue
        for path, rel in files:
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                found.append((path, rel))
    return _unique_names(found), skipped


def _output_name(rel: PurePath) -> PurePath:
    """Folders as safe names; the file's own name escaped only (shortened once its ending is known)."""
    return PurePath(*(file_name(part) for part in rel.parts[:-1]), escaped(rel.name))


def _unique_names(found: list[tuple[Path, PurePath]]) -> list[tuple[Path, PurePath]]:
    taken: set[str] = set()
    out = []
    for path, rel in found:
        candidate, n = rel, 2
        while str(candidate.with_suffix("")).lower() in taken:
            candidate = rel.with_name(f"{rel.stem}_{n}{rel.suffix}")
            n += 1
        taken.add(str(candidate.with_suffix("")).lower())
        out.append((path, candidate))
    return out


def model_usable(spec: "ModelSpec", method: str, layer: str | None, target: int | str | None, top_k: int,
                 fail: Fail, options: dict | None = None) -> bool:
    from gcam_desktop.explain import LAYER_METHODS

    n = int(spec.meta.get("num_classes") or len(spec.meta.get("class_names") or ()) or 0)
    layers = tuple(getattr(spec.model, "explainable_layers", ()))
    if layer and method in LAYER_METHODS and layers and layer not in layers:
        fail(spec.name, f"has no layer {layer!r}; its layers: {', '.join(layers)}")
        return False
    if isinstance(target, str):
        if class_index(spec.meta, target) is None:
            # As in the app's panels: the model's own predictions are still written, with no map.
            fail(spec.name, f"has no class \u201c{target}\u201d among its {n} classes: its predictions only, no map")
    elif target is not None and n and not 0 <= int(target) < n:
        fail(spec.name, f"has no class {target}: its classes are 0..{n - 1}")
        return False
    if target is None and n and top_k > n:
        fail(spec.name, f"has only {n} classes, fewer than --top-k {top_k}")
        return False
    # Once here, before any image, rather than once per batch (explain.runnable, which
    # gcam-evaluate asks too): e.g. CAM at a layer that does not feed the pooled linear head.
    from gcam_desktop.explain.runnable import why_not_runnable

    why = why_not_runnable(spec.model, method, layer, int(spec.meta.get("input_size", 224)), options)
    if why is not None:
        fail(spec.name, f"cannot run {method}: {why}")
        return False
    return True


def fit_request(max_side: int, input_size: int):
    """What load_image needs at least: the overlay's size (the image fitted into max_side;
    all of it for 0) and the model input (input_size on both sides, squashed)."""
    def need(w: int, h: int) -> tuple[int, int]:
        if not max_side:
            return w, h
        scale = min(1.0, max_side / max(w, h))
        return max(input_size, round(w * scale)), max(input_size, round(h * scale))

    return need
