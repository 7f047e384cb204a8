"""Gets imagenet:ARCH weights ready for a slot, off the UI thread: from the cache at once, else
downloaded with progress for the slot's card and a Cancel (models/pretrained.py does the work).

The inference worker then loads the pseudo-path from the cache like any checkpoint, so it never
blocks on a download and the panels stay live meanwhile.
"""

from __future__ import annotations

from PySide6.QtCore import Signal

from gcam_desktop.app.common.worker_thread import WorkerThread


class _Cancel:
    """The running command's cancel flag, in the form models.fetch.fetch polls."""

    def __init__(self, thread: WorkerThread) -> None:
        self._thread = thread

    def is_set(self) -> bool:
        return self._thread.cancelled()


class WeightsDownloader(WorkerThread):
    progress = Signal(str, str, object, object)   # slot, ref, bytes so far, total bytes (or None)
    ready = Signal(str, str)                      # slot, ref: in the cache now
    failed = Signal(str, str, str)                # slot, ref, one-line reason
    cancelled_download = Signal(str, str)         # slot, ref
    cached = Signal(list)                         # the imagenet:ARCH refs found in the cache

    def __init__(self) -> None:
        super().__init__("gcam-weights", nice=5, autostart=True)
        self.current: str | None = None           # the slot whose download is running

    def prepare(self, slot: str, ref: str) -> None:
        self.call(self._prepare, slot, ref)

    def find_cached(self) -> None:
        """Emit `cached` with the ImageNet weights already on disk (no network)."""
        self.call(self._find_cached)

    def _find_cached(self) -> None:
        from gcam_desktop.models.pretrained import PRETRAINED_ARCHS, PREFIX, find_cached

        found = []
        for arch in PRETRAINED_ARCHS:
            try:
                if find_cached(arch) is not None:
                    found.append(PREFIX + arch)
            except Exception:  # a broken cache folder: as if nothing were there
                pass
        self.cached.emit(found)

    def cancel_slot(self, slot: str) -> None:
        if self.current == slot:
            self.cancel()

    def _prepare(self, slot: str, ref: str) -> None:
        from gcam_desktop.models.fetch import fetch
        from gcam_desktop.models.pretrained import DownloadCancelled, PretrainedError

        self.current = slot
        shown = [-1]

        def progress(done: int, total: int | None) -> None:
            step = int(done * 200 / total) if total else done >> 20  # 0.5 % or 1 MiB steps
            if step != shown[0]:
                shown[0] = step
                self.progress.emit(slot, ref, done, total)

        try:
            fetch(ref, progress=progress, cancel=_Cancel(self))
        except DownloadCancelled:
            self.cancelled_download.emit(slot, ref)
            return
        except PretrainedError as exc:
            self.failed.emit(slot, ref, str(exc))
            return
        except Exception as exc:  # a bug or a full disk: said in the card, not a crash
            self.failed.emit(slot, ref, f"{ref}: {type(exc).__name__}: {exc}")
            return
        finally:
            self.current = None
        self.ready.emit(slot, ref)
