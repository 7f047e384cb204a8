"""The probe strip: per model, the probe images with the Grad-CAM of an epoch laid over them
(training/probe.py makes the maps), the latest epoch unless the slider is moved back.

Fed by the trainer's `probe` events (the layer's grid maps, no pictures: the pictures are read
here once, from their paths), or by a run folder's probe files. Clicking a picture opens it on
the Compare tab with the weights of the epoch shown, when the run kept them (best.pt, last.pt or
--keep-every's files, as the `checkpoint` events say which epoch each holds); docs/adr/0033.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QFrame, QHBoxLayout, QLabel, QScrollArea, QSlider, QToolButton, QVBoxLayout, QWidget,
)

from gcam_desktop.app.common.qimage import rgb_to_qimage
from gcam_desktop.models.names import arch_label

THUMB = 60          # px: four pictures and the slider fit beside the curves at 1024 x 700
ALPHA = 0.5
CMAP = "turbo"
NAME_CHARS = 11     # a class name under a picture: longer ones end in "…"
KEPT = "epochs"     # training/checkpoints.py KEPT_DIR: --keep-every's files, preferred (they never change)


def map01(grid: np.ndarray) -> np.ndarray:
    """A raw Grad-CAM grid scaled to [0, 1] per map (the Compare tab's default scale); all-zero stays 0."""
    g = np.asarray(grid, dtype=np.float32)
    lo, hi = float(g.min()), float(g.max())
    return (g - lo) / (hi - lo) if hi > lo else np.zeros_like(g)


class Thumbnails:
    """The probe pictures, decoded once per path at strip size (RGB uint8 arrays)."""

    def __init__(self) -> None:
        self._cache: dict[str, np.ndarray | str] = {}

    def get(self, path: str) -> np.ndarray | str:
        """The picture, or why it cannot be shown."""
        if path not in self._cache:
            from gcam_desktop.imaging import ImageLoadError, load_image

            try:
                from PIL import Image

                img = load_image(path, min_size=(THUMB, THUMB))
                scale = THUMB / max(img.width, img.height)  # small pictures too: a 32 px image is shown at 72
                size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
                self._cache[path] = np.asarray(img.resize(size, Image.BILINEAR), dtype=np.uint8)
            except ImageLoadError as exc:
                self._cache[path] = exc.reason
        return self._cache[path]


class ProbeRow(QFrame):
    """One model: its name, the epoch slider, and a picture per probe image."""

    open_probe = Signal(str, str, str)   # arch, checkpoint, image path

    def __init__(self, arch: str, thumbs: Thumbnails, class_names: list[str], weights: dict[str, int],
                 parent=None) -> None:
        super().__init__(parent)
        self.arch, self.thumbs = arch, thumbs
        self.class_names = list(class_names)
        self.epochs: dict[int, dict] = {}       # epoch -> probe event (or the same fields from a file)
        self.weights = weights                  # checkpoint path -> the epoch whose weights it holds (shared)
        self._chosen: int | None = None
        self.setObjectName("probeRow")
        title = QLabel(f"<b>{arch_label(arch)}</b>")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Epoch shown: drag back to see how the maps formed")
        self.slider.valueChanged.connect(self._show)
        self.epoch_label = QLabel("")
        self.epoch_label.setObjectName("probeEpoch")
        # Compact, so two models fit in the room the form leaves at 1024 x 700: name, epoch and
        # slider stacked on the left, the pictures to their right.
        self.slider.setFixedWidth(96)
        left = QVBoxLayout()
        left.setContentsMargins(0, 0, 0, 0)
        left.setSpacing(2)
        left.addWidget(title)
        left.addWidget(self.epoch_label)
        left.addWidget(self.slider)
        left.addStretch(1)
        self.tiles_row = QHBoxLayout()
        self.tiles_row.setContentsMargins(0, 0, 0, 0)
        self.tiles_row.setSpacing(2)
        self.tiles_row.addStretch(1)
        self.tiles: list[QToolButton] = []
        h = QHBoxLayout(self)
        h.setContentsMargins(2, 1, 2, 1)
        h.setSpacing(6)
        h.addLayout(left)
        h.addLayout(self.tiles_row, 1)

    # -- data ---------------------------------------------------------------------------------
    def sorted_epochs(self) -> list[int]:
        return sorted(self.epochs)

    def shown_epoch(self) -> int | None:
        order = self.sorted_epochs()
        return order[self.slider.value()] if order else None

    def add(self, ev: dict) -> None:
        """An epoch's probe; the strip follows the latest epoch unless moved back."""
        following = not self.epochs or self.slider.value() == self.slider.maximum()
        self.epochs[int(ev["epoch"])] = ev
        order = self.sorted_epochs()
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(order) - 1)
        if following:
            self.slider.setValue(len(order) - 1)
        else:  # keep the epoch the user chose in view (an earlier epoch may have come in later)
            self.slider.setValue(order.index(self._chosen))
        self.slider.blockSignals(False)
        self._show()

    def checkpoint_for(self, epoch: int) -> str | None:
        """A file holding exactly this epoch's weights: a kept epoch's, else best.pt, else last.pt."""
        def rank(path: str) -> int:
            p = Path(path)
            return 0 if p.parent.name == KEPT else {"best.pt": 1, "last.pt": 2}.get(p.name, 3)

        held = sorted((p for p, e in self.weights.items() if e == epoch), key=rank)
        return held[0] if held else None

    # -- display ------------------------------------------------------------------------------
    def refresh(self) -> None:
        self._show()

    def _show(self) -> None:
        epoch = self.shown_epoch()
        if epoch is None:
            return
        self._chosen = epoch
        ev = self.epochs[epoch]
        order = self.sorted_epochs()
        ckpt = self.checkpoint_for(epoch)
        self.epoch_label.setText(f"epoch {epoch}/{order[-1]}" if epoch != order[-1] else f"epoch {epoch}")
        self.epoch_label.setToolTip(f"{ev.get('method', 'gradcam')} at {ev.get('layer')}; weights of this epoch: "
                                    + (Path(ckpt).name if ckpt else "not kept (only best.pt, last.pt and "
                                       "--keep-every's epochs are)"))
        paths = list(ev["paths"])
        while len(self.tiles) < len(paths):
            tile = QToolButton()
            tile.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            tile.setIconSize(QSize(THUMB, THUMB))
            tile.setMinimumWidth(THUMB + 18)  # the pictures stay in place when their captions change
            tile.setAutoRaise(True)
            font = tile.font()
            if font.pointSizeF() > 0:
                font.setPointSizeF(font.pointSizeF() * 0.85)  # two caption lines under a small picture
                tile.setFont(font)
            tile.clicked.connect(lambda _=False, k=len(self.tiles): self._open(k))
            self.tiles_row.insertWidget(len(self.tiles), tile)  # before the stretch
            self.tiles.append(tile)
        for k, tile in enumerate(self.tiles):
            tile.setVisible(k < len(paths))
            if k < len(paths):
                self._paint(tile, ev, k, ckpt)

    def _paint(self, tile: QToolButton, ev: dict, k: int, ckpt: str | None) -> None:
        from gcam_desktop.explain.overlay import overlay

        path = ev["paths"][k]
        label, pred = int(ev["labels"][k]), int(ev["predictions"][k])
        conf = float(ev["confidence"][k])
        picture = self.thumbs.get(path)
        if isinstance(picture, str):
            picture_rgb = np.full((THUMB, THUMB, 3), 200, np.uint8)
            problem = f"\n{path}: {picture}"
        else:
            picture_rgb, problem = picture, ""
        grid = np.asarray(ev["maps"][k])
        if not grid.max() > 0:  # Grad-CAM's ReLU left nothing: say so rather than show a dimmed picture only
            problem += "\nThe map is zero: nothing at this layer speaks for the true class yet."
        shown = overlay(picture_rgb, map01(grid), ALPHA, CMAP)
        tile.setIcon(QIcon(QPixmap.fromImage(rgb_to_qimage(shown))))
        verdict = "\u2713" if pred == label else f"\u2717 {self._short(pred)}"
        tile.setText(f"{self._short(label)}\n{verdict} {conf:.0%}")
        tile.setToolTip(f"{Path(path).name}: true class {self._name(label)}, predicted {self._name(pred)} "
                        f"({conf:.1%}); Grad-CAM of the true class after epoch {ev['epoch']}.\n"
                        + (f"Click: open it on the Compare tab with these weights ({Path(ckpt).name})." if ckpt
                           else "This epoch's weights were not kept: pick an epoch whose weights were "
                                "(best.pt, last.pt, or --keep-every's) to open it on the Compare tab.")
                        + problem)
        tile.setEnabled(True)

    def _name(self, label: int) -> str:
        return self.class_names[label] if 0 <= label < len(self.class_names) else str(label)

    def _short(self, label: int) -> str:
        """A class name that fits under a picture (the tooltip has it whole)."""
        name = self._name(label)
        return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "\u2026"

    def _open(self, k: int) -> None:
        epoch = self.shown_epoch()
        if epoch is None:
            return
        ckpt = self.checkpoint_for(epoch)
        if ckpt:
            self.open_probe.emit(self.arch, ckpt, self.epochs[epoch]["paths"][k])


