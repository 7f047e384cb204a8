"""One run at a time in an output folder (torch-free, Qt-free).

gcam-explain, gcam-evaluate and gcam-train (and the app's batch export, which runs the same
code) take an exclusive lock on a file inside their output folder for as long as they write to
it. Two runs into one folder used to both succeed and interleave or overwrite each other's
files; now the second is refused at once with one line. The lock is an OS lock (filelock:
fcntl on POSIX, msvcrt on Windows), so it is released when its process ends, however it ends:
a crashed run never leaves the folder blocked. The lock file itself stays (removing it would
race with a process about to lock it), hidden and empty; only a folder the run itself made and
left empty (a run refused before it wrote anything) is removed again, lock file and all.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path

from filelock import FileLock, Timeout

from .files import WriteError, shown, write_json, write_reason

LOCK_NAME = ".gcam-run.lock"
OWNER_NAME = ".gcam-run.owner.json"  # who holds the lock, for the refusal's message only


class FolderBusy(WriteError):
    """The output folder is being written by another run."""


class RunFolder:
    """An output folder held by this process: `with RunFolder(path, "gcam-explain"):`.

    `claim()` creates the folder if needed, then takes the lock without waiting. Re-entrant
    within one process (a nested claim of the same folder is a no-op), so a CLI and the library
    it calls may both claim.
    """

    def __init__(self, folder: str | os.PathLike, program: str) -> None:
        self.folder = Path(folder).expanduser()
        self.program = program
        self._lock = FileLock(str(self.folder / LOCK_NAME), timeout=0, thread_local=False)
        self._made: list[Path] = []  # folders this claim created, deepest last

    def claim(self) -> "RunFolder":
        try:
            if not self._lock.is_locked:
                self._made = [p for p in (self.folder, *self.folder.parents) if not p.exists()][::-1]
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriteError(self.folder, write_reason(exc, self.folder), exc.errno) from None
        try:
            self._lock.acquire()
        except Timeout:
            raise FolderBusy(self.folder, f"another run is writing there ({_owner(self.folder)}); "
                                          "wait for it to finish or choose another folder") from None
        except OSError as exc:  # a read-only folder cannot hold the lock file
            raise WriteError(self.folder, write_reason(exc, self.folder), exc.errno) from None
        if self._lock.lock_counter == 1:
            _write_owner(self.folder, self.program)
        return self

    def release(self) -> None:
        if not self._lock.is_locked:
            return
        last = self._lock.lock_counter == 1
        if last and self._made and _only_ours(self.folder):
            # Still held: nobody else can have written here meanwhile.
            for name in (OWNER_NAME, LOCK_NAME):
                (self.folder / name).unlink(missing_ok=True)
        self._lock.release()
        if last and self._made:
            for made in reversed(self._made):
                try:
                    made.rmdir()  # only if empty: whatever a run wrote stays
                except OSError:
                    break
            self._made = []

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def __enter__(self) -> "RunFolder":
        return self.claim()

    def __exit__(self, *exc) -> None:
        self.release()


def _only_ours(folder: Path) -> bool:
    try:
        return {p.name for p in folder.iterdir()} <= {LOCK_NAME, OWNER_NAME}
    except OSError:
        return False


def _write_owner(folder: Path, program: str) -> None:
    info = {"program": program, "pid": os.getpid(),
            "started": _dt.datetime.now().isoformat(timespec="seconds"),
            "argv": [shown(a) for a in sys.argv[1:]]}
    try:
        write_json(folder / OWNER_NAME, info)
    except OSError:
        pass  # only ever read to word a refusal; the lock itself is what protects the folder


def _owner(folder: Path) -> str:
    try:
        info = json.loads((folder / OWNER_NAME).read_text())
        return f"{info['program']}, process {info['pid']}, started {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
