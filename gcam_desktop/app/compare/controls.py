"""The controls shared by every panel: method, layer, target class, normalisation, colour
map, opacity, and the difference view's pair of panels with their agreement score. Each method
carries its sanity badge (passed / failed / not checked for the models shown) and, on hover,
the evidence per model (app/common/sanity_verdicts.py). The method box groups the methods by
family (app/widgets/method_box.py); below it, for the methods whose options change their cost
(occlusion's patch and stride, RISE's mask count), a small options row shows for them only."""

from __future__ import annotations

from typing import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QSizePolicy, QSlider, QSpinBox, QWidget,
)

from gcam_desktop.app.compare.colorbar import ColorBar
from gcam_desktop.app.common.control_values import NORMALISATIONS, OWN_PREDICTION, ControlValues
from gcam_desktop.app.common.sanity_verdicts import MethodBadge, not_checked
from gcam_desktop.app.widgets.elided_combo import ElidedComboBox
from gcam_desktop.app.widgets.method_box import fill_methods
from gcam_desktop.explain.names import LAYER_METHODS, TOP_REGION, method_label

__all__ = ["Controls", "ControlValues", "NORMALISATIONS", "COST_OPTIONS"]

# The options row: per method, the options that set its cost (forwards per image), each as
# (option name, label, unit, largest value). Which of them a method really takes, and their
# defaults, come from the engine (EngineInfo.method_options): an option the engine lacks is not shown.
COST_OPTIONS: dict[str, tuple[tuple[str, str, str, int], ...]] = {
    "occlusion": (("patch", "Patch", " px", 512), ("stride", "Stride", " px", 512)),
    "rise": (("masks", "Masks", "", 20000),),
}


def _combo(min_chars: int = 10) -> QComboBox:
    return ElidedComboBox(min_chars)


