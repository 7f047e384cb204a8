"""A builder of file-name and folder-entry trouble (issue 24): names that are not UTF-8, names
at the length limit, entries that are not files (FIFO, dangling link, link to a device, link
loop) and names a spreadsheet would run as formulas. Each function makes its files in the
folder it is given and returns their paths; tests of every entry point that reads a folder
(gcam-explain, the app's batch export through explain_paths, the scanner) build from here."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

NON_UTF8_NAME = b"latin1-\xe9\xff.png"  # Latin-1 bytes: not UTF-8, fine for a Linux file system
NON_UTF8_FOLDER = b"dossier-\xe9"
# The cells OWASP names as formula starts (=, +, -, @, tab, CR), and one plain name.
FORMULA_CLASSES = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\tTAB", "\rCR", "plain"]
FORMULA_FILE = "=HYPERLINK(1).png"
LONG_STEM_BYTES = 250  # the image's own name fits (250 + ".png"); its map's name would not


def image(path: str | os.PathLike | bytes, seed: int = 0, size: tuple[int, int] = (24, 32)) -> Path:
    """A small random PNG at `path` (bytes: a name that need not be UTF-8)."""
    from PIL import Image

    path = os.fsdecode(path)  # a str with surrogate escapes stands for the very bytes
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return Path(path)


def non_utf8_images(folder: Path) -> list[Path]:
    """An image whose name is not UTF-8, and another inside a folder whose name is not UTF-8."""
    base = os.fsencode(folder)
    return [image(os.path.join(base, NON_UTF8_NAME), seed=1),
            image(os.path.join(base, NON_UTF8_FOLDER, b"inner.png"), seed=2)]


def long_name_image(folder: Path) -> Path:
    """An image whose name is LONG_STEM_BYTES + 4 bytes long, with a two-byte letter at the cut."""
    stem = "\u00e9" + "x" * (LONG_STEM_BYTES - 2)
    assert len(stem.encode()) == LONG_STEM_BYTES
    return image(folder / f"{stem}.png", seed=3)


def formula_image(folder: Path) -> Path:
    return image(folder / FORMULA_FILE, seed=4)


def not_files(folder: Path) -> dict[str, Path]:
    """Entries named like images that are not files: {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {"dangling": folder / "dangling.png", "fifo": folder / "fifo.png",
            "device": folder / "device.png", "loop": folder / "loop.png"}
    os.symlink(folder / "gone.png", made["dangling"])
    os.mkfifo(made["fifo"])
    os.symlink(os.devnull, made["device"])
    os.symlink(made["loop"], made["loop"])
    return made
