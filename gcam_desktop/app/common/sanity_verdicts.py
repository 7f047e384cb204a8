"""What the Quality tab's Sanity section found per model and method (docs/adr/0018's rule and
its evidence), as plain data the Compare tab's method list shows as a badge and a tooltip
(issue 20). No Qt, no torch: the Quality tab fills the records, the window passes them on.

A verdict belongs to one loaded model: it is keyed by the model's token (ModelInfo.token, new
at every load), so a slot that gets another model has no verdicts until it is checked again.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Iterable, Sequence

from gcam_desktop.explain.names import method_label

MARKS = {"pass": "\u2713", "fail": "\u2717", "unchecked": "\u00b7"}
COLOURS = {"pass": "#1b7f3b", "fail": "#b3261e"}  # the list's text: a check mark alone reads as "selected"
HOW_TO_CHECK = "Check it on the Quality tab, Sanity: Check this image or Check first N images"


@dataclass(frozen=True)
class SanityVerdict:
    """One model x method over the images a sanity check measured."""

    model: str              # the model's name as the Sanity section shows it
    token: str | None       # the loaded model it was measured on; None: not a slot's model
    method: str
    verdict: str            # "pass", "fail" or "no verdict" (a model without `stage`)
    after_stage: float      # mean Spearman once the cascade has randomised down to `stage`; nan: none
    stage: str              # the pass rule's stage ("layer4")
    threshold: float        # pass below this
    passed: int             # images that pass one by one
    images: tuple[str, ...]  # the images with a result
    asked: int              # the images the check was asked for (a cancelled check did fewer)
    folder: str             # the folder of the first N images checked; "" for one image
    class_images: int       # images with a class-sensitivity result
    explains_class: int     # of those, where the map depends on the class
    class_rho: float        # mean Spearman of the predicted vs least-likely class maps
    class_threshold: float  # the same map at or above this
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class MethodBadge:
    """What the method list shows for one method: its state and the evidence, per model."""

    state: str              # "pass" (every checked model), "fail" (at least one), "unchecked"
    tooltip: str

    @property
    def mark(self) -> str:
        return MARKS[self.state]

    @property
    def colour(self) -> str | None:
        return COLOURS.get(self.state)


class VerdictBook:
    """The latest verdict per (model token, method): a newer check replaces an older one."""

    def __init__(self) -> None:
        self._by: dict[tuple[str, str], SanityVerdict] = {}

    def add(self, verdicts: Iterable[SanityVerdict]) -> None:
        for v in verdicts:
            if v.token:
                self._by[(v.token, v.method)] = v

    def get(self, token: str, method: str) -> SanityVerdict | None:
        return self._by.get((token, method))

    def badges(self, models: Sequence[tuple[str, str]], methods: Iterable[str]) -> dict[str, MethodBadge]:
        """Each method's badge over `models`, (name, token) of the models the Compare tab shows."""
        return {m: method_badge(m, [(name, self.get(token, m)) for name, token in models]) for m in methods}


def not_checked(method: str) -> MethodBadge:
    """The badge of a method no check has measured on any model shown."""
    return MethodBadge("unchecked", f"{MARKS['unchecked']} {method_label(method)}: not checked for the models "
                                    f"shown\n\n{HOW_TO_CHECK}")


def method_badge(method: str, per_model: Sequence[tuple[str, SanityVerdict | None]]) -> MethodBadge:
    """Failed when any model fails, passed when every model with a verdict passes, else not
    checked; the tooltip gives each model's evidence (or says it was not checked)."""
    verdicts = [v.verdict for _, v in per_model if v is not None]
    if "fail" in verdicts:
        state, head = "fail", "fails the randomisation check on at least one model"
    elif "pass" in verdicts:
        state, head = "pass", "passes the randomisation check on every model checked"
    else:
        state, head = "unchecked", "not checked for the models shown"
    lines = [f"{MARKS[state]} {method_label(method)} {head}"]
    if not per_model:
        lines.append("No model loaded")
    for name, v in per_model:
        lines += [""] + (evidence(v) if v is not None else [f"{name}: not checked for this model"])
    if state == "unchecked" or None in (v for _, v in per_model):
        lines += ["", HOW_TO_CHECK]
    return MethodBadge(state, "\n".join(lines))


def evidence(v: SanityVerdict) -> list[str]:
    """A model's lines of a method's tooltip."""
    if not v.images:
        return [f"{v.model}: the check failed"] + [f"  {e}" for e in v.errors[:3]]
    n = len(v.images)
    if v.verdict == "no verdict":
        lines = [f"{v.model}: no verdict (the model has no {v.stage})"]
    else:
        word = "pass" if v.verdict == "pass" else "fail"
        lines = [f"{v.model}: {MARKS[v.verdict]} {word}",
                 f"  Spearman after {v.stage}: {v.after_stage:.2f} (passes below {v.threshold:g})"
                 + (f", {v.passed} of {n} images pass" if n > 1 else "")]
    if v.class_images:
        explains = v.explains_class * 2 > v.class_images
        lines.append(f"  class sensitivity: {'explains the class' if explains else 'same map for any class'} "
                     f"(Spearman {_num(v.class_rho)}, predicted vs least likely class; the same map from "
                     f"{v.class_threshold:g})")
    lines.append("  measured on " + measured_on(v.images, v.asked, v.folder))
    if v.errors:
        lines.append(f"  {len(v.errors)} run(s) failed: {v.errors[0]}")
    return lines


def measured_on(images: Sequence[str], asked: int, folder: str = "") -> str:
    """"cat_01.png (1 image)" or "3 images (the first 3 of shapes): a.png, b.png, c.png"."""
    names = [os.path.basename(p) for p in images]
    if asked <= 1:
        return f"{names[0]} (1 image)"
    where = f"the first {asked} of {os.path.basename(folder.rstrip(os.sep)) or 'the folder'}"
    shown = ", ".join(names[:3]) + (", \u2026" if len(names) > 3 else "")
    if len(names) == asked:
        return f"{len(names)} images ({where}): {shown}"
    return f"{len(names)} of {asked} images ({where}; the rest not checked): {shown}"


def _num(x: float) -> str:
    return "\u2013" if math.isnan(x) else f"{x:.2f}"
