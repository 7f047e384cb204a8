"""What a strategies run found, as plain data: per image its prediction and small map, per
class the clustering, per cluster its size, members, mean map over the mean image, accuracy and
the members nearest its centre. `to_json` is what strategies.json holds. Torch- and Qt-free."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gcam_desktop.strategies.spectral import Clustering

FORMAT = "gcam-desktop/strategies"
VERSION = 1


@dataclass
class ImageEntry:
    """One image (a near-duplicate group's first member) of a class."""

    path: str               # as given or found (absolute when a folder was scanned)
    label: int | None       # its class from the folder it is in; None when the folder names no class
    predicted: int          # the model's top class
    probability: float      # of the predicted class
    duplicates: list[str] = field(default_factory=list)  # near-duplicates collapsed into this one
    thumbnail: str | None = None  # a small PNG of it, when the run was given a thumbnail folder

    @property
    def correct(self) -> bool | None:
        """Whether the prediction is the folder's class; None where no label is known."""
        return None if self.label is None else self.predicted == self.label


@dataclass
class Cluster:
    index: int              # 0 = the largest
    members: list[int]      # rows of ClassStrategies.images
    mean_map: np.ndarray    # grid x grid float32 in [0, 1]: the members' maps averaged
    mean_image: np.ndarray  # THUMB x THUMB x 3 uint8: the members' pictures averaged (squashed square)
    accuracy: float | None  # of the model on the members; None without labels
    nearest: list[int]      # members nearest the cluster's centre in the spectral embedding, nearest first

    @property
    def size(self) -> int:
        return len(self.members)


@dataclass
class ClassStrategies:
    """One class's images, their maps and the strategies (clusters) found among them."""

    class_index: int
    class_name: str
    images: list[ImageEntry]
    grids: np.ndarray        # N x grid x grid float32, each map min-max normalised
    clustering: Clustering
    clusters: list[Cluster]
    collapsed: int = 0       # near-duplicates of this class folded into another image

    def cluster_of(self, path: str) -> int | None:
        for i, e in enumerate(self.images):
            if e.path == path:
                return int(self.clustering.labels[i])
        return None

    def to_json(self) -> dict:
        c = self.clustering
        return {
            "class_index": self.class_index, "class": self.class_name, "images": len(self.images),
            "collapsed_duplicates": self.collapsed, "k": c.k, "eigengap_k": c.eigengap_k,
            "n_neighbors": c.n_neighbors, "eigenvalues": [round(float(v), 6) for v in c.eigenvalues],
            "clusters": [{"index": cl.index, "size": cl.size, "accuracy": cl.accuracy,
                          "members": [self.images[m].path for m in cl.members],
                          "nearest_centre": [self.images[m].path for m in cl.nearest],
                          "mean_map": np.round(cl.mean_map, 4).tolist()} for cl in self.clusters],
            "points": [{"path": e.path, "label": e.label, "predicted": e.predicted,
                        "probability": round(e.probability, 6), "correct": e.correct,
                        "cluster": int(c.labels[i]), "xy": [round(float(v), 3) for v in c.layout[i]],
                        "duplicates": e.duplicates, "thumbnail": e.thumbnail}
                       for i, e in enumerate(self.images)],
        }


@dataclass
class StrategiesResult:
    model: str               # the model's display name
    method: str
    layer: str | None        # None: the model's default layer
    grid: int                # side of the grid each map was reduced to
    classes: list[ClassStrategies]
    class_names: list[str]
    labelled: bool           # the folder names each image's class (class subfolders)
    collapsed: int = 0       # near-duplicates folded into another image before clustering, all classes
    failures: list[tuple[str, str]] = field(default_factory=list)  # (what, why): bad images, a model unfit
    seconds: float = 0.0

    def of_class(self, class_index: int) -> ClassStrategies | None:
        return next((c for c in self.classes if c.class_index == class_index), None)

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "model": self.model, "method": self.method,
                "layer": self.layer, "grid": self.grid, "labelled": self.labelled,
                "collapsed_duplicates": self.collapsed, "seconds": round(self.seconds, 2),
                "failures": [{"what": w, "why": y} for w, y in self.failures],
                "classes": [c.to_json() for c in self.classes]}
