"""What the tab shows of a StrategiesResult (gcam_desktop.strategies): the points, the spectrum,
the cluster rows and a summary line, read in one place so the views stay plain; and the
variants' comparison with the baseline. No Qt."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class ClusterRow:
    """One cluster as the list shows it."""

    index: int
    size: int
    accuracy: float | None          # of the model on the members (None: no labels known)
    mean_map: np.ndarray            # g x g, the members' mean map
    mean_image: np.ndarray | None   # H x W x 3 uint8, the members' mean picture (None: map alone)
    members: tuple[str, ...]        # nearest the centre first


@dataclass(frozen=True)
class ResultView:
    """One class of a StrategiesResult as the views show it."""

    result: Any                     # the StrategiesResult
    cls: Any                        # its ClassStrategies shown
    paths: tuple[str, ...]          # the clustered images, in the layout's order
    layout: np.ndarray              # N x 2
    labels: np.ndarray              # N
    eigenvalues: np.ndarray
    eigengap_k: int
    k: int
    rows: tuple[ClusterRow, ...]

    @classmethod
    def of(cls, result, class_index: int | None = None) -> "ResultView | None":
        """The class `class_index` of `result` (None: its largest class); None if it holds none."""
        found = [c for c in result.classes if class_index is None or c.class_index == class_index]
        if not found:
            return None
        c = max(found, key=lambda s: len(s.images))
        paths = tuple(e.path for e in c.images)
        rows = tuple(ClusterRow(int(s.index), int(s.size), s.accuracy, np.asarray(s.mean_map),
                                np.asarray(s.mean_image),
                                tuple(paths[m] for m in s.nearest) + tuple(paths[m] for m in s.members
                                                                           if m not in set(s.nearest)))
                     for s in c.clusters)
        cl = c.clustering
        return cls(result, c, paths, np.asarray(cl.layout), np.asarray(cl.labels), np.asarray(cl.eigenvalues),
                   int(cl.eigengap_k), int(cl.k), rows)

    @property
    def class_index(self) -> int:
        return int(self.cls.class_index)

    def summary(self, classes_run: int = 1) -> str:
        n, k = len(self.paths), self.k
        how = "by the eigengap" if k == self.eigengap_k else f"as asked; the eigengap suggests {self.eigengap_k}"
        parts = [f"{self.cls.class_name}: {n:,} image{'s' if n != 1 else ''} in {k} cluster{'s' if k != 1 else ''} "
                 f"(k = {k} {how})"]
        if classes_run > 1:
            parts.append(f"the largest of {classes_run} classes analysed: choose a class above to see another")
        if self.cls.collapsed:
            parts.append(f"{self.cls.collapsed} near-duplicate{'s' if self.cls.collapsed != 1 else ''} collapsed first")
        if not self.result.labelled:
            parts.append("the folder names no classes: images grouped by the model's prediction")
        failures = len(self.result.failures)
        if failures:
            parts.append(f"{failures} problem{'s' if failures != 1 else ''} (hover)")
        return "; ".join(parts)

    def problems(self) -> str:
        return "\n".join(f"{what}: {why}" for what, why in self.result.failures[:30])


@dataclass(frozen=True)
class ClassesRun:
    """An every-class run in the cache: the keys its classes are cached under (each on its own)."""

    keys: tuple


def split_by_class(result) -> dict[int, Any]:
    """An every-class result as one result per class (sharing the arrays), each cached on its own."""
    return {c.class_index: dataclasses.replace(result, classes=[c]) for c in result.classes}


def variant_comparisons(shown: Any, others: Mapping[str, Any]) -> str:
    """One line per other ResNet50 variant: its clusters of the shown class against the baseline's.
    `shown` and `others` are ClassStrategies by architecture, the baseline among them."""
    from gcam_desktop.models.names import RESNET_ARCHS, arch_label
    from gcam_desktop.strategies import compare

    base_arch = RESNET_ARCHS[0]
    base = others.get(base_arch)
    if base is None:
        return ""
    parts = []
    for arch in RESNET_ARCHS[1:]:
        other = others.get(arch)
        if other is None:
            continue
        cmp = compare(base, other, arch_label(base_arch), arch_label(arch))
        if cmp.ari is None:
            continue
        moved = len(cmp.moved)
        parts.append(f"{arch_label(arch)} vs {arch_label(base_arch)}: ARI {cmp.ari:.2f} over {cmp.common} images, "
                     f"{moved} move{'s' if moved == 1 else ''} to another cluster")
    return (f"{shown.class_name} — " + " · ".join(parts)) if parts else ""


def nbytes(obj: Any, _depth: int = 0) -> int:
    """Roughly the memory a result holds: its arrays (what the cache bounds), walked through
    dataclasses, sequences and mappings a few levels deep."""
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if _depth > 4 or obj is None or isinstance(obj, (str, bytes, int, float, Path)):
        return 64
    if dataclasses.is_dataclass(obj):
        return 64 + sum(nbytes(getattr(obj, f.name), _depth + 1) for f in dataclasses.fields(obj))
    if isinstance(obj, Mapping):
        return 64 + sum(nbytes(v, _depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return 64 + sum(nbytes(v, _depth + 1) for v in obj)
    return 64
