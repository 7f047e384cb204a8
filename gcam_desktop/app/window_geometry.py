"""The window's size and place: the first size, and a restored one, fit the screen's available
area (QScreen.availableGeometry: without task bar and docks), centred on it. A 1280 x 800 first
size ran past the edges of a 1024 x 700 or 1366 x 768 screen; Qt's restoreGeometry keeps a
size saved on a larger screen."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSettings, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QSplitter, QStyle, QWidget

FIRST_SIZE = QSize(1280, 800)
LIST_WIDTH = 250          # the image list's first width; the comparison takes the rest


def available_geometry(widget: QWidget) -> QRect:
    """The available area of the screen the widget is on (the primary one before it is shown)."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    return screen.availableGeometry()


def fit_to_screen(widget: QWidget, size: QSize | None = None) -> None:
    """Resize the widget to `size` (its current size by default), no larger than the screen's
    available area with the window frame, and centre its frame on that area."""
    area = available_geometry(widget)
    frame = frame_extra(widget)
    want = size or widget.size()
    room = QSize(max(1, area.width() - frame.width()), max(1, area.height() - frame.height()))
    # Never below what the layout needs: the window would grow to it when shown, off centre.
    least = widget.minimumSize().expandedTo(widget.minimumSizeHint())
    widget.resize(want.boundedTo(room).expandedTo(least))
    outer = QRect(0, 0, widget.width() + frame.width(), widget.height() + frame.height())
    outer.moveCenter(area.center())
    widget.move(outer.topLeft())   # move() places the frame's top left corner


def frame_extra(widget: QWidget) -> QSize:
    """What the window manager's frame adds (title bar, borders): measured once the window is
    shown, estimated from the style before (Qt knows the frame only after showing)."""
    if widget.isVisible():
        return widget.frameGeometry().size() - widget.geometry().size()
    style = widget.style()
    border = style.pixelMetric(QStyle.PixelMetric.PM_MdiSubWindowFrameWidth)
    return QSize(2 * border, style.pixelMetric(QStyle.PixelMetric.PM_TitleBarHeight) + 2 * border)


def outer_rect(widget: QWidget) -> QRect:
    """The window with its frame, where it is (or will be, once shown)."""
    if widget.isVisible():
        return widget.frameGeometry()
    frame = frame_extra(widget)
    return QRect(widget.pos(), widget.size() + frame)


def restore(widget: QWidget, splitter: QSplitter, qs: QSettings) -> None:
    """The geometry and splitter saved at the last close, fitted to this screen; else the first size."""
    geo = qs.value("geometry")
    if isinstance(geo, QByteArray) and not geo.isEmpty() and widget.restoreGeometry(geo):
        if not available_geometry(widget).contains(outer_rect(widget)):
            fit_to_screen(widget)   # saved on a larger screen, or one no longer there
    else:
        fit_to_screen(widget, FIRST_SIZE)
    state = qs.value("splitter")
    if not (isinstance(state, QByteArray) and not state.isEmpty() and splitter.restoreState(state)):
        splitter.setSizes([LIST_WIDTH, max(400, widget.width() - LIST_WIDTH)])


def save(widget: QWidget, splitter: QSplitter, qs: QSettings) -> None:
    qs.setValue("geometry", widget.saveGeometry())
    qs.setValue("splitter", splitter.saveState())
    qs.sync()
