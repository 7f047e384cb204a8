"""Atomic file writes: a temp file in the same folder, then os.replace (torch-free, Qt-free).

A crash or kill mid-write leaves the previous file whole and at most a stray `.tmp`. The one
implementation for checkpoints, runs, settings, exports and reports.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any, Callable

_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file size limit was reached)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "a folder has that name",
    errno.ENAMETOOLONG: "name too long",
    errno.ELOOP: "a symbolic link loop in the path",
    errno.ENOENT: "the folder does not exist",
}
LOW_SPACE_BYTES = 16 * 2**20  # below this much free space a failed write is put down to a full disk


class WriteError(OSError):
    """A write that failed; str() is one line naming the path and the reason. An OSError, so
    existing `except OSError` handlers catch it."""

    def __init__(self, path: str | os.PathLike, reason: str, code: int | None = None) -> None:
        super().__init__(code or errno.EIO, reason)
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"cannot write {shown(self.path)}: {self.reason}"

    def __reduce__(self):  # OSError's own pickling passes (errno, reason): handed between processes
        return (type(self), (str(self.path), self.reason, self.errno))


def write_reason(exc: BaseException, folder: str | os.PathLike | None = None) -> str:
    """A short reason for a failed write, in words ("no space left on device")."""
    if isinstance(exc, WriteError):
        return exc.reason
    if isinstance(exc, OSError) and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    if folder is not None:
        try:  # libraries that hide the errno (torch's "file write failed") on a full disk
            if shutil.disk_usage(_existing(Path(folder))).free < LOW_SPACE_BYTES:
                return "no space left on device"
        except OSError:
            pass
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    text = re.sub(r"^\[enforce fail at [^\]]*\]\s*\.?\s*", "", str(exc).strip()).splitlines()
    return f"the write failed ({text[0] if text else type(exc).__name__})"


def _is_write_failure(exc: BaseException) -> bool:
    # torch.save reports disk errors as RuntimeError ("PytorchStreamWriter failed writing ...").
    return isinstance(exc, (OSError, RuntimeError))


def _file_in_the_way(folder: Path) -> Path | None:
    """The first part of `folder` that exists but is not a folder, if any."""
    for part in reversed([folder, *folder.parents]):
        if part.exists() and not part.is_dir():
            return part
    return None


def _existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def shown(path: str | os.PathLike) -> str:
    """`path` as printable UTF-8 text, bytes that are not UTF-8 as \\xNN."""
    try:
        return os.fsencode(path).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate no file system gave us: show its code
        return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def why_missing(path: str | os.PathLike, what: str = "file or folder") -> str:
    """Why `path` cannot be opened, in words: a symlink loop, a broken link, or simply absent."""
    path = Path(path)
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symbolic link loop (the link leads back to itself)"
        if exc.errno == errno.EACCES:
            return "permission denied"
        if exc.errno == errno.ENOTDIR:
            return "a part of the path is a file, not a folder"
        if path.is_symlink():
            return f"a broken symbolic link (to {os.readlink(path)}, which does not exist)"
        return f"no such {what}"
    return f"not a {what}"


def check_writable(folder: str | os.PathLike) -> Path:
    """Raise WriteError now, before long work, if files cannot be made in `folder`.

    Folders it has to create for the test are removed again, so a refused or failed run
    leaves nothing behind; the caller creates them for real when it writes.
    """
    folder = Path(folder).expanduser()
    missing: list[Path] = []
    made: list[Path] = []  # only what this call made is removed again (another process may share the rest)
    probe: Path | None = None
    try:
        walk = folder
        while not walk.exists() and not walk.is_symlink():
            missing.append(walk)
            walk = walk.parent
        if not walk.is_dir():
            raise WriteError(folder, f"{walk} is a file, not a folder" if walk.exists()
                             else why_missing(walk, "folder"), errno.ENOTDIR)
        for d in reversed(missing):
            try:
                d.mkdir()
                made.append(d)
            except FileExistsError:  # made meanwhile by another process: fine if it is a folder
                if not d.is_dir():
                    raise
        probe = folder / f".gcam-write-test.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            os.write(fd, b"\0")
        finally:
            os.close(fd)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(folder, write_reason(exc, folder), exc.errno) from None
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)
        for d in reversed(made):
            try:
                d.rmdir()
            except OSError:
                pass
    return folder


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], fsync: bool = True) -> Path:
    """Call write(tmp_path), then move the finished file over `path` in one step.

    Any failure to write raises WriteError (one line: the path and the reason) and leaves
    the previous file as it was; other exceptions from `write` pass through unchanged.
    """
    path = Path(path)
    tmp = _new_temp(path)
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if _is_write_failure(exc) and not isinstance(exc, WriteError):
            raise WriteError(path, write_reason(exc, path.parent), getattr(exc, "errno", None)) from exc
        raise
    return path


def _new_temp(path: Path) -> str:
    """An empty temp file beside `path` (its folder made if needed); WriteError if it cannot be."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its files are private (0600); a dataset or checkpoint should get the
        # permissions any new file gets (the umask decides), like a plain save would.
        tmp = str(path.parent / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        blocker = _file_in_the_way(path.parent)
        reason = f"{blocker} is a file, not a folder" if blocker else write_reason(exc, path.parent)
        raise WriteError(path, reason, exc.errno) from None
    return tmp


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class GrowingFile:
    """atomic_write for a file that grows while a long run goes on (predictions.csv, a row per
    finished image): the pieces go to a temp file beside `path`, and close() moves it over
    `path` in one step, so an earlier file stays whole until then.

    Each append lands whole or not at all: one cut short (a full disk) is cut back off and
    raises WriteError, later appends are refused, and close() still moves the whole pieces into
    place, so a run that fails late keeps what it wrote. Should the move itself fail, the temp
    file is kept and named in the error (it is all the run wrote)."""

    def __init__(self, path: str | os.PathLike, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.tmp = _new_temp(self.path)
        self.failed: WriteError | None = None
        self._size = 0
        try:
            self._fd: int | None = os.open(self.tmp, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            Path(self.tmp).unlink(missing_ok=True)
            raise WriteError(self.path, write_reason(exc, self.path.parent), exc.errno) from None

    def append(self, data: bytes) -> None:
        if self.failed is not None or self._fd is None:
            raise self.failed or WriteError(self.path, "already closed")
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            self.failed = WriteError(self.path, write_reason(exc, self.path.parent), exc.errno)
            try:
                os.ftruncate(self._fd, self._size)  # the piece cut short goes; the whole ones stay
            except OSError:
                pass
            raise self.failed from None
        self._size += len(data)

    def close(self) -> Path:
        if self._fd is None:
            return self.path
        fd, self._fd = self._fd, None
        try:
            if self.fsync:
                os.fsync(fd)
        except OSError:
            pass  # what was written is still there; it just may not have reached the disk yet
        finally:
            os.close(fd)
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            raise WriteError(self.path, f"{write_reason(exc, self.path.parent)}; what was written is "
                                        f"kept in {self.tmp}", exc.errno) from None
        return self.path


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


def write_npz(path: str | os.PathLike, arrays: Any, fsync: bool = True) -> Path:
    """`arrays` (a name -> array mapping) as an uncompressed .npz, atomically."""
    import numpy as np

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:  # a file object: np.savez would append ".npz" to a bare path
            np.savez(fh, **arrays)

    return atomic_write(path, write, fsync)
