"""The Sanity section's job: the parameter-randomisation cascade and the class-sensitivity test
(gcam_desktop/explain/sanity.py, docs/adr/0018) for some images, models and methods, one
(image, model, method) unit at a time, so the Quality worker serves the current image between
units and a cancel lands within one explanation. Qt-free; its code runs in the worker thread
(torch is imported there, on first use).

The models are the worker's own copies of the loaded models, and the library randomises deep
copies of those: nothing the app shows is ever touched.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from gcam_desktop.app.common.sanity_verdicts import SanityVerdict
from gcam_desktop.app.quality.sources import QualityModel

DEFAULT_METHODS = ("gradcam", "saliency", "guided_backprop")  # Adebayo et al.'s pass, pass and fail
MEASURE_LABELS = {"spearman": "Spearman", "ssim": "SSIM", "top_iou": "top-20 % IoU"}


@dataclass(frozen=True)
class SanityJob:
    """Check `paths` with every source model and every method. `keep_maps`: keep each step's map
    and the model's input picture (the current image's strip); a folder keeps the numbers only."""

    id: int
    paths: tuple[str, ...]
    methods: tuple[str, ...]
    sources: tuple[QualityModel, ...]
    keep_maps: bool
    stop: threading.Event = field(default_factory=threading.Event, compare=False, hash=False)


@dataclass
class SanityItem:
    """One unit's result: the cascade (MethodSanity) and the class sensitivity (ClassSensitivity),
    or the one-line reason it could not be run."""

    path: str
    model: str
    method: str
    sanity: Any = None
    sensitivity: Any = None
    image: np.ndarray | None = None  # the model's input as an H x W x 3 picture (keep_maps only)
    error: str | None = None


class SanityRun:
    """A job's state in the worker thread: the units left, and the picture being checked."""

    def __init__(self, job: SanityJob, entries: Sequence, device) -> None:
        self.job, self.device = job, device
        self.units = [(p, e, m) for p in job.paths for e in entries for m in job.methods]
        self.done = 0
        self._picture: tuple[str, Any] | None = None  # (path, PIL image or the load error)

    @property
    def total(self) -> int:
        return len(self.units)

    @property
    def finished(self) -> bool:
        return self.done >= len(self.units)

    def step(self, cancelled: Callable[[], bool], progress: Callable[[float], None]) -> SanityItem:
        """The next unit. Raises InterruptedError when cancelled mid-way (nothing is kept)."""
        path, entry, method = self.units[self.done]
        try:
            item = self._check(path, entry, method, cancelled, progress)
        except InterruptedError:
            raise
        except Exception as exc:  # one image, model or method failing must not end the job
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            item = SanityItem(path, entry.name, method, error=f"{entry.name}, {method}: {msg}")
        self.done += 1
        return item

    def _check(self, path, entry, method, cancelled, progress) -> SanityItem:
        from gcam_desktop.explain.sanity import class_sensitivity, parameter_randomisation
        from gcam_desktop.imaging.preprocess import denormalize, preprocess_for

        picture = self._load(path)
        x = preprocess_for(entry.meta, picture)[None].to(self.device)
        [sanity] = parameter_randomisation(entry.model, x, [method], independent=False,
                                           progress=lambda d, t: progress(d / (t + 1)), cancelled=cancelled)
        if cancelled():
            raise InterruptedError("sanity check cancelled")
        [sensitivity] = class_sensitivity(entry.model, x, [method])
        image = None
        if self.job.keep_maps:
            image = denormalize(x[0], **{k: entry.meta[k] for k in ("mean", "std") if entry.meta.get(k)})
        else:
            for step in sanity.cascade:  # a folder keeps the numbers only
                step.map = None
        return SanityItem(path, entry.name, method, sanity, sensitivity, image)

    def _load(self, path: str):
        from gcam_desktop.imaging import load_image

        if self._picture is None or self._picture[0] != path:
            try:
                self._picture = (path, load_image(path))
            except Exception as exc:
                self._picture = (path, exc)
        picture = self._picture[1]
        if isinstance(picture, Exception):
            raise ValueError(f"{path}: {picture}")
        return picture


# -- the summary table (UI thread; plain data) --------------------------------------------------

@dataclass
class SanityRow:
    """One model x method over the images checked."""

    model: str
    method: str
    images: int                 # images with a result
    after_layer4: float         # mean Spearman after the cascade reached layer4; nan: no layer4
    passed: int                 # images that pass the rule
    verdict: str                # "pass", "fail" or "no verdict"
    class_images: int           # images with a class-sensitivity result
    explains_class: int         # of those, where the method's map depends on the class
    class_rho: float            # mean Spearman of the predicted vs least-likely class maps
    errors: list[str] = field(default_factory=list)


def summarize(items: Iterable[SanityItem]) -> list[SanityRow]:
    """One row per (model, method), in the order first seen. The verdict applies the rule of
    docs/adr/0018 to the mean correlation over the images; `passed` counts them one by one."""
    from gcam_desktop.explain.sanity import PASS_STAGE, passes

    rows: dict[tuple[str, str], SanityRow] = {}
    rhos: dict[tuple[str, str], list[float]] = {}
    for it in items:
        key = (it.model, it.method)
        row = rows.setdefault(key, SanityRow(it.model, it.method, 0, math.nan, 0, "no verdict", 0, 0, math.nan))
        if it.error:
            row.errors.append(it.error)
            continue
        row.images += 1
        try:
            rho = it.sanity.after(PASS_STAGE).spearman
        except KeyError:
            rho = None  # a model without layer4 (the small CNN): curves, no verdict
        if rho is not None:
            rhos.setdefault(key, []).append(rho)
            row.passed += passes(rho)
        if it.sensitivity is not None:
            row.class_images += 1
            row.explains_class += bool(it.sensitivity.explains_the_class)
            prev = 0.0 if math.isnan(row.class_rho) else row.class_rho * (row.class_images - 1)
            row.class_rho = (prev + it.sensitivity.input_res.spearman) / row.class_images
    for key, values in rhos.items():
        rows[key].after_layer4 = float(np.mean(values))
        rows[key].verdict = "pass" if passes(rows[key].after_layer4) else "fail"
    return list(rows.values())


def verdict_records(items: Sequence[SanityItem], job: SanityJob) -> list[SanityVerdict]:
    """The job's results so far as the records the Compare tab's method list shows, each keyed
    by the token of the model it was measured on (app/common/sanity_verdicts.py)."""
    from gcam_desktop.explain.sanity import CLASS_THRESHOLD, PASS_STAGE, PASS_THRESHOLD

    tokens = {s.name: s.token for s in job.sources}
    images: dict[tuple[str, str], list[str]] = {}
    for it in items:
        if not it.error:
            images.setdefault((it.model, it.method), []).append(it.path)
    folder = os.path.commonpath(job.paths) if len(job.paths) > 1 else ""
    return [SanityVerdict(
        model=r.model, token=tokens.get(r.model), method=r.method, verdict=r.verdict,
        after_stage=r.after_layer4, stage=PASS_STAGE, threshold=PASS_THRESHOLD, passed=r.passed,
        images=tuple(images.get((r.model, r.method), ())), asked=len(job.paths), folder=folder,
        class_images=r.class_images, explains_class=r.explains_class, class_rho=r.class_rho,
        class_threshold=CLASS_THRESHOLD, errors=tuple(r.errors)) for r in summarize(items)]
