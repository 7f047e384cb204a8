"""A strategies run written out: strategies.json, one montage PNG per cluster (the members
nearest its centre beside its mean map over its mean image) and the report.md section. Torch-
and Qt-free (PIL)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw

from gcam_desktop.strategies.compare import Comparison
from gcam_desktop.strategies.result import ClassStrategies, Cluster, StrategiesResult

TILE = 96  # pixels per picture in a montage
MONTAGE_MEMBERS = 8  # members shown per montage (those nearest the cluster's centre)
MOVED_SHOWN = 10  # images that move between clusterings, listed in the report


def mean_map_picture(cluster: Cluster, side: int = TILE, alpha: float = 0.5) -> np.ndarray:
    """The cluster's mean map (turbo) over its mean image, side x side RGB."""
    from gcam_desktop.explain.overlay import overlay

    image = np.asarray(Image.fromarray(cluster.mean_image).resize((side, side), Image.BILINEAR))
    return overlay(image, cluster.mean_map, alpha, "turbo")


def montage(cls: ClassStrategies, cluster: Cluster, tile: int = TILE) -> Image.Image:
    """One row: the mean map over the mean image, then up to MONTAGE_MEMBERS members nearest
    the centre (loaded again, squashed to tile x tile); a caption above."""
    from gcam_desktop.imaging import ImageLoadError, load_image

    shown = cluster.nearest[:MONTAGE_MEMBERS]
    pad, caption = 4, 18
    canvas = Image.new("RGB", (pad + (1 + len(shown)) * (tile + pad), caption + tile + pad), (255, 255, 255))
    canvas.paste(Image.fromarray(mean_map_picture(cluster, tile)), (pad, caption))
    for n, m in enumerate(shown, start=1):
        try:
            picture = load_image(cls.images[m].path).convert("RGB").resize((tile, tile), Image.BILINEAR)
        except ImageLoadError:
            picture = Image.new("RGB", (tile, tile), (200, 200, 200))
        canvas.paste(picture, (pad + n * (tile + pad), caption))
    acc = "" if cluster.accuracy is None else f", accuracy {cluster.accuracy:.2f}"
    ImageDraw.Draw(canvas).text((pad, 3), f"{cls.class_name}: cluster {cluster.index} ({cluster.size} images{acc}); "
                                          "left: mean map", fill=(0, 0, 0))
    return canvas


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("._") or "x"


def montage_name(result: StrategiesResult, cls: ClassStrategies, cluster: Cluster) -> str:
    return f"strategies_{slug(result.model)}_{slug(cls.class_name)}_cluster{cluster.index}.png"


def write_outputs(results: Sequence[StrategiesResult], comparisons: Sequence[Comparison], out: Path) -> dict:
    """strategies.json and the montages under `out`; returns the summary report.json keeps
    (what the report.md section is written from)."""
    from gcam_desktop.files import atomic_write, write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict = {"file": "strategies.json", "models": [], "comparisons": [c.to_json() for c in comparisons]}
    full = [r.to_json() for r in results]
    for result, result_json in zip(results, full):
        model = {"name": result.model, "method": result.method, "layer": result.layer, "grid": result.grid,
                 "labelled": result.labelled, "collapsed_duplicates": result.collapsed,
                 "failures": len(result.failures), "classes": []}
        for cls, cls_json in zip(result.classes, result_json["classes"]):
            clusters = []
            for cl, cl_json in zip(cls.clusters, cls_json["clusters"]):
                name = montage_name(result, cls, cl)
                cl_json["montage"] = name
                picture = montage(cls, cl)
                atomic_write(out / name, lambda tmp, p=picture: p.save(tmp, format="PNG"))
                clusters.append({"index": cl.index, "size": cl.size, "accuracy": cl.accuracy, "montage": name})
            model["classes"].append({"class": cls.class_name, "images": len(cls.images), "k": cls.clustering.k,
                                     "eigengap_k": cls.clustering.eigengap_k,
                                     "collapsed_duplicates": cls.collapsed, "clusters": clusters})
        summary["models"].append(model)
    write_json(out / "strategies.json", {"models": full, "comparisons": summary["comparisons"]})
    return summary


def markdown(summary: Mapping) -> list[str]:
    """The report.md section."""
    out = ["## Strategies (spectral relevance analysis)", "",
           "Each class's maps, reduced to a small grid, clustered spectrally (a nearest-neighbour graph, the "
           "number of clusters from the largest eigengap; Lapuschkin et al. 2019, docs/adr/0031). A small cluster "
           "whose mean map lights something other than the object is a strategy worth a look: a watermark, a "
           f"background. Every image and cluster is in `{summary['file']}`.", ""]
    for m in summary["models"]:
        out += [f"### {m['name']}", "",
                f"Method {m['method']}, layer {m['layer'] or 'the default'}, {m['grid']} x {m['grid']} grid; "
                f"{m['collapsed_duplicates']} near-duplicate(s) collapsed before clustering"
                + ("" if m["labelled"] else "; no class folders: images grouped by prediction") + ".", "",
                "| class | images | clusters (eigengap) | cluster sizes | accuracy per cluster | montages |",
                "|---|---|---|---|---|---|"]
        for c in m["classes"]:
            sizes = ", ".join(str(cl["size"]) for cl in c["clusters"])
            acc = ", ".join("–" if cl["accuracy"] is None else f"{cl['accuracy']:.2f}" for cl in c["clusters"])
            links = " ".join(f"[{cl['index']}]({cl['montage']})" for cl in c["clusters"])
            out.append(f"| {c['class']} | {c['images']} | {c['k']} ({c['eigengap_k']}) | {sizes} | {acc} | {links} |")
        out.append("")
    if summary["comparisons"]:
        out += ["### The same classes clustered by each model", "",
                "Adjusted Rand index against the first model (1: the same grouping; about 0: no more alike than "
                "chance), over the images both clustered; an image moves when it leaves the cluster that best "
                "matches its first-model cluster.", "",
                "| class | models | images | adjusted Rand index | images that move |", "|---|---|---|---|---|"]
        for c in summary["comparisons"]:
            ari = "–" if c["adjusted_rand_index"] is None else f"{c['adjusted_rand_index']:.3f}"
            moved = ", ".join(Path(p).name for p in c["moved"][:MOVED_SHOWN])
            more = f" (+{len(c['moved']) - MOVED_SHOWN})" if len(c["moved"]) > MOVED_SHOWN else ""
            out.append(f"| {c['class'] or c['class_index']} | {c['a']} → {c['b']} | {c['images']} | {ari} | "
                       f"{len(c['moved'])}: {moved}{more} |")
        out.append("")
    return out
