"""What the tab shows of a StrategiesResult (gcam_desktop.strategies): the points, the spectrum,
the cluster rows and a summary line, read in one place so the views stay plain; and the
variants' comparison with the baseline. No Qt."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gcam_desktop.app.strategies.cluster_list import ClusterRow


@dataclass(frozen=True)
class ResultView:
    result: Any
    paths: tuple[str, ...]          # the clustered images, in the layout's order
    layout: np.ndarray              # N x 2
    labels: np.ndarray              # N
    eigenvalues: np.ndarray
    eigengap_k: int
    k: int
    rows: tuple[ClusterRow, ...]
    duplicates: int                 # near-duplicates collapsed before clustering
    skipped: int                    # images that could not be explained (or not of the class)

    @classmethod
    def of(cls, result) -> "ResultView":
        c = result.clustering
        rows = tuple(ClusterRow(int(s.index), int(s.size), None if s.accuracy is None else float(s.accuracy),
                                np.asarray(s.mean_map), getattr(s, "mean_image", None),
                                tuple(str(p) for p in s.nearest) + tuple(str(p) for p in s.members if p not in s.nearest))
                     for s in result.clusters)
        return cls(result, tuple(str(p) for p in result.paths), np.asarray(c.layout), np.asarray(c.labels),
                   np.asarray(c.eigenvalues), int(c.eigengap_k), int(c.k), rows,
                   int(getattr(result, "duplicates", 0) or 0), len(getattr(result, "skipped", ()) or ()))

    def summary(self) -> str:
        n = len(self.paths)
        how = f"k = {self.k} by the eigengap" if self.k == self.eigengap_k else \
            f"k = {self.k} (the eigengap suggests {self.eigengap_k})"
        parts = [f"{n:,} image{'s' if n != 1 else ''} in {self.k} cluster{'s' if self.k != 1 else ''} ({how})"]
        if self.duplicates:
            parts.append(f"{self.duplicates} near-duplicate{'s' if self.duplicates != 1 else ''} collapsed first")
        if self.skipped:
            parts.append(f"{self.skipped} not clustered")
        return "; ".join(parts)


def variant_comparisons(results: Mapping[str, Any]) -> str:
    """One line per SE / s_se variant: its clusters against the baseline's (results by arch)."""
    from gcam_desktop.models.names import RESNET_ARCHS, arch_label
    from gcam_desktop.strategies import compare_clusterings

    base_arch = RESNET_ARCHS[0]
    base = results.get(base_arch)
    if base is None:
        return ""
    parts = []
    for arch in RESNET_ARCHS[1:]:
        other = results.get(arch)
        if other is None:
            continue
        cmp = compare_clusterings(base, other)
        moved = len(cmp.moved)
        parts.append(f"{arch_label(arch)}: ARI {cmp.ari:.2f} against {arch_label(base_arch)} over {cmp.n} images, "
                     f"{moved} change{'s' if moved == 1 else ''} company")
    return " \u00b7 ".join(parts)


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
