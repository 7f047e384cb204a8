"""A training run's hold on its run folder, for the whole run (torch-free).

Two gcam-train runs into one folder used to both pass the "already holds a run" check and
interleave their metrics under one config.json. The run now takes the folder's lock
(gcam_desktop/run_folder.py) before that check and keeps it until it ends; a second run, or a
--resume of a run still going, is refused at once with one line.

Which process holds it: the one process; under torchrun, rank 0; with `--nproc-per-node`, the
launcher itself (so the refusal is said once, before any process starts) which tells its
processes through HELD_ENV; rank 0 then trusts it rather than claiming again (a second lock in
another process would be refused).

A folder this run made is removed again when the run ends without having written config.json
(a refused run leaves nothing behind).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from gcam_desktop.run_folder import RunFolder

PROGRAM = "gcam-train"
HELD_ENV = "GCAM_TRAIN_FOLDER_HELD"  # "PID PATH": the launcher PID holds PATH for its processes


class RunClaim:
    """`with RunClaim() as claim: claim.take(folder)`; released (and cleaned up) on exit."""

    def __init__(self) -> None:
        self.folder: Path | None = None
        self._lock: RunFolder | None = None
        self._made = False

    def take(self, folder: str | os.PathLike) -> Path:
        """Hold `folder` (made if missing) until release(); FolderBusy when another run holds it."""
        folder = Path(folder).expanduser()
        if self.folder is not None:
            raise RuntimeError(f"this run already holds {self.folder}")
        made = not folder.exists()
        if not held_by_launcher(folder):
            lock = RunFolder(folder, PROGRAM).claim()
            self._lock = lock
        self.folder, self._made = folder, made
        return folder

    def for_processes(self) -> dict[str, str]:
        """The environment telling the launcher's processes that it holds the folder."""
        if self.folder is None:
            return {}
        return {HELD_ENV: f"{os.getpid()} {self.folder.resolve()}"}

    def release(self) -> None:
        folder, made = self.folder, self._made
        if self._lock is not None:
            self._lock.release()  # first: Windows cannot delete a locked file
        self.folder, self._lock, self._made = None, None, False
        if folder is not None and made and not (folder / "config.json").exists():
            shutil.rmtree(folder, ignore_errors=True)

    def __enter__(self) -> "RunClaim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def held_by_launcher(folder: Path) -> bool:
    """Whether this process's parent, the --nproc-per-node launcher, holds `folder` for it."""
    pid, _, path = os.environ.get(HELD_ENV, "").partition(" ")
    try:
        return int(pid) == os.getppid() and path == str(folder.resolve())
    except (ValueError, OSError):
        return False
