"""The image list: a flat model of paths with lazy thumbnails and per-file load errors."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView, QLabel, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem,
    QVBoxLayout, QWidget,
)

from gcam_desktop.app.images.thumbnails import ThumbnailLoader

PathRole = Qt.ItemDataRole.UserRole + 1
ErrorRole = Qt.ItemDataRole.UserRole + 2
FolderRole = Qt.ItemDataRole.UserRole + 3


class ImageListModel(QAbstractListModel):
    """Paths in the order they were added (each folder in natural order); duplicates ignored."""

    def __init__(self, thumbnails: ThumbnailLoader, parent=None) -> None:
        super().__init__(parent)
        self.thumbnails = thumbnails
        self.paths: list[str] = []
        self._row: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        thumbnails.ready.connect(self._refresh_path)
        thumbnails.failed.connect(self.set_error)

    # -- Qt model API -------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.paths)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.paths):
            return None
        path = self.paths[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(path).name
        if role == PathRole:
            return path
        if role == ErrorRole:
            return self.errors.get(path)
        if role == FolderRole:
            return Path(path).parent.name
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.get(path)  # None until decoded; the delegate draws a placeholder
        if role == Qt.ItemDataRole.ToolTipRole:
            err = self.errors.get(path)
            return f"{path}\n\u26a0 {err}" if err else path
        return None

    # -- editing --------------------------------------------------------------------------
    def add_paths(self, paths) -> int:
        new = []
        for p in paths:
            p = str(p)
            if p not in self._row:
                self._row[p] = len(self.paths) + len(new)
                new.append(p)
        if new:
            first = len(self.paths)
            self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
            self.paths.extend(new)
            self.endInsertRows()
        return len(new)

    def clear(self) -> None:
        self.beginResetModel()
        self.paths.clear()
        self._row.clear()
        self.errors.clear()
        self.endResetModel()

    def row_of(self, path: str) -> int:
        return self._row.get(str(path), -1)

    def set_error(self, path: str, reason: str) -> None:
        self.errors[path] = reason
        self._refresh_path(path)

    def _refresh_path(self, path: str) -> None:
        row = self._row.get(path)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)


class ImageDelegate(QStyledItemDelegate):
    """Thumbnail, file name, and below it the folder (often the true class) or the error."""

    THUMB = 48
    PAD = 4

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(200, self.THUMB + 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        style = option.widget.style() if option.widget else None
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = type(opt.icon)()
        opt.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        if style:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)
        r = option.rect
        thumb_rect = QRect(r.left() + self.PAD, r.top() + self.PAD, self.THUMB, self.THUMB)
        img = index.data(Qt.ItemDataRole.DecorationRole)
        error = index.data(ErrorRole)
        if img is not None and not img.isNull():
            scaled = img.size().scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, scaled.width(), scaled.height())
            target.moveCenter(thumb_rect.center())
            painter.drawImage(target, img)
        else:
            painter.fillRect(thumb_rect, option.palette.color(QPalette.ColorRole.AlternateBase))
            if error:
                painter.setPen(QColor("#c0392b"))
                painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, "\u26a0")
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_color = option.palette.color(
            QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        text_left = thumb_rect.right() + 2 * self.PAD
        text_w = max(10, r.right() - text_left - self.PAD)
        fm = option.fontMetrics
        line_h = fm.height()
        top = r.top() + (r.height() - 2 * line_h) // 2
        name_font = QFont(option.font)
        name_font.setBold(True)
        painter.setFont(name_font)
        painter.setPen(text_color)
        name = painter.fontMetrics().elidedText(index.data(Qt.ItemDataRole.DisplayRole) or "",
                                                Qt.TextElideMode.ElideMiddle, text_w)
        painter.drawText(QRect(text_left, top, text_w, line_h), Qt.AlignmentFlag.AlignVCenter, name)
        painter.setFont(option.font)
        if error:
            painter.setPen(QColor("#ff8a80") if selected else QColor("#c0392b"))
            second = f"\u26a0 {error}"
        else:
            c = QColor(text_color)
            c.setAlpha(170)
            painter.setPen(c)
            second = index.data(FolderRole) or ""
        second = fm.elidedText(second, Qt.TextElideMode.ElideRight, text_w)
        painter.drawText(QRect(text_left, top + line_h, text_w, line_h), Qt.AlignmentFlag.AlignVCenter, second)
        painter.restore()


class ImageList(QWidget):
    """The list and its header; emits `current_changed(path)` as the selection moves."""

    current_changed = Signal(str)

    def __init__(self, model: ImageListModel, parent=None) -> None:
        super().__init__(parent)
        self.model = model
        self.header = QLabel()
        self.header.setObjectName("sectionHeader")
        self.view = QListView()
        self.view.setObjectName("imageList")
        self.view.setModel(model)
        self.view.setItemDelegate(ImageDelegate(self.view))
        self.view.setUniformItemSizes(True)  # O(1) layout: 10,000 rows scroll smoothly
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(180)
        self.placeholder = QLabel("Drop images or folders here,\nor use Open files / Open folder.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self.header)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.placeholder, 1)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        model.rowsInserted.connect(self._update_header)
        model.modelReset.connect(self._update_header)
        self._update_header()

    def _update_header(self, *args) -> None:
        n = self.model.rowCount()
        self.header.setText(f"Images ({n:,})" if n else "Images")
        self.view.setVisible(n > 0)
        self.placeholder.setVisible(n == 0)
        if n and not self.view.currentIndex().isValid():
            self.view.setCurrentIndex(self.model.index(0))

    def _on_current(self, current: QModelIndex, previous: QModelIndex) -> None:
        if current.isValid():
            self.current_changed.emit(current.data(PathRole))

    def current_path(self) -> str | None:
        idx = self.view.currentIndex()
        return idx.data(PathRole) if idx.isValid() else None

    def select_path(self, path: str) -> bool:
        row = self.model.row_of(path)
        if row < 0:
            return False
        self.view.setCurrentIndex(self.model.index(row))
        return True

    def step(self, delta: int) -> None:
        n = self.model.rowCount()
        if not n:
            return
        row = self.view.currentIndex().row() if self.view.currentIndex().isValid() else -1
        self.view.setCurrentIndex(self.model.index(max(0, min(n - 1, row + delta))))
