"""Folder scanning: image files, recursively, in the order a person expects (img2 before img10)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Iterator

from natsort import natsort_keygen, ns

IMAGE_EXTENSIONS = frozenset({
    ".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
    ".pbm", ".pnm", ".tga", ".ico", ".jfif", ".dib",
})
_natural = natsort_keygen(alg=ns.PATH | ns.IGNORECASE)

OnError = Callable[[Path, str], None]


def is_image_path(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def natural_sorted(paths: Iterable[str | os.PathLike]) -> list:
    return sorted(paths, key=lambda p: _natural(str(p)))


def scan_folder(path: str | os.PathLike, on_error: OnError | None = None) -> Iterator[Path]:
    """Yield image files under `path`: a folder's files in natural order, then its subfolders.

    Hidden files and folders are skipped; symlinked folders are followed once (loops are cut
    by remembering each folder's device and inode); an unreadable folder is reported through
    `on_error(path, message)` and the scan goes on.
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
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
            if (st.st_dev, st.st_ino) in seen:
                continue  # a symlink loop or a folder reached twice
            seen.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except OSError as exc:
            if on_error:
                on_error(folder, f"cannot read folder ({exc.strerror or exc})")
            continue
        files, dirs = [], []
        for entry in entries:
            try:
                if entry.is_dir():
                    dirs.append(entry.name)
                elif entry.is_file() and is_image_path(entry.name):
                    files.append(entry.name)
            except OSError:
                continue  # a dangling symlink or an entry that vanished
        for name in sorted(files, key=_natural):
            yield folder / name
        # Pushed in reverse so subfolders are visited in natural order.
        stack.extend(folder / name for name in sorted(dirs, key=_natural, reverse=True))
