"""Folder scanning: image files, recursively, in the order a person expects (img2 before img10)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Callable, Iterable, Iterator

from natsort import natsort_keygen, ns

IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
    ".pbm", ".pnm", ".tga", ".ico", ".jfif", ".dib",
})
_natural = natsort_keygen(alg=ns.PATH | ns.IGNORECASE)

OnError = Callable[[Path, str], None]
_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"),
          (stat.S_ISSOCK, "a socket"))


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_sorted(paths: Iterable[str | os.PathLike]) -> list:
    return sorted(paths, key=lambda p: _natural(str(p)))


def not_a_file(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be read as a file, in words (a broken link, a FIFO, a device ...), or
    None for a regular file or a folder. Said the same way whether the path was named or found."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        from gcam_desktop.files import why_missing

        return why_missing(path, "file")
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = next((words for test, words in _KINDS if test(mode)), "a special file")
    via = f" (through the link to {os.readlink(path)})" if os.path.islink(path) else ""
    return f"{kind}{via}, not an image file"


def scan_folder(path: str | os.PathLike, on_error: OnError | None = None,
                exclude: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield image files under `path`: a folder's files in natural order, then its subfolders.

    Hidden files and folders are skipped; symlinked folders are followed once (loops are cut
    by remembering each folder's device and inode); folders in `exclude` (e.g. the run's own
    output folder inside its input) are not entered. Problems go to `on_error(path, message)`
    and the scan goes on: an unreadable folder, and an entry named like an image that is not
    a file (a dangling or looping link, a FIFO, a device), as if that path had been named.
    """
    root = Path(path)
    if root.is_file():
        if is_image_path(root):
            yield root
        return
    if not root.is_dir():
        if on_error:
            from gcam_desktop.files import why_missing

            on_error(root, why_missing(root, "folder"))
        return
    # The excluded folders count as already seen, by identity (a link or another spelling of
    # the same folder is excluded too); the root itself is always scanned.
    seen: set[tuple[int, int]] = {_identity(p) for p in exclude} - {None, _identity(root)}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            ident = _identity(folder, strict=True)
            if ident in seen:
                continue  # a symlink loop, a folder reached twice, or an excluded one
            seen.add(ident)
            with os.scandir(folder) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except OSError as exc:
            if on_error:
                on_error(folder, f"cannot read folder ({exc.strerror or exc})")
            continue
        files, dirs = _sort_entries(entries, folder, on_error)
        for name in sorted(files, key=_natural):
            yield folder / name
        # Pushed in reverse so subfolders are visited in natural order.
        stack.extend(folder / name for name in sorted(dirs, key=_natural, reverse=True))


def _identity(path: str | os.PathLike, strict: bool = False) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        if strict:
            raise
        return None
    return st.st_dev, st.st_ino


def _sort_entries(entries, folder: Path, on_error: OnError | None) -> tuple[list[str], list[str]]:
    """(image file names, folder names) among a folder's entries; image-named entries that are
    not files are reported (a dangling link was skipped without a word)."""
    files, dirs = [], []
    for entry in entries:
        try:
            if entry.is_dir():
                dirs.append(entry.name)
                continue
            if entry.is_file():
                if is_image_path(entry.name):
                    files.append(entry.name)
                continue
        except OSError:
            pass  # a symlink loop: judged below like any other entry that is not a file
        if is_image_path(entry.name) and on_error:
            why = not_a_file(folder / entry.name)
            if why:  # None: it became a file or folder meanwhile
                on_error(folder / entry.name, why)
    return files, dirs
