"""Which model fingerprints images, in one place: `pick_hash_model`.

Order: the model the user names (`--hash-model`: a checkpoint path, `imagenet:resnet50` or
`random:resnet50`), then ImageNet ResNet50 weights (`imagenet:resnet50`, when they are in the
cache already), then the demo baseline checkpoint, then a ResNet50 with seeded random weights:
the hash reads the first stage's map, where random filters already tell copies from other
pictures better than the pixel pHash (docs/adr/0016), so there is always a model. Every fingerprint is stored under the
HashModel's `key`, so fingerprints of different models (or versions) never mix. Qt-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from .fingerprint import FINGERPRINT_VERSION, deep_features, deep_hash, model_digest

log = logging.getLogger(__name__)

IMAGENET_SPEC = "imagenet:resnet50"
RANDOM_SPEC = "random:resnet50"
RANDOM_SEED = 0


@dataclass
class HashModel:
    """A loaded model that fingerprints images, with where it came from."""

    model: object  # torch.nn.Module in eval mode
    meta: Mapping
    source: str    # for people: "checkpoint /x/best.pt", "demo ...", "random-weight resnet50 (seed 0)"
    digest: str = ""  # of the weights; filled in on creation
    _key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = model_digest(self.model)
        how = {k: self.meta.get(k) for k in ("mean", "std")}
        text = json.dumps([FINGERPRINT_VERSION, self.digest, how], sort_keys=True)
        self._key = f"v{FINGERPRINT_VERSION}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    @property
    def key(self) -> str:
        """Fingerprint version + weights + preprocessing: equal keys, comparable fingerprints."""
        return self._key

    @property
    def version(self) -> int:
        return FINGERPRINT_VERSION

    def hash(self, images: Sequence, batch_size: int = 16) -> np.ndarray:
        return deep_hash(self.model, images, self.meta, batch_size)

    def features(self, images: Sequence, batch_size: int = 16) -> np.ndarray:
        return deep_features(self.model, images, self.meta, batch_size)

    def describe(self) -> dict:
        """What a report stores beside fingerprints."""
        return {"fingerprint_version": FINGERPRINT_VERSION, "hash_model": self.source, "hash_key": self.key}


def random_resnet50(seed: int = RANDOM_SEED, device=None) -> HashModel:
    """ResNet50 with seeded random weights (torch's own initialisation; the global RNG is untouched)."""
    import torch

    from gcam_desktop.models import build_model, make_meta

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model("resnet50", 1000).eval()
    meta = make_meta("resnet50", [f"class {i}" for i in range(1000)], input_size=224)
    if device is not None:
        model.to(device)
    return HashModel(model, meta, f"random-weight resnet50 (seed {seed})")


def _imagenet_resnet50(device, fetch: bool = False) -> HashModel | None:
    """ImageNet ResNet50 weights through the `imagenet:resnet50` resolver (models/pretrained.py).

    Unasked (fetch=False) only when they are already in the cache: picking a hash model never
    starts a 100 MB download by itself. Named, they are fetched like any slot's weights."""
    from gcam_desktop.models.pretrained import find_cached

    if not fetch and find_cached("resnet50") is None:
        return None
    return _from_checkpoint(IMAGENET_SPEC, device, "ImageNet weights")


def _from_checkpoint(path, device, label: str) -> HashModel:
    from gcam_desktop.models import RESNET_ARCHS, CheckpointError, load_checkpoint

    model, meta = load_checkpoint(path, map_location=device)
    if meta["arch"] not in RESNET_ARCHS:
        raise CheckpointError(path, f"is a {meta['arch']} checkpoint; the deep hash needs one of "
                                    f"{', '.join(RESNET_ARCHS)}")
    return HashModel(model, meta, f"{label} {path}")


def pick_hash_model(named: str | None = None, device=None) -> HashModel:
    """The model fingerprints are made with (see the module's docstring for the order).

    `named`: a checkpoint path, IMAGENET_SPEC or RANDOM_SPEC; a named model that cannot be
    loaded raises (CheckpointError / ValueError naming the file), it is never silently replaced.
    """
    from gcam_desktop.models import pick_device
    from gcam_desktop.paths import demo_checkpoint

    device = pick_device(device or "auto")
    if named:
        if named == RANDOM_SPEC:
            return random_resnet50(device=device)
        if named == IMAGENET_SPEC:
            return _imagenet_resnet50(device, fetch=True)
        return _from_checkpoint(named, device, "checkpoint")
    try:
        found = _imagenet_resnet50(device)
    except Exception as exc:  # a damaged cached file: the next choice, and say why
        log.warning("hash model: cannot use the cached ImageNet weights (%s)", exc)
        found = None
    if found is not None:
        return found
    demo = demo_checkpoint("resnet50")
    if demo.is_file():
        try:
            return _from_checkpoint(demo, device, "demo checkpoint")
        except Exception as exc:  # a broken demo file is the demo's problem, not the caller's
            log.warning("hash model: cannot use the demo checkpoint (%s)", exc)
    return random_resnet50(device=device)
