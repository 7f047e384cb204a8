"""The window fits the screen it opens on (issue 23): its first size (1280 x 800) and a size
restored from a larger screen are bounded by the screen's available area and centred on it;
on a 1024 x 700 or 1366 x 768 screen the window used to run past the edges."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, QSize

from gcam_desktop.app import window_geometry


def fake_screen(monkeypatch, area: QRect) -> None:
    """The window's screen lookup answers `area` as the available geometry."""
    monkeypatch.setattr(window_geometry, "available_geometry", lambda widget: QRect(area))


# The window is placed before it is shown, when Qt does not know the frame yet: the style's title
# bar and border stand in for it, so the shown frame may sit up to half their size off centre.
FRAME_ESTIMATE_SLACK = 20


def frame_of(win) -> QRect:
    return window_geometry.outer_rect(win)


def open_window(make_window, qtbot):
    win = make_window(start_engine=False, resize=False)
    qtbot.waitUntil(lambda: win.similar is not None, timeout=10_000)   # painted, features in
    return win


def assert_fits_centred(win, area: QRect) -> None:
    frame = frame_of(win)
    assert area.contains(frame), f"{frame} runs past {area}"
    off = frame.center() - area.center()
    assert abs(off.x()) <= FRAME_ESTIMATE_SLACK and abs(off.y()) <= FRAME_ESTIMATE_SLACK, \
        f"{frame} is not centred on {area}"


@pytest.mark.parametrize("area", [QRect(0, 0, 1024, 700), QRect(0, 0, 1366, 768), QRect(300, 40, 1024, 700)],
                         ids=["1024x700", "1366x768", "1024x700-offset"])
@pytest.mark.slow
def test_the_first_size_fits_a_small_screen_centred(make_window, qtbot, monkeypatch, area):
    fake_screen(monkeypatch, area)
    win = open_window(make_window, qtbot)
    assert_fits_centred(win, area)
    # as large as the area allows: the frame fills the height, but for the frame's estimate
    assert frame_of(win).height() >= area.height() - 2 * FRAME_ESTIMATE_SLACK


def test_on_a_large_screen_the_first_size_is_1280_by_800_centred(make_window, qtbot, monkeypatch):
    area = QRect(0, 0, 1920, 1080)
    fake_screen(monkeypatch, area)
    win = open_window(make_window, qtbot)
    assert win.size() == QSize(1280, 800)
    assert_fits_centred(win, area)


def test_a_size_restored_from_a_larger_screen_fits_the_smaller_one(make_window, qtbot, monkeypatch):
    fake_screen(monkeypatch, QRect(0, 0, 1920, 1080))
    big = open_window(make_window, qtbot)
    big.setGeometry(60, 40, 1800, 1000)
    big.close()                                     # saves the geometry
    small = QRect(0, 0, 1024, 700)
    fake_screen(monkeypatch, small)
    again = open_window(make_window, qtbot)
    assert_fits_centred(again, small)
