"""Paths out of drag-and-drop data, labelme style: local file URLs only, via toLocalFile()."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QUrl

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".safetensors")
# The file dialogs' filter for checkpoints (slot cards, the Training tab's start-from box).
CHECKPOINT_FILTER = "Checkpoints (" + " ".join(f"*{s}" for s in CHECKPOINT_SUFFIXES) + ");;All files (*)"


def local_paths(mime: QMimeData | None) -> list[Path]:
    """Local files and folders in a drop; remote URLs are ignored (nothing is downloaded)."""
    if mime is None:
        return []
    urls: list[QUrl] = list(mime.urls()) if mime.hasUrls() else []
    if not urls and mime.hasText():
        # Some file managers and terminals drop plain text lines of paths or file:// URLs.
        urls = [QUrl(line.strip()) if "://" in line else QUrl.fromLocalFile(line.strip())
                for line in mime.text().splitlines() if line.strip()]
    out = []
    for url in urls:
        if url.isLocalFile():
            local = url.toLocalFile()  # decodes %20 etc. and drops the scheme and host
            if local:
                out.append(Path(local))
    return out


def is_checkpoint_path(path: Path) -> bool:
    return path.suffix.lower() in CHECKPOINT_SUFFIXES
