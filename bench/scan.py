"""Folder scan speed: scan_folder over 10,000 files vs a bare os.walk of the same tree.

Goal (issue 2): 10,000 files list in under 2 s. Prints seconds and the ratio to os.walk.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from gcam_desktop.imaging import scan_folder


def main(n: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for i in range(n):
            folder = root / f"class{i % 20}"
            folder.mkdir(exist_ok=True)
            (folder / f"img{i}.png").touch()
        t0 = time.perf_counter()
        walked = sum(len(files) for _, _, files in os.walk(root))
        t_walk = time.perf_counter() - t0
        t0 = time.perf_counter()
        scanned = sum(1 for _ in scan_folder(root))
        t_scan = time.perf_counter() - t0
        assert walked == scanned == n, (walked, scanned)
        print(f"{n} files: scan_folder {t_scan:.3f} s (goal < 2 s: {'ok' if t_scan < 2 else 'over'}), "
              f"os.walk {t_walk:.3f} s, ratio {t_scan / max(t_walk, 1e-9):.2f}x (natural sort + filtering)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
