"""Atomic file writes: a temp file in the same folder, then os.replace (torch-free, Qt-free).

A crash or kill mid-write leaves the previous file whole and at most a stray `.tmp`. The one
implementation for checkpoints, runs, settings, exports and reports.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], fsync: bool = True) -> Path:
    """Call write(tmp_path), then move the finished file over `path` in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Not mkstemp: its files are private (0600); a dataset or checkpoint should get the
    # permissions any new file gets (the umask decides), like a plain save would.
    tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_bytes(path: str | os.PathLike, data: bytes, fsync: bool = True) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    return atomic_write(path, write, fsync)


def write_text(path: str | os.PathLike, text: str, fsync: bool = True) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return atomic_write(path, write, fsync)


def write_json(path: str | os.PathLike, data: Any, indent: int | None = 1, fsync: bool = True) -> Path:
    return write_text(path, json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False) + "\n", fsync)
