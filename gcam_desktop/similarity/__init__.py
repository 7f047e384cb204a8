"""Near-duplicate and similar pictures: the deep perceptual hash of the KIPS paper. Qt-free.

    hm = pick_hash_model()                      # or HashModel(*load_checkpoint(path), "mine")
    h = deep_hash(hm.model, images, hm.meta)    # N uint64; deep_features(...) gives F itself
    pairs = pairs_within(h, DEFAULT_THRESHOLD)  # (i, j, distance) rows

torch loads on first use of a model or distance function, not on import.
"""

from __future__ import annotations

from gcam_desktop.lazy import lazy_attributes

from .fingerprint import FINGERPRINT_VERSION, HASH_BITS, HASH_INPUT, from_hex, hash_from_features, to_hex

# Near-duplicate threshold in bits, measured with bench/dhash.py (docs/adr/0016).
DEFAULT_THRESHOLD = 14

_LAZY = {
    "deep_features": "fingerprint", "deep_hash": "fingerprint", "model_digest": "fingerprint",
    "hamming": "hamming", "hamming_matrix": "hamming", "nearest": "hamming", "pairs_within": "hamming",
    "HashModel": "hash_model", "IMAGENET_SPEC": "hash_model", "RANDOM_SPEC": "hash_model",
    "pick_hash_model": "hash_model", "random_resnet50": "hash_model",
    "FingerprintCache": "cache", "fingerprint_files": "cache", "default_cache_dir": "cache",
    "duplicate_groups": "groups",
}

__all__ = ["DEFAULT_THRESHOLD", "FINGERPRINT_VERSION", "HASH_BITS", "HASH_INPUT", "from_hex", "hash_from_features", "to_hex",
           *_LAZY]

__getattr__ = lazy_attributes(__name__, globals(), _LAZY)
