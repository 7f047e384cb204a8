"""One image panel: the picture with an optional explanation map over it, a caption, and
its top-5 predictions. Panels share zoom and pan by linking their view boxes.

The panel keeps what it shows (picture, map, scale, colours, opacity) and hands it to its
canvas, which is attached after the window's first paint (see canvas.py)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFrame, QHBoxLayout, QLabel, QProgressBar, QSizePolicy, QVBoxLayout,
                               QWidget)

from gcam_desktop.app.widgets.elided_label import ElidedLabel

from gcam_desktop.app.common.compositing import safe_levels
from gcam_desktop.app.compare.predictions import PredictionList


class ImagePanel(QFrame):
    hovered = Signal(object)   # (x, y) in displayed-image pixels, or None when the mouse left
    canvas_attached = Signal(object)
    attention_off_toggled = Signal(str, bool)   # panel key, switch on: show the map without attention

    def __init__(self, key: str, title: str, predictions: bool = True, parent=None) -> None:
        super().__init__(parent)
        self.key = key
        self.setObjectName("panel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.title = ElidedLabel(title)
        self.title.setObjectName("panelTitle")
        self.status = ElidedLabel()
        self.status.setObjectName("panelStatus")
        self.status.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.subtitle = ElidedLabel()
        self.subtitle.setObjectName("panelSubtitle")
        self.subtitle.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # What the panel's model knows (in the title row: "6 classes", the names on hover) and,
        # when the picture is clearly outside that, a plain statement below the subtitle.
        self.classes = ElidedLabel()
        self.classes.setObjectName("panelClasses")
        self.knows = ElidedLabel(lines=2)  # at most two lines, the whole statement on hover
        self.knows.setObjectName("panelKnows")
        self.knows.hide()
        for lab in (self.title, self.subtitle, self.status, self.classes):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        self._placeholder = QWidget()
        self._placeholder.setMinimumSize(100, 100)  # as the canvas that replaces it
        self._placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas = None
        self.value = QLabel(" ")
        self.value.setObjectName("panelValue")
        self.value.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.predictions = PredictionList() if predictions else None
        self.info = None if predictions else QLabel()
        if self.info is not None:
            self.info.setObjectName("panelInfo")
            self.info.setWordWrap(True)
            self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            self.info.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            self.info.setFixedHeight(5 * (self.fontMetrics().height() + 4) + 2)
        # SE / s_se panels only: the same explanation with every gate replaced by 1, beside this one.
        self.attention_off = QCheckBox("attention off")
        self.attention_off.setToolTip("Show this model's map with its SE attention switched off (every gate "
                                      "replaced by 1) in a panel beside it, with the change in the top-1 "
                                      "prediction; the difference panel can compare the two")
        self.attention_off.setVisible(False)
        self.attention_off.toggled.connect(lambda on: self.attention_off_toggled.emit(self.key, on))
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title, 3)
        head.addWidget(self.classes, 2)
        head.addWidget(self.status, 2)
        # Beside the subtitle, not the title: in four narrow panels the title kept two letters.
        sub = QHBoxLayout()
        sub.setContentsMargins(0, 0, 0, 0)
        sub.addWidget(self.subtitle, 1)
        sub.addWidget(self.attention_off)

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self._layout.setSpacing(3)
        # A long method's progress (occlusion, RISE): a thin bar along the panel's top edge,
        # outside the layout, so it costs the panels no height (the window fits 1024 x 700).
        self.progress = QProgressBar(self)
        self.progress.setObjectName("panelProgress")
        self.progress.setTextVisible(False)
        self.progress.hide()
        self._layout.addLayout(head)
        self._layout.addLayout(sub)
        self._layout.addWidget(self.knows)
        self._layout.addWidget(self._placeholder, 1)
        self._layout.addWidget(self.value)
        self._layout.addWidget(self.predictions or self.info)

        self.image: np.ndarray | None = None    # H x W x 3 uint8 as displayed
        self.map: np.ndarray | None = None      # H x W float, unnormalised, display resolution
        self.levels = (0.0, 1.0)
        self.lut: np.ndarray | None = None
        self.opacity = 0.5
        self.hover = None
        self.raw_value_label = "value"

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        # The subtitle row as tall with or without the checkbox (measured once styled), so the
        # pictures and predictions of all panels line up.
        extra = max(0, self.attention_off.sizeHint().height() - self.subtitle.fontMetrics().lineSpacing())
        m = self.subtitle.contentsMargins()
        if extra != m.top() + m.bottom():
            self.subtitle.setContentsMargins(0, extra // 2, 0, extra - extra // 2)
            self.subtitle.setText(self.subtitle.text())  # an ElidedLabel fixes its height on setText
        super().showEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self.progress.setGeometry(6, 2, max(0, self.width() - 12), 3)

    def add_footer(self, widget: QWidget) -> None:
        """A widget under the picture, above the info text (the difference panel's colour bar)."""
        self._layout.insertWidget(self._layout.indexOf(self.value) + 1, widget)

    # -- canvas -------------------------------------------------------------------------------
    def attach_canvas(self):
        """Create the pyqtgraph canvas (imports pyqtgraph) and show the current state on it."""
        if self.canvas is not None:
            return self.canvas
        from gcam_desktop.app.compare.canvas import PanelCanvas

        canvas = PanelCanvas()
        self._layout.replaceWidget(self._placeholder, canvas)
        self._placeholder.deleteLater()
        self.canvas = canvas
        canvas.hovered.connect(self.hovered)
        canvas.set_image(self.image)
        if self.map is not None:
            canvas.set_map(self.map, self.lut, self.levels)
        canvas.overlay.setOpacity(self.opacity)
        canvas.show_marker(self.hover)
        self.canvas_attached.emit(canvas)
        return canvas

    @property
    def vb(self):
        return self.attach_canvas().vb

    @property
    def overlay(self):
        return self.attach_canvas().overlay

    @property
    def marker(self):
        return self.attach_canvas().marker

    # -- content --------------------------------------------------------------------------------
    def set_image(self, rgb: np.ndarray | None) -> bool:
        """Show `rgb`; returns whether its size differs from the previous picture's."""
        resized = self.image is None or rgb is None or self.image.shape[:2] != rgb.shape[:2]
        if rgb is not self.image:
            self.image = rgb
            if self.canvas is not None:
                self.canvas.set_image(rgb)
        self.clear_map()
        return resized

    def clear_map(self) -> None:
        if self.map is not None:
            self.map = None
            if self.canvas is not None:
                self.canvas.set_map(None)

    def set_map(self, values: np.ndarray, lut: np.ndarray, levels: tuple[float, float]) -> None:
        """`values`: unnormalised map at the displayed image's size; levels pick the scale."""
        self.map, self.lut, self.levels = values, lut, safe_levels(*levels)
        if self.canvas is not None:
            self.canvas.set_map(values, lut, self.levels)

    def set_levels(self, levels: tuple[float, float]) -> None:
        levels = safe_levels(*levels)
        if levels == self.levels:
            return  # re-rendering the map for nothing costs the UI thread milliseconds
        self.levels = levels
        if self.map is not None and self.canvas is not None:
            self.canvas.overlay.setLevels(levels)

    def set_lut(self, lut: np.ndarray) -> None:
        self.lut = lut
        if self.map is not None and self.canvas is not None:
            self.canvas.overlay.setLookupTable(lut)

    def set_opacity(self, alpha: float) -> None:
        # Qt composites the cached colourised map over the picture: nothing is recomputed.
        self.opacity = float(alpha)
        if self.canvas is not None:
            self.canvas.overlay.setOpacity(self.opacity)

    def set_knowledge(self, classes: str, names_tip: str, outside: str | None = None) -> None:
        """"6 classes" (names on hover) in the title row; a warning when the picture is outside them."""
        self.classes.setText(classes)
        self.classes.setToolTip(names_tip)
        self.knows.setText(f"\u26a0 {outside}" if outside else "")
        self.knows.setToolTip(outside or "")
        self.knows.setVisible(bool(outside))

    def set_progress(self, done: int, total: int) -> None:
        """How far a long method is: "41 %" as the status and the thin bar."""
        percent = int(100 * done / total) if total else 100
        self.set_status(f"{percent} %", "busy")
        self.status.setToolTip(f"{done} of {total} forwards; moving on (another image, method or "
                               f"option) stops it")
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(min(done, max(1, total)))
        self.progress.show()
        self.progress.raise_()

    def set_status(self, text: str, kind: str = "") -> None:
        self.progress.hide()
        self.status.setText(text)
        self.status.setProperty("kind", kind)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def set_error(self, message: str) -> None:
        self.clear_map()
        self.set_status("error", "error")
        self.status.setToolTip(message)
        if self.predictions is not None:
            self.predictions.set_note(message)

    # -- hover ----------------------------------------------------------------------------------
    def value_at(self, x: float, y: float) -> tuple[float, float] | None:
        """(value on the current scale in [0, 1], unnormalised value) under image pixel (x, y)."""
        if self.map is None:
            return None
        h, w = self.map.shape
        xi, yi = int(x), int(y)
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        raw = float(self.map[yi, xi])
        lo, hi = self.levels
        return min(1.0, max(0.0, (raw - lo) / (hi - lo))), raw

    def show_hover(self, pos) -> None:
        self.hover = pos if self.image is not None else None
        if self.canvas is not None:
            self.canvas.show_marker(self.hover)
        if self.hover is None:
            self.value.setText(" ")
            return
        x, y = pos
        v = self.value_at(x, y)
        if v is not None and self.raw_value_label == "A\u2212B":
            self.value.setText(f"x {int(x)}, y {int(y)}   A\u2212B {v[1]:+.3f}")
        elif v is None:
            self.value.setText(f"x {int(x)}, y {int(y)}")
        else:
            self.value.setText(f"x {int(x)}, y {int(y)}   {self.raw_value_label} {v[0]:.3f}  (raw {v[1]:.3g})")
