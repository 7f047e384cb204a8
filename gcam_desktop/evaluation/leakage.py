"""How many scored pictures have a near-duplicate in the training split of a checkpoint's run.

A checkpoint written by gcam-train lives at RUN_DIR/<arch>/best.pt (or last.pt) beside
RUN_DIR/split.json; that file names the run's training pictures. Both sides are fingerprinted
with the deep perceptual hash (gcam_desktop.similarity; cached, so a second evaluation costs
nothing) and a scored picture counts when a training picture lies within the threshold, or is
the very same file. Qt-free.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

SPLIT_FORMAT = "gcam-desktop/split"  # written by training/data.py
MAX_EXAMPLES = 20


def run_split_of(checkpoint: str | os.PathLike | None) -> Path | None:
    """RUN_DIR/split.json of a checkpoint saved by gcam-train, or None when it has no known run."""
    if not checkpoint:
        return None
    ckpt = Path(checkpoint).expanduser().resolve()
    for folder in (ckpt.parent.parent, ckpt.parent):
        candidate = folder / "split.json"
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("format") == SPLIT_FORMAT:
            return candidate
    return None


def statement(result: dict) -> str:
    """One sentence for people."""
    if result.get("skipped"):
        return f"near-duplicates of run {result['run']} not checked: {result['skipped']}"
    text = (f"{result['near_duplicates']} of {result['images']} scored images have a near-duplicate in the training "
            f"split of run {result['run']} ({', '.join(result['models'])}; Hamming distance <= "
            f"{result['threshold']} of 64 bits, hash model {result['hash_model']})")
    if result["in_training_split"]:
        text += f"; {result['in_training_split']} of them are that run's training images themselves"
    return text


def near_duplicates_in_training(entries, images: Sequence[str | os.PathLike], hash_model_named: str | None = None,
                                threshold: int | None = None, device=None,
                                warn: Callable[[str], None] = lambda m: None) -> list[dict]:
    """Per training run among the entries' checkpoints, how many `images` have a near-duplicate
    in its training split; [] when no checkpoint belongs to a known run."""
    from gcam_desktop.similarity import (DEFAULT_THRESHOLD, FingerprintCache, fingerprint_files, nearest,
                                         pick_hash_model)

    runs: dict[Path, list[str]] = {}
    for e in entries:
        split = run_split_of(e.path)
        if split is not None:
            runs.setdefault(split, []).append(e.name)
    results = []
    for split_file, names in runs.items():
        data = json.loads(split_file.read_text(encoding="utf-8"))
        dup = data.get("duplicates") or {}
        result = {"run": str(split_file.parent), "models": names, "images": len(images)}
        try:
            hm = pick_hash_model(hash_model_named or dup.get("hash_model_named"), device)
        except Exception as exc:  # CheckpointError / ValueError, naming the file: the rest still runs
            results.append(result | {"skipped": str(exc)})
            continue
        t = int(threshold if threshold is not None else dup.get("threshold", DEFAULT_THRESHOLD))
        root = Path(data["root"])
        train = [root / p for p, _ in data.get("train", [])]
        cache = FingerprintCache(hm.key)
        fp_train, ok_train, _ = fingerprint_files(hm, train, cache)
        fp_eval, ok_eval, failed = fingerprint_files(hm, list(images), cache)
        for f in failed:
            warn(f"{f['path']}: {f['reason']}; not checked for near-duplicates")
        train_files = {os.path.realpath(p) for p in train}
        same = np.array([os.path.realpath(p) in train_files for p in images], bool)
        examples, near = [], np.zeros(len(images), bool)
        kept = np.flatnonzero(ok_train)
        if kept.size and ok_eval.any():
            rows = np.flatnonzero(ok_eval)
            idx, dist = nearest(fp_eval[rows], fp_train[kept], 1)
            for r, i, d in zip(rows, idx[:, 0], dist[:, 0]):
                if d <= t:
                    near[r] = True
                    examples.append({"image": str(images[r]), "train_image": str(train[kept[i]]), "distance": int(d)})
        near |= same
        examples.sort(key=lambda x: x["distance"])
        results.append(result | {**hm.describe(), "threshold": t, "near_duplicates": int(near.sum()),
                                 "in_training_split": int(same.sum()), "examples": examples[:MAX_EXAMPLES]})
    return results
