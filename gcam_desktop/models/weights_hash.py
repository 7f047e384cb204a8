"""Is a cached weights file what its name promises? Qt-free.

Two names carry a SHA-256: torch.hub's `name-<sha256 prefix>.ext` (torchvision's check_hash
rule: the hex after the last dash starts the file's SHA-256) and the Hugging Face hub's blobs,
named by their full SHA-256 (a snapshot file links to one). Such a file is hashed once; a good
result is remembered by (size, mtime) so later loads cost a stat, not a 100 MB read.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from ..files import write_json
from ..paths import user_data_dir
from .pretrained import PretrainedError

_SHA256 = re.compile(r"[0-9a-f]{64}")
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")  # torch.hub's HASH_REGEX, 8 digits at least
# The record lives in the program's own data folder, not beside the files: the torch-hub and
# Hugging Face caches belong to those libraries (and may be shared or read-only).
RECORD = "verified-weights.json"


def expected_sha256(path: Path) -> str | None:
    """The SHA-256 (or its start) that `path`'s name promises, or None."""
    blob = path.resolve()
    if _SHA256.fullmatch(blob.name):
        return blob.name
    match = _HASH_IN_NAME.search(path.name)
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[str, list[int]]:
    real = path.resolve()
    st = real.stat()
    return str(real), [st.st_size, st.st_mtime_ns]


def _record() -> dict:
    try:
        found = json.loads((user_data_dir() / RECORD).read_text(encoding="utf-8"))
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(path: Path) -> None:
    """Note `path` as checked; a record that cannot be written only costs a hash next time."""
    key, stamp = _stamp(path)
    record = {k: v for k, v in _record().items() if os.path.exists(k)}  # files deleted since: dropped
    record[key] = stamp
    try:
        write_json(user_data_dir() / RECORD, record, fsync=False)
    except OSError:
        pass


def check_cached(ref: str, path: Path) -> None:
    """Raise PretrainedError naming `path` when its content is not what its name promises."""
    expect = expected_sha256(path)
    if expect is None:
        return
    key, stamp = _stamp(path)
    if _record().get(key) == stamp:
        return
    digest = sha256_of(path)
    if not digest.startswith(expect):
        raise PretrainedError(ref, f"{path} is not the file its name promises (SHA-256 {digest[:16]}... does not "
                                   f"start with {expect[:16]}); delete it so the right file can be fetched")
    remember(path)