class Controls(QWidget):
    changed = Signal(str)   # name of the control that changed
    note = Signal(str)      # something the user should know about a choice (status bar)

    def __init__(self, values: dict, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("controls")
        self.method = _combo(8)
        self.layer = _combo(6)
        self.target = _combo(7)
        self.norm = _combo(6)
        for key, label in NORMALISATIONS:
            self.norm.addItem(label, key)
        self.cmap = _combo(6)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setMinimumWidth(70)
        self.opacity_label = QLabel()
        self.opacity_label.setMinimumWidth(self.opacity_label.fontMetrics().horizontalAdvance("100%") + 4)
        self.colorbar = ColorBar()
        self.diff_a = _combo(5)
        self.diff_b = _combo(5)
        self.show_diff = QCheckBox("Difference")
        self.show_diff.setToolTip("Show a panel with the first map minus the second (on their current scales)")
        self.agreement = QLabel("Agreement \u2014")
        self.agreement.setObjectName("agreement")
        self.agreement.setToolTip(f"IoU of the {TOP_REGION} regions of the two maps (1 = same region)")
        self.layer.setToolTip("Layer whose activations the CAM methods explain")
        self.target.setToolTip("Class to explain: each model's own prediction, or one class for all")
        self.norm.setToolTip("Per panel: each map spans the full colour range.\n"
                             "Shared scale: one range for all panels, so magnitudes compare.")

        # Two rows that fit a 1280-pixel screen with the image list beside them: what to
        # explain on top; how to show it and which two panels to compare below.
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        col = 0
        self._layer_label = None
        for label, widget in (("Method", self.method), ("Layer", self.layer), ("Class", self.target),
                              ("Scale", self.norm), ("Colours", self.cmap)):
            lab = _label(label, widget)
            self._layer_label = lab if widget is self.layer else self._layer_label
            grid.addWidget(lab, 0, col)
            grid.addWidget(widget, 0, col + 1)
            grid.setColumnStretch(col + 1, 1)
            col += 2
        second = QHBoxLayout()
        second.setSpacing(6)
        second.addWidget(_label("Opacity", self.opacity))
        second.addWidget(self.opacity, 1)
        second.addWidget(self.opacity_label)
        second.addWidget(self.colorbar, 2)
        second.addSpacing(12)
        second.addWidget(QLabel("Compare"))
        second.addWidget(self.diff_a)
        second.addWidget(QLabel("with"))
        second.addWidget(self.diff_b)
        second.addWidget(self.show_diff)
        second.addWidget(self.agreement, 1)
        grid.addLayout(second, 1, 0, 1, col)
        self.options_row = QWidget()
        self.options_row.setObjectName("optionsRow")
        self._options_layout = QHBoxLayout(self.options_row)
        self._options_layout.setContentsMargins(0, 0, 0, 0)
        self._options_layout.setSpacing(6)
        self.option_fields: dict[str, QSpinBox] = {}   # option name -> its field, for the method shown
        self.options_row.setVisible(False)
        # In the Layer box's place: the methods with a cost option explain the input, so the
        # Layer box does not apply to them; a row of its own made the window 27 px taller.
        # A third row, shown for those methods only; the rows' spacing is tight so that the
        # window still fits 1024 x 700 with it (tests/app/test_method_families.py).
        grid.addWidget(self.options_row, 2, 0, 1, col)
        self._engine_options: dict[str, dict] = {}      # method -> {option: engine default}
        self._options: dict[str, dict] = {m: dict(o) for m, o in dict(values.get("method_options") or {}).items()}

        self._setting_layers = False
        self._badges: dict[str, MethodBadge] = {}
        self._layer_choice = str(values.get("layer", "") or "")
        self._apply(values)
        self.set_target_classes([])
        self._update_layer_enabled()
        self.method.currentIndexChanged.connect(lambda _: self._on_method())
        self.layer.currentIndexChanged.connect(lambda _: self._on_layer())
        self.target.currentIndexChanged.connect(lambda _: self.changed.emit("target"))
        self.norm.currentIndexChanged.connect(lambda _: self.changed.emit("normalization"))
        self.cmap.currentIndexChanged.connect(lambda _: self.changed.emit("colormap"))
        self.opacity.valueChanged.connect(self._on_opacity)
        self.diff_a.currentIndexChanged.connect(lambda _: self.changed.emit("diff"))
        self.diff_b.currentIndexChanged.connect(lambda _: self.changed.emit("diff"))
        self.show_diff.toggled.connect(lambda _: self.changed.emit("show_diff"))

    def _apply(self, v: dict) -> None:
        self._wanted = dict(v)  # remembered until the engine tells which choices exist
        self.opacity.setValue(round(float(v.get("opacity", 0.5)) * 100))
        self.opacity_label.setText(f"{self.opacity.value()}%")
        _select(self.norm, v.get("normalization", "per_map"))
        self.show_diff.setChecked(bool(v.get("show_diff", False)))
        for c, text in ((self.method, v.get("method", "gradcam")), (self.cmap, v.get("colormap", "jet"))):
            c.addItem(self._method_text(text) if c is self.method else text, text)
        self._show_badges()
        self.layer.addItem("Default", "")

    def _on_method(self) -> None:
        self._update_layer_enabled()
        self._update_method_tip()
        self._show_options()
        self.changed.emit("method")

    # -- the options row ------------------------------------------------------------------------
    def set_method_options(self, defaults: Mapping[str, Mapping]) -> None:
        """The engine's options and their defaults, per method (EngineInfo.method_options)."""
        self._engine_options = {m: dict(o) for m, o in defaults.items()}
        self._show_options()

    def row_options(self, method: str | None) -> list[tuple[str, str, str, int]]:
        """The options row's fields for `method`: those of COST_OPTIONS the engine takes."""
        takes = self._engine_options.get(method or "", {})
        return [f for f in COST_OPTIONS.get(method or "", ()) if isinstance(takes.get(f[0]), int)]

    def options_for(self, method: str | None) -> dict:
        """The options an explanation with `method` is asked with: the row's values that differ
        from the engine's defaults (a default is not named, so the cache key is the CLI's too)."""
        defaults = self._engine_options.get(method or "", {})
        chosen = self._options.get(method or "", {})
        return {name: chosen[name] for name, *_ in self.row_options(method)
                if name in chosen and chosen[name] != defaults.get(name)}

    def _show_options(self) -> None:
        method = self.method.currentData()
        fields = self.row_options(method)
        while self._options_layout.count():
            item = self._options_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.option_fields = {}
        self.options_row.setVisible(bool(fields))
        if not fields:
            return
        title = QLabel(f"{method_label(method)}:")
        title.setObjectName("optionsTitle")
        self._options_layout.addWidget(title)
        defaults = self._engine_options[method]
        for name, label, unit, top in fields:
            box = QSpinBox()
            box.setRange(1, top)
            box.setSuffix(unit)
            box.setValue(int(self._options.get(method, {}).get(name, defaults[name])))
            box.setKeyboardTracking(False)   # typing "16" asks once, not for 1 and then 16
            box.setToolTip(f"{method_label(method)}'s {name} (default {defaults[name]}): changes how many "
                           f"forwards each map costs")
            box.valueChanged.connect(lambda v, m=method, n=name: self._on_option(m, n, v))
            box.setFixedHeight(min(box.sizeHint().height(), 22))
            self._options_layout.addWidget(_label(label, box))
            self._options_layout.addWidget(box)
            self.option_fields[name] = box
        reset = QLabel("<a href='#'>defaults</a>")
        reset.setToolTip(f"Back to {method_label(method)}'s defaults")
        reset.linkActivated.connect(lambda _l, m=method: self._reset_options(m))
        self._options_layout.addSpacing(6)
        self._options_layout.addWidget(reset)
        self._options_layout.addStretch(1)

    def _on_option(self, method: str, name: str, value: int) -> None:
        self._options.setdefault(method, {})[name] = value
        self.changed.emit("options")

    def _reset_options(self, method: str) -> None:
        if self._options.pop(method, None) is not None:
            self._show_options()
            self.changed.emit("options")

    def _on_layer(self) -> None:
        if not self._setting_layers:  # the user's choice, kept while models come and go
            self._layer_choice = self.layer.currentData() or ""
        self.changed.emit("layer")

    def _update_layer_enabled(self) -> None:
        """The Layer box only for methods that explain a layer; the others explain the input."""
        method = self.method.currentData()
        uses = method in LAYER_METHODS
        self.layer.setEnabled(uses)
        self.layer.setToolTip("Layer whose activations the CAM methods explain" if uses else
                              f"{method_label(method) if method else 'This method'} explains the input "
                              f"pixels, not a layer: the layer does not apply")

    def _on_opacity(self, value: int) -> None:
        self.opacity_label.setText(f"{value}%")
        self.changed.emit("opacity")

    # -- choices the engine offers ------------------------------------------------------------
    def set_methods(self, methods: list[str]) -> None:
        """The engine's methods, grouped by family under headers that cannot be chosen."""
        fill_methods(self.method, methods, self.method.currentData() or self._wanted.get("method", "gradcam"),
                     self._method_text)
        self._show_badges()

    # -- sanity badges --------------------------------------------------------------------------
    def set_method_badges(self, badges: Mapping[str, MethodBadge]) -> None:
        """Each method's sanity badge before its name, its evidence as the item's tooltip (and
        the box's, for the method chosen). A method without one is not checked."""
        self._badges = dict(badges)
        self._show_badges()

    def method_badge(self, method: str) -> MethodBadge:
        return self._badges.get(method) or not_checked(method)

    def _method_text(self, method: str) -> str:
        return f"{self.method_badge(method).mark} {method_label(method)}"

    def _show_badges(self) -> None:
        box = self.method
        for i in range(box.count()):
            if box.itemData(i) is None:
                continue  # a family's header
            badge = self.method_badge(box.itemData(i))
            box.setItemText(i, self._method_text(box.itemData(i)))
            box.setItemData(i, badge.tooltip, Qt.ItemDataRole.ToolTipRole)
            box.setItemData(i, QBrush(QColor(badge.colour)) if badge.colour else None, Qt.ItemDataRole.ForegroundRole)
        # the open list as wide as its longest name (the box itself may be narrower, elided)
        box.view().setMinimumWidth(box.view().sizeHintForColumn(0) + box.view().verticalScrollBar().sizeHint().width())
        self._update_method_tip()

    def _update_method_tip(self) -> None:
        m = self.method.currentData()
        self.method.setToolTip("Explanation method (every method of the engine)"
                               + (f"\n\n{self.method_badge(m).tooltip}" if m else ""))

    def set_colormaps(self, names: list[str]) -> None:
        _refill(self.cmap, [(n, n) for n in names], self._wanted.get("colormap", "jet"))

    def set_layers(self, layers: list[str], defaults: list[str] | None = None) -> None:
        """The layers every shown model has. The user's layer is never dropped silently: with
        no model loaded yet it stays listed; when a model lacks it, Default is used and said.
        `defaults`: the models' default layers (their checkpoints record them), named in the
        "Default" entry so the box shows which layer the maps come from."""
        want = self._layer_choice
        shown = sorted(set(defaults or []))
        label = f"Default ({', '.join(shown)})" if shown else "Default"
        items = [(label, "")] + [(name, name) for name in layers]
        if want and want not in layers and not layers:
            items.append((want, want))  # no model yet to say otherwise: keep the choice
        self._setting_layers = True
        try:
            _refill(self.layer, items, want)
        finally:
            self._setting_layers = False
        if want and layers and want not in layers:
            self.note.emit(f"Layer {want} is not in every model shown; each model's default layer is "
                           f"used until it is")

    def set_target_classes(self, names: list[str]) -> None:
        """Every class any loaded model knows, by name (models may know different classes)."""
        want = self.target.currentData() if self.target.count() else self._wanted.get("target", OWN_PREDICTION)
        items = [("Own prediction", OWN_PREDICTION)] + [(n, n) for n in names]
        if isinstance(want, str) and not names:
            items.append((want, want))  # no model yet to say otherwise: keep the remembered class
        _refill(self.target, items, want if isinstance(want, str) and (want in names or not names) else OWN_PREDICTION)

    def set_diff_choices(self, panels: list[tuple[str, str]]) -> None:
        a = self.diff_a.currentData() or self._wanted.get("diff_a")
        b = self.diff_b.currentData() or self._wanted.get("diff_b")
        items = [(title, slot) for slot, title in panels]
        _refill(self.diff_a, items, a if isinstance(a, str) else (items[0][1] if items else None))
        default_b = items[1][1] if len(items) > 1 else None
        _refill(self.diff_b, items, b if isinstance(b, str) and b != self.diff_a.currentData() else default_b)

    # -- values ---------------------------------------------------------------------------------
    def values(self) -> ControlValues:
        target = self.target.currentData()
        return ControlValues(
            opacity=self.opacity.value() / 100.0,
            colormap=self.cmap.currentData(),
            method=self.method.currentData(),
            layer=self.layer.currentData() or "",
            target=target if isinstance(target, str) else OWN_PREDICTION,
            normalization=self.norm.currentData(),
            diff_a=self.diff_a.currentData(),
            diff_b=self.diff_b.currentData(),
            show_diff=self.show_diff.isChecked(),
            method_options={m: dict(o) for m, o in self._options.items() if o},
        )


def _label(text: str, buddy: QWidget) -> QLabel:
    lab = QLabel(text)
    lab.setBuddy(buddy)
    lab.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
    return lab


def _select(combo: QComboBox, data) -> bool:
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)
    return i >= 0


def _refill(combo: QComboBox, items: list[tuple[str, object]], want) -> None:
    """Replace a combo's items keeping the selection (or `want`) without emitting in between."""
    old = combo.currentData()
    combo.blockSignals(True)
    combo.clear()
    for label, data in items:
        combo.addItem(label, data)
    if not _select(combo, want) and combo.count():
        combo.setCurrentIndex(0)
    combo.blockSignals(False)
    if combo.currentData() != old:
        combo.currentIndexChanged.emit(combo.currentIndex())
