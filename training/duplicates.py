"""Near-duplicates across splits, found before training with the deep perceptual hash.

Every readable image of a new split is fingerprinted once (gcam_desktop.similarity, cached by
file size and modification time, so a second run on the same data costs nothing). Pairs
within the threshold that sit in different splits leak: a test picture the model has as good
as trained on. They are logged and stored in split.json under "duplicates" (with the
fingerprint version and hash model). With --dedup one picture of every near-duplicate group is
kept (seeded choice) and the split is made again, stratified and seeded as always; for a
pre-split folder the kept one is taken from test, then val, then train, so evaluation keeps its
pictures and training loses the copies. See docs/adr/0016-deep-perceptual-hash.md. Qt-free.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Callable

import numpy as np

from .data import SPLITS, DatasetSplit, Listing, build_split

log = logging.getLogger("training")
MAX_LISTED_PAIRS = 1000  # split.json lists this many cross-split pairs (closest first); all are counted
_KEEP_ORDER = {"test": 0, "val": 1, "train": 2}  # pre-split folders: where the kept copy comes from


def _fingerprints(hash_model, paths: list[Path], world=None):
    """(uint64 fingerprints, readable flags, failures) of `paths`. With several processes each
    fingerprints a contiguous share and the shares are gathered, so every process ends with what
    one process fingerprinting all of them would have (each used to fingerprint every image)."""
    from gcam_desktop.distributed import shard_bounds
    from gcam_desktop.similarity import FingerprintCache, fingerprint_files

    from .progress import progress_bar

    distributed = world is not None and world.distributed
    lo, hi = shard_bounds(len(paths), world.size, world.rank) if distributed else (0, len(paths))
    cache = FingerprintCache(hash_model.key)
    bar = progress_bar(hi - lo, 0, "fingerprinting", unit="image")
    last = [0]

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.update(done - last[0])
            last[0] = done

    try:
        fp, ok, fails = fingerprint_files(hash_model, paths[lo:hi], cache, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not distributed:
        return fp, ok, fails
    parts = world.gather(([int(h) for h in fp], ok.tolist(), fails))
    fp = np.array([h for part in parts for h in part[0]], dtype=np.uint64)
    ok = np.array([g for part in parts for g in part[1]], dtype=bool)
    fails = [f for part in parts for f in part[2]]
    if world.rank == 0:  # each process saved its own share; one cache file holds them all
        for path, h, good in zip(paths, fp, ok):
            if good:
                cache.put(path, h)
        cache.save()
    return fp, ok, fails


def cross_split_pairs(split: DatasetSplit, hashes: dict[str, int], threshold: int) -> tuple[list[dict], list[list[str]]]:
    """(pairs in different splits, closest first, as {"a", "a_split", "b", "b_split", "distance"};
    every near-duplicate group as a list of paths) for paths relative to the split's root."""
    from gcam_desktop.similarity import duplicate_groups, pairs_within

    order = [(p, s) for s in SPLITS for p, _ in split.items(s) if p in hashes]
    found = pairs_within(np.array([hashes[p] for p, _ in order], dtype=np.uint64), threshold)
    pairs = [{"a": order[i][0], "a_split": order[i][1], "b": order[j][0], "b_split": order[j][1], "distance": int(d)}
             for i, j, d in found if order[i][1] != order[j][1]]
    pairs.sort(key=lambda p: (p["distance"], p["a"], p["b"]))
    groups = [[order[i][0] for i in g] for g in duplicate_groups(len(order), found)]
    return pairs, groups


def _kept(group: list[str], split_of: dict[str, str], layout: str, seed: int) -> str:
    rng = random.Random(f"gcam-dedup:{seed}:{min(group)}")  # str seeds: the same on every machine
    if layout == "presplit":
        best = min(_KEEP_ORDER[split_of[p]] for p in group)
        group = [p for p in group if _KEEP_ORDER[split_of[p]] == best]
    return rng.choice(sorted(group))


def check_duplicates(cfg, listing: Listing, failures: list[dict], split: DatasetSplit,
                     warn: Callable[[str], None] = log.warning, world=None) -> DatasetSplit:
    """The split with its "duplicates" report; with cfg.dedup, made again without the copies.
    Under several processes (`world`) each fingerprints its share, on its own device.

    Skipped when cfg.dup_check is off (--no-dup-check)."""
    if not getattr(cfg, "dup_check", True):
        return split
    from gcam_desktop.similarity import HASH_BITS, pick_hash_model

    distributed = world is not None and world.distributed
    # Under DDP every process has its own GPU (cuda:LOCAL_RANK): "auto" would put them all on cuda:0.
    hash_model = pick_hash_model(cfg.hash_model, str(world.device) if distributed else cfg.device)
    root = Path(split.root)
    rels = [p for s in SPLITS for p, _ in split.items(s)]
    log.info("fingerprinting %d images for near-duplicates%s (hash model: %s)", len(rels),
             f" ({world.size} processes, a share each)" if distributed else "", hash_model.source)
    fp, ok, fails = _fingerprints(hash_model, [root / p for p in rels], world)
    for f in fails:  # decoded fine a moment ago; only a file changing under us gets here
        warn(f"{f['path']}: {f['reason']}; not checked for duplicates")
    hashes = {p: int(h) for p, h, good in zip(rels, fp, ok) if good}
    threshold = int(cfg.dup_threshold)
    pairs, groups = cross_split_pairs(split, hashes, threshold)
    split_of = {p: s for s in SPLITS for p, _ in split.items(s)}
    report = {**hash_model.describe(), "hash_model_named": cfg.hash_model, "threshold": threshold,
              "cross_split_pair_count": len(pairs), "cross_split_pairs": pairs[:MAX_LISTED_PAIRS],
              "groups": len(groups), "images_in_groups": sum(len(g) for g in groups),
              "dedup": bool(cfg.dedup), "removed": []}
    if pairs:
        warn(f"{len(pairs)} near-duplicate pair{'s' if len(pairs) != 1 else ''} across splits (Hamming distance "
             f"<= {threshold} of {HASH_BITS} bits); closest: "
             + "; ".join(f"{p['a']} ({p['a_split']}) ~ {p['b']} ({p['b_split']}) d={p['distance']}" for p in pairs[:5])
             + ("" if cfg.dedup else "; --dedup keeps one of each group"))
    else:
        log.info("no near-duplicates across splits (threshold %d bits)", threshold)
    if cfg.dedup and groups:
        removed = []
        for g in groups:
            keep = _kept(g, split_of, split.layout, cfg.seed)
            removed += [{"path": p, "split": split_of[p], "kept": keep,
                         "distance": int(bin(hashes[p] ^ hashes[keep]).count("1"))} for p in g if p != keep]
        gone = {str(root / r["path"]) for r in removed}
        extra = [{"path": path, "reason": "near-duplicate"} for path in gone]
        split = build_split(listing, list(failures) + extra, cfg.val_fraction, cfg.test_fraction, cfg.seed, warn=warn,
                            allow_unvalidated=getattr(cfg, "allow_unvalidated_classes", True))
        split.skipped = [s for s in split.skipped if str(root / s["path"]) not in gone]
        report["removed"] = removed
        log.info("--dedup: kept one picture of each of %d near-duplicate groups, left out %d copies",
                 len(groups), len(removed))
    split.duplicates = report
    return split