class ProbeStrip(QScrollArea):
    """A row per model, in the order the trainer reports them."""

    open_probe = Signal(str, str, str)   # arch, checkpoint, image path

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.thumbs = Thumbnails()
        self.rows: dict[str, ProbeRow] = {}
        self.weights: dict[str, dict[str, int]] = {}  # arch -> {checkpoint path: epoch of its weights}
        self.class_names: list[str] = []
        inner = QWidget()
        self._layout = QVBoxLayout(inner)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(2)
        self.placeholder = QLabel("The probe images appear here after each epoch, with the Grad-CAM of "
                                  "their true class (Probe, above; 0 there: none).")
        self.placeholder.setWordWrap(True)
        self.placeholder.setObjectName("probePlaceholder")
        self._layout.addWidget(self.placeholder)
        self._layout.addStretch(1)
        self.setWidget(inner)

    def clear(self) -> None:
        for row in self.rows.values():
            row.setParent(None)
            row.deleteLater()
        self.rows.clear()
        self.weights.clear()
        self.placeholder.show()

    def set_class_names(self, names: list[str]) -> None:
        self.class_names = list(names)

    def row(self, arch: str) -> ProbeRow:
        if arch not in self.rows:
            row = ProbeRow(arch, self.thumbs, self.class_names, self.weights.setdefault(arch, {}))
            row.open_probe.connect(self.open_probe)
            self._layout.insertWidget(self._layout.count() - 1, row)
            self.rows[arch] = row
            self.placeholder.hide()
        return self.rows[arch]

    def add_probe(self, ev: dict) -> None:
        self.row(ev["arch"]).add(ev)

    def set_weights(self, arch: str, path: str, epoch: int) -> None:
        """`path` now holds epoch `epoch`'s weights (a checkpoint event; it may precede the probe)."""
        self.weights.setdefault(arch, {})[path] = int(epoch)
        if arch in self.rows:
            self.rows[arch].refresh()

    def forget_weights(self, arch: str, path: str) -> None:
        """`path` no longer holds an epoch's weights (last.pt saved in the middle of an epoch)."""
        if self.weights.get(arch, {}).pop(path, None) is not None and arch in self.rows:
            self.rows[arch].refresh()

    def load_folder(self, arch: str, arch_dir: str | Path, weights: dict[str, int]) -> int:
        """A finished arch's probe files (training/probe.py) and the weights it kept; the number
        of epochs read."""
        from training.probe import read_epochs

        epochs = read_epochs(arch_dir)
        if not epochs:
            return 0
        if not self.class_names:
            self.class_names = list(epochs[0].class_names)
        self.weights.setdefault(arch, {}).update({p: int(e) for p, e in weights.items()})
        row = self.row(arch)
        row.class_names = list(epochs[0].class_names)
        for p in epochs:
            row.add(p.event_fields())
        return len(epochs)
