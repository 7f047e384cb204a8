"""fetch(): the ImageNet weights file of an architecture, from its cache or downloaded (Qt-free).

Above both transports: download.py (a plain URL, torchvision's weights) and hub_download.py
(the Hugging Face hub, timm's), which pretrained.py's one provider table tells apart.
"""

from __future__ import annotations

import threading
from pathlib import Path

from .download import TIMEOUT_S, Transfer, _download_url, _signals_end, _terminal_bar, stall_limits
from .hub_download import download_hf
from .pretrained import Progress, parse_ref, source
from .pretrained_refs import is_pretrained_ref
from .weights_hash import check_cached, expected_sha256


def fetch(arch: str, progress: Progress | None = None, cancel: threading.Event | None = None,
          timeout: float = TIMEOUT_S, stall: tuple[int, float] | None = None) -> Path:
    """The weights file of `arch` (an arch or "imagenet:ARCH"): from the cache, else downloaded.

    `progress(done, total)` is called during a download (default: a tqdm bar on a terminal);
    setting `cancel` stops it with DownloadCancelled; fewer than `stall` = (bytes, seconds)
    (default: stall_limits()) ends it with a PretrainedError. A cached file whose name carries
    a hash that its content does not match raises PretrainedError naming it.
    """
    if is_pretrained_ref(arch):
        arch = parse_ref(arch)
    src = source(arch)
    if src.cache_path.is_file():
        check_cached(src.ref, src.cache_path)
        return src.cache_path
    bar = None
    if progress is None:
        bar = _terminal_bar(f"{src.ref} ({src.provider})")

        def progress(done: int, total: int | None) -> None:
            bar.total = total
            bar.update(done - bar.n)

    def transfer(report: Progress, expect: str | None = None) -> Transfer:
        return Transfer(src, report, cancel, stall or stall_limits(), timeout, expect)

    try:
        if src.provider == "torchvision":  # a plain URL; the hub has its own client
            job = transfer(progress, expected_sha256(src.cache_path))
            with _signals_end(job):
                _download_url(src, job, timeout)
            return src.cache_path
        return download_hf(src, transfer(progress), transfer(lambda done, total: None), timeout)[0]
    finally:
        if bar is not None:
            bar.close()
