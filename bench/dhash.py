"""Deep perceptual hash (KIPS paper) vs the classic pixel pHash (imagehash), side by side.

Pictures: synthetic scenes from training/synth.py (10 classes, distinct seeds) plus the
shipped samples; each gets six edited copies (flip, crop 10 %, resize 50 %, JPEG quality 30,
brightness +/-20 %). Every pair of pictures is a question "is one a copy of the other?";
for each hash the threshold with the best F1 is found and its precision and recall printed,
with the recall per edit at that threshold and images per second (from decoded pictures).

    python bench/dhash.py [--hash-model CKPT|imagenet:resnet50|random:resnet50] [--per-class N] [--size S]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from PIL import Image

from gcam_desktop.similarity import HASH_BITS, hamming_matrix, pick_hash_model
from gcam_desktop.similarity.edits import EDITS


def pictures(per_class: int, size: int) -> list[Image.Image]:
    from gcam_desktop.imaging import load_image, scan_folder
    from gcam_desktop.paths import samples_dir
    from training.synth import SHAPES, SynthSpec, render

    spec = SynthSpec(classes=len(SHAPES), per_class=per_class, size=size, seed=1234)
    out = [render(c, i, spec)[0] for c in range(spec.classes) for i in range(per_class)]
    out += [load_image(p) for p in scan_folder(samples_dir() / "images")]
    return out


def with_copies(originals: list[Image.Image]) -> tuple[list[Image.Image], np.ndarray, list[str]]:
    """(all pictures, source index of each, edit name of each: "" for an original)."""
    images, source, edit = [], [], []
    for k, im in enumerate(originals):
        images.append(im), source.append(k), edit.append("")
        for name, fn in EDITS.items():
            images.append(fn(im)), source.append(k), edit.append(name)
    return images, np.array(source), edit


def phash_all(images: list[Image.Image]) -> np.ndarray:
    import imagehash

    return np.array([int(str(imagehash.phash(im)), 16) for im in images], dtype=np.uint64)


def best_threshold(dist: np.ndarray, same: np.ndarray) -> dict:
    """The threshold (bits) with the best F1 of "distance <= t means a copy", over pairs i < j."""
    iu = np.triu_indices(len(dist), k=1)
    d, y = dist[iu].astype(np.int64), same[iu]
    best = None
    for t in range(HASH_BITS + 1):
        pred = d <= t
        tp = int((pred & y).sum())
        precision = tp / max(1, int(pred.sum()))
        recall = tp / max(1, int(y.sum()))
        f1 = 2 * precision * recall / max(1e-12, precision + recall)
        if best is None or f1 > best["f1"]:
            best = {"threshold": t, "precision": precision, "recall": recall, "f1": f1}
    return best


def recall_per_edit(dist: np.ndarray, source: np.ndarray, edit: list[str], t: int) -> dict[str, float]:
    out = {}
    originals = {int(s): i for i, (s, e) in enumerate(zip(source, edit)) if e == ""}
    for name in EDITS:
        hits = [dist[originals[int(source[i])], i] <= t for i, e in enumerate(edit) if e == name]
        out[name] = float(np.mean(hits))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hash-model", default=None, help="checkpoint, imagenet:resnet50 or random:resnet50 "
                                                       "(default: the program's own choice)")
    ap.add_argument("--per-class", type=int, default=6, help="synthetic originals per class (10 classes)")
    ap.add_argument("--size", type=int, default=192, help="side of the synthetic pictures")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    originals = pictures(args.per_class, args.size)
    images, source, edit = with_copies(originals)
    same = source[:, None] == source[None, :]
    hm = pick_hash_model(args.hash_model, args.device)
    print(f"{len(originals)} originals + {len(images) - len(originals)} edited copies = {len(images)} pictures, "
          f"{int(np.triu(same, 1).sum())} copy pairs of {len(images) * (len(images) - 1) // 2}; "
          f"deep hash model: {hm.source} ({hm.key})")

    hm.hash(images[:8])  # warm-up: first-call allocations are not the hash's cost
    t0 = time.perf_counter()
    deep = hm.hash(images)
    t_deep = time.perf_counter() - t0
    t0 = time.perf_counter()
    pixel = phash_all(images)
    t_pixel = time.perf_counter() - t0

    rows = {}
    for name, hashes, seconds in (("deep hash", deep, t_deep), ("pHash", pixel, t_pixel)):
        dist = hamming_matrix(hashes)
        best = best_threshold(dist, same)
        rows[name] = (best, recall_per_edit(dist, source, edit, best["threshold"]), len(images) / seconds)

    print(f"{'':22}{'deep hash':>14}{'pHash':>14}")
    for key, fmt in (("threshold", "{:d} bits"), ("precision", "{:.3f}"), ("recall", "{:.3f}"), ("f1", "{:.3f}")):
        print(f"{key:22}" + "".join(f"{fmt.format(rows[n][0][key]):>14}" for n in rows))
    for e in EDITS:
        print(f"{'recall ' + e:22}" + "".join(f"{rows[n][1][e]:>14.3f}" for n in rows))
    print(f"{'images per second':22}" + "".join(f"{rows[n][2]:>14.1f}" for n in rows))
    print(f"speed ratio deep / pHash: {rows['deep hash'][2] / rows['pHash'][2]:.3f}x "
          f"(device {next(hm.model.parameters()).device})")


if __name__ == "__main__":
    main()
