"""Images in: real drops of files and folders, background scans, lazy thumbnails, bad files."""

from __future__ import annotations

import pytest
import shutil
import threading
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from qt_settle import settle


def drop(widget, paths, pos=None) -> bool:
    """Drag-enter then drop local paths on `widget`, as a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = pos or widget.rect().center()
    enter = QDragEnterEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    if not enter.isAccepted():
        return False
    ev = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)
    return ev.isAccepted()


def test_drop_files_and_folders_fill_the_list(qtbot, make_window, image_folder_3cls, tmp_path):
    win = make_window(start_engine=False)
    # A path with a space and non-ASCII characters: toLocalFile() must decode it.
    odd = tmp_path / "my images ü"
    odd.mkdir()
    single = odd / "one pic.png"
    shutil.copy(next(image_folder_3cls.rglob("*.png")), single)
    assert drop(win, [single])
    qtbot.waitUntil(lambda: win.list_model.rowCount() == 1, timeout=5000)
    assert win.list_model.paths[0] == str(single)
    assert drop(win, [image_folder_3cls, single])      # a folder, and the same file again (no duplicate)
    n = len(list(image_folder_3cls.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n + 1, timeout=10_000)
    qtbot.waitUntil(lambda: not win.scanner.busy(), timeout=5000)
    assert win.list_model.rowCount() == n + 1
    assert win.settings["recent_folders"][0] == str(image_folder_3cls)
    # Within a folder, natural order: img2 before img10.
    names = [Path(p).name for p in win.list_model.paths[1:]]
    first_class = [nm for nm, p in zip(names, win.list_model.paths[1:]) if Path(p).parent == Path(win.list_model.paths[1]).parent]
    assert first_class == sorted(first_class, key=lambda s: [int(t) if t.isdigit() else t for t in
                                                            __import__("re").split(r"(\d+)", s)])


def test_drop_of_non_local_or_non_image_data(qtbot, make_window, tmp_path):
    win = make_window(start_engine=False)
    mime = QMimeData()
    mime.setUrls([QUrl("https://example.com/cat.png")])
    enter = QDragEnterEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(win, enter)
    assert not enter.isAccepted()           # nothing is downloaded
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    messages = []
    win.statusBar().messageChanged.connect(messages.append)
    assert drop(win, [text])
    qtbot.waitUntil(lambda: any("not an image" in m for m in messages), timeout=5000)
    assert win.list_model.rowCount() == 0


@pytest.mark.slow
def test_big_folder_scans_in_background_without_freezing(qtbot, make_window, tmp_path, monkeypatch):
    from gcam_desktop.app.images import folder_scan

    root = tmp_path / "big"
    for c in range(10):
        (root / f"c{c}").mkdir(parents=True)
    n = 3000
    for i in range(n):
        (root / f"c{i % 10}" / f"img{i}.png").touch()   # empty files: listing must not decode
    # The scan is held after one full batch until the list shows rows: it goes on only if the
    # UI thread keeps handling events while a scan runs, which it does in a thread of its own.
    held_at, rows_shown, scan_threads = folder_scan.BATCH_MAX, threading.Event(), set()
    real_scan = folder_scan.scan_folder

    def held_scan(*args, **kwargs):
        scan_threads.add(threading.get_ident())
        for i, path in enumerate(real_scan(*args, **kwargs)):
            if i == held_at:
                rows_shown.wait(30)
            yield path

    monkeypatch.setattr(folder_scan, "scan_folder", held_scan)
    win = make_window(start_engine=False)
    try:
        win.add_paths([root])
        qtbot.waitUntil(lambda: win.list_model.rowCount() > 0, timeout=30_000)
        rows_mid_scan = win.list_model.rowCount()
    finally:
        rows_shown.set()
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=30_000)
    assert scan_threads and threading.main_thread().ident not in scan_threads
    assert 0 < rows_mid_scan <= held_at < n, "rows should arrive while the scan is still under way"
    # Lazy: only rows that were painted asked for thumbnails, not the whole folder. repaint()
    # paints the visible rows now, so every thumbnail the view wants has been asked for.
    win.image_list.view.viewport().repaint()
    asked = len(win.thumbnails.cache) + len(win.thumbnails.errors) + win.thumbnails.pending()
    assert 0 < asked < 200


def test_thumbnail_cache_is_bounded_by_bytes(qtbot, tmp_path):
    from PySide6.QtCore import QThreadPool

    from gcam_desktop.app.images.thumbnails import ThumbnailLoader

    paths = []
    for i in range(12):
        p = tmp_path / f"im{i}.png"
        Image.fromarray(np.full((120, 90, 3), i * 20, np.uint8)).save(p)
        paths.append(str(p))
    pool = QThreadPool()
    loader = ThumbnailLoader(pool, size=64, max_bytes=5 * 64 * 64 * 3)
    try:
        for p in paths:
            loader.get(p)
        qtbot.waitUntil(lambda: loader.pending() == 0, timeout=10_000)
        settle()  # the last thumbnails' queued deliveries
        one = 64 * 48 * 3   # 120 x 90 scaled to fit 64 x 64
        assert loader.cache.bytes <= loader.cache.max_bytes
        assert len(loader.cache) == loader.cache.max_bytes // one < len(paths)
        img = loader.cache.get(next(p for p in reversed(paths) if p in loader.cache))
        assert max(img.width(), img.height()) == 64          # thumbnails, not full pictures
    finally:
        loader.shutdown()
        pool.waitForDone()


def test_bad_image_shows_its_reason_and_the_rest_works(qtbot, make_window, image_folder_3cls, tmp_path):
    good = tmp_path / "good.png"
    shutil.copy(next(image_folder_3cls.rglob("*.png")), good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    win = make_window(start_engine=False)
    win.add_paths([bad, good])
    qtbot.waitUntil(lambda: win.list_model.rowCount() == 2, timeout=5000)
    win.image_list.select_path(str(bad))
    qtbot.waitUntil(lambda: str(bad) in win.list_model.errors, timeout=10_000)
    reason = win.list_model.errors[str(bad)]
    assert "not an image" in reason or "corrupt" in reason or "cannot" in reason
    row = win.list_model.index(win.list_model.row_of(str(bad)))
    assert reason in row.data(Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: str(bad) in win.statusBar().currentMessage(), timeout=5000)
    win.image_list.select_path(str(good))
    qtbot.waitUntil(lambda: win.view.original.image is not None, timeout=10_000)
    assert str(good) not in win.list_model.errors


def test_keyboard_moves_through_the_list(qtbot, make_window, image_folder_3cls):
    win = make_window(start_engine=False)
    win.add_paths([image_folder_3cls])
    n = len(list(image_folder_3cls.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n, timeout=10_000)
    view = win.image_list.view
    view.setFocus()
    seen = []
    win.image_list.current_changed.connect(seen.append)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 2
    assert win.explanations.path == win.list_model.paths[2]
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.currentIndex().row() > 2
    qtbot.keyClick(view, Qt.Key.Key_Up)
    assert seen and seen[-1] == win.explanations.path


def test_quality_tab_follows_the_current_image_and_folder(qtbot, make_window, image_folder_3cls):
    win = make_window(start_engine=False)
    qtbot.waitUntil(lambda: win.quality is not None, timeout=10_000)   # joins after the first paint
    assert win.tabs.tabText(win.tabs.indexOf(win.quality)) == "Quality"
    win.add_paths([image_folder_3cls])
    n = len(list(image_folder_3cls.rglob("*.png")))
    qtbot.waitUntil(lambda: win.list_model.rowCount() == n and not win.scanner.busy(), timeout=10_000)
    assert win.quality.folder_paths == win.list_model.paths and win.quality.folder_root == str(image_folder_3cls)
    win.image_list.step(1)
    assert win.quality.image_path == win.explanations.path
    assert not win.quality.thread_running()          # nothing scored while the tab is hidden
