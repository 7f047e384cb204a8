"""Keeps the comparison view in step with the current image, the slots and the controls.

Asks the worker for one explanation per active panel, shows results as they come, and
applies what needs no model (colour map, scale, opacity, difference) on the UI thread from
the cached maps: the opacity slider only changes how the cached colourised map is composited.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from gcam_desktop.app.common.byte_cache import ByteBoundedCache
from gcam_desktop.app.compare.comparison_view import ComparisonView
from gcam_desktop.app.common.compositing import difference, normalise
from gcam_desktop.explain.overlay import DIVERGING, resize_map
from gcam_desktop.app.compare.controls import Controls
from gcam_desktop.explain.names import TOP_REGION, method_label
from gcam_desktop.app.images.display_image import DisplayImageLoader
from gcam_desktop.app.inference.service import InferenceService
from gcam_desktop.models.knowledge import describe_classes, outside_world
from gcam_desktop.models.names import ATTENTION_ARCHS, arch_label
from gcam_desktop.app.inference.messages import (OWN_PREDICTION, EngineInfo, ExplainRequest, ExplainResult,
                                                 as_options, image_key, off_channel)
from gcam_desktop.app.slots.slot_manager import SlotManager

DISPLAY_MAP_BYTES = 192 * 1024 * 1024   # upsampled maps kept for going back and forth


class ExplanationController(QObject):
    image_failed = Signal(str, str)        # path, reason (list + status bar show it)
    message = Signal(str, int)
    results_changed = Signal()             # the panels' results changed (export, quality tab)

    def __init__(self, service: InferenceService, slots: SlotManager, controls: Controls,
                 view: ComparisonView, images: DisplayImageLoader, parent=None) -> None:
        super().__init__(parent)
        self.service, self.slots, self.controls, self.view, self.images = service, slots, controls, view, images
        self.path: str | None = None
        self.image_key: tuple | None = None
        self.display: np.ndarray | None = None
        self.results: dict[str, ExplainResult] = {}
        self._maps: ByteBoundedCache[np.ndarray] = ByteBoundedCache(DISPLAY_MAP_BYTES, _nbytes)   # upsampled, per result
        self._lut_cache: dict[str, np.ndarray] = {}
        self.lut_fn = None            # colormap name -> (256, 3) uint8, once the engine is up
        self.diverging = None
        self.attention_off: set[str] = set()   # slots whose "attention off" switch is on
        self._switches: set[int] = set()       # panels whose switch is connected already
        service.result_ready.connect(self._on_result)
        service.worker.started_request.connect(self._on_started)
        service.worker.progress.connect(self._on_progress)
        images.loaded.connect(self._on_display)
        images.failed.connect(self._on_display_failed)
        controls.changed.connect(self._on_control)
        slots.changed.connect(self.update_panels)

    # -- inputs ---------------------------------------------------------------------------
    def engine_ready(self, info: EngineInfo) -> None:
        from gcam_desktop.explain import overlay   # torch is loaded by now: no UI stall

        self.lut_fn = overlay.colormap_lut
        names = list(info.colormaps)
        self.diverging = next((n for n in DIVERGING if n in names), names[0] if names else None)
        self.controls.set_method_options(info.method_options)
        self.controls.set_methods(list(info.methods))
        self.controls.set_colormaps(names)
        self._apply_lut()
        self.refresh()

    def set_image(self, path: str | None) -> None:
        if path == self.path:
            return
        self.path = path
        self.image_key = image_key(path) if path else None
        self.results.clear()
        arr = self.images.request(path) if path else None
        self.display = arr
        self.view.set_image(arr)
        self._show_original_info()
        self.refresh()

    def _on_display(self, path: str, arr: np.ndarray) -> None:
        if path != self.path:
            return
        self.display = arr
        self.view.set_image(arr)
        self._show_original_info()
        for slot, res in self.results.items():
            self._show(slot, res)
        self._update_shared()

    def _on_display_failed(self, path: str, reason: str) -> None:
        if path == self.path:
            self.view.original.set_status("cannot read", "error")
            self.view.original.info.setText(f"\u26a0 {reason}")
        self.image_failed.emit(path, reason)

    def update_panels(self) -> None:
        panels = []
        for slot, title in self.slots.panels():
            panels.append((slot, title))
            if slot in self.attention_off and self._has_attention(slot):
                panels.append((off_channel(slot), f"{title} · attention off"))
        self.view.set_panels(panels)
        for key, panel in self.view.panels.items():
            if id(panel) not in self._switches:
                self._switches.add(id(panel))
                panel.attention_off_toggled.connect(self.set_attention_off)
            switchable = key in self.slots.states and self._has_attention(key)
            panel.attention_off.setVisible(switchable)
            panel.attention_off.blockSignals(True)
            panel.attention_off.setChecked(switchable and key in self.attention_off)
            panel.attention_off.blockSignals(False)
        self.controls.set_diff_choices([(slot, slot) for slot, _ in panels])
        self.controls.set_target_classes(self.slots.class_names())
        layer_sets = [set(s.info.layers) for s in self.slots.active()]
        common = sorted(set.intersection(*layer_sets), key=_layer_order) if layer_sets else []
        self.controls.set_layers(common, [s.info.default_layer for s in self.slots.active()])
        self.view.set_opacity(self.controls.values().opacity)
        self.refresh()

    def _has_attention(self, slot: str) -> bool:
        st = self.slots.states.get(slot)
        return st is not None and st.info is not None and st.info.arch in ATTENTION_ARCHS

    def set_attention_off(self, slot: str, on: bool) -> None:
        """The slot's "attention off" switch: a panel beside it with the same explanation made
        with every SE gate replaced by 1 (explain(attention="off"); the model is not changed)."""
        if on:
            self.attention_off.add(slot)
        else:
            self.attention_off.discard(slot)
            self.results.pop(off_channel(slot), None)
            self.service.cancel_channel(off_channel(slot))
        self.update_panels()

    def _on_control(self, name: str) -> None:
        v = self.controls.values()
        if name == "opacity":
            self.view.set_opacity(v.opacity)
        elif name == "colormap":
            self._apply_lut()
        elif name == "normalization":
            self._update_shared()
        elif name in ("diff", "show_diff"):
            self.view.set_show_diff(v.show_diff)
            self._update_diff()
        else:  # method, layer, target: new explanations
            self.refresh()

    # -- requests -------------------------------------------------------------------------
    def refresh(self) -> None:
        """(Re)request every enabled panel's explanation for the current image and controls."""
        v = self.controls.values()
        for st in self.slots.enabled():
            panel = self.view.panels.get(st.name)
            if panel is None:
                continue
            if st.info is None:
                self.results.pop(st.name, None)
                self.results.pop(off_channel(st.name), None)
                self.service.cancel(st.name)
                panel.clear_map()
                # Real progress while the first map is on its way: the engine, then the file.
                if st.loading and not self.service.ready:
                    panel.set_status("starting the engine\u2026", "busy")
                    note = "starting the engine (torch), then this model\u2026"
                elif st.loading:
                    panel.set_status("loading model\u2026", "busy")
                    note = f"loading {Path(st.loading).name}\u2026" if st.loading != "untrained" else "building\u2026"
                else:
                    panel.set_status("")
                    note = f"no model \u2014 open a {arch_label(st.arch)} checkpoint (card above) or train one"
                if st.error and not st.loading:
                    note = st.error
                panel.subtitle.setText("")
                panel.predictions.set_note(note)
                continue
            if self.path is None or not self.service.ready or not v.method:
                if self.path is not None and not self.service.ready:
                    panel.set_status("starting the engine\u2026", "busy")
                continue
            modes = ["on", "off"] if off_channel(st.name) in self.view.order else ["on"]
            options = as_options(self.controls.options_for(v.method))
            for attention in modes:
                req = ExplainRequest(slot=st.name, path=self.path, image_key=self.image_key,
                                     model_token=st.info.token, method=v.method, layer=v.layer,
                                     target=v.target, attention=attention, options=options)
                old = self.results.get(req.channel)
                if old is not None and old.request.key == req.key:
                    continue
                hit = self.service.request(req)
                if hit is not None:
                    self.results[req.channel] = hit
                    self._show(req.channel, hit)
                else:
                    waiting = self.view.panels[req.channel]
                    waiting.set_status("queued\u2026", "busy")
                    if old is None or old.request.method != req.method:
                        # not the last map's caption while another method (or image) is on its way
                        waiting.subtitle.setText(f"{method_label(req.method)} \u00b7 computing\u2026")
        self._update_shared()

    def _on_started(self, req: ExplainRequest) -> None:
        panel = self.view.panels.get(req.channel)
        if panel is not None and self.service.is_latest(req):
            panel.set_status("computing\u2026", "busy")

    def _on_progress(self, req: ExplainRequest, done: int, total: int) -> None:
        """A long method's progress on its panel ("41 %" and a thin bar)."""
        panel = self.view.panels.get(req.channel)
        if panel is not None and self.service.is_latest(req):
            panel.set_progress(done, total)

    def _on_result(self, res: ExplainResult) -> None:
        req = res.request
        if req.path != self.path or req.channel not in self.view.order:
            return
        if res.image_error:
            self.image_failed.emit(req.path, res.error.split(": ", 1)[-1] if res.error else "")
        first = not any(r.class_names for r in self.results.values())
        self.results[req.channel] = res
        self._show(req.channel, res)
        if req.attention == "on" and off_channel(req.slot) in self.results:
            self._show(off_channel(req.slot), self.results[off_channel(req.slot)])  # its top-1 change
        self._update_shared()
        if first and res.class_names:
            self._show_original_info()

    # -- showing --------------------------------------------------------------------------
    def _show(self, slot: str, res: ExplainResult) -> None:
        panel = self.view.panels.get(slot)
        if panel is None:
            return
        self._show_knowledge(slot)
        if res.missing_class is not None:
            # "One class for all" names a class this model lacks: its own top-5, no map, and why.
            panel.clear_map()
            panel.predictions.set_predictions(res.top, res.class_names, None, res.true_class)
            n = len(res.class_names)
            panel.subtitle.setText(f"no class \u201c{res.missing_class}\u201d in this model ({n} classes)")
            panel.subtitle.setToolTip(f"This model does not know \u201c{res.missing_class}\u201d, so there is "
                                      f"no map for it; its own top-5 predictions are listed.")
            panel.set_status("no such class", "")
            self.results_changed.emit()
            return
        if not res.ok:
            panel.set_error(res.error or "no map")
            self.results_changed.emit()
            return
        names = res.class_names
        target_name = names[res.target_class] if 0 <= res.target_class < len(names) else str(res.target_class)
        panel.predictions.set_predictions(res.top, names, res.target_class, res.true_class)
        which = "" if res.request.target == OWN_PREDICTION else " (chosen class)"
        layer = f" \u00b7 {res.layer}" if res.layer and res.method not in self._gradient_methods() else ""
        panel.subtitle.setText(f"{method_label(res.method)}{layer} \u00b7 {target_name}{which}")
        why = "the class chosen above" if which else "the model's own prediction"
        panel.subtitle.setToolTip(f"{method_label(res.method)} at {res.layer or 'the input'}, explaining "
                                  f"{target_name} ({why})")
        if res.request.attention != "on":
            change = self.top1_change(res.request.slot)
            if change:
                panel.subtitle.setText(f"{panel.subtitle.text()} \u00b7 {change}")
                panel.subtitle.setToolTip(panel.subtitle.toolTip() + "; every SE gate replaced by 1")
        panel.set_status(f"{res.seconds * 1000:.0f} ms" if res.seconds else "cached", "")
        panel.status.setToolTip("")
        if self.display is not None and self.lut_fn is not None:
            panel.set_map(self.display_map(res), self._lut(), self.levels(res))
            panel.set_opacity(self.controls.values().opacity)
        self.results_changed.emit()

    def _show_knowledge(self, slot: str) -> None:
        """The panel's line on what its model knows, and a plain warning when the picture is
        outside that (knowledge.outside_world: facts only, no made-up score)."""
        panel, st = self.view.panels.get(slot), self.slots.states.get(slot)
        if panel is None or st is None or st.info is None:
            return
        meta = st.info.meta
        classes, tip = describe_classes(meta)
        others = [o.info.meta for o in self.slots.active() if o.name != slot]
        note = outside_world(meta, self.path, others, st.info.path) if self.path else None
        panel.set_knowledge(classes, tip, note)

    def top1_change(self, slot: str) -> str | None:
        """How switching the slot's attention off moves its top-1 prediction, in words."""
        on, off = self.results.get(slot), self.results.get(off_channel(slot))
        if not (on and off and on.ok and off.ok and on.top and off.top):
            return None
        names = on.class_names
        name = lambda c: names[c] if 0 <= c < len(names) else str(c)  # noqa: E731
        (c_on, p_on), (c_off, p_off) = on.top[0], off.top[0]
        if c_on == c_off:
            return f"top-1 unchanged: {name(c_on)} {p_on:.0%} \u2192 {p_off:.0%}"
        return f"top-1 changed: {name(c_on)} {p_on:.0%} \u2192 {name(c_off)} {p_off:.0%}"

    def _gradient_methods(self) -> set:
        info = self.service.engine_info
        return set(info.gradient_methods) if info is not None else set()

    def display_map(self, res: ExplainResult) -> np.ndarray:
        h, w = self.display.shape[:2]
        key = (res.request.key, h, w)
        m = self._maps.get(key)
        if m is None:
            m = resize_map(res.unnormalised(), (h, w))
            self._maps.put(key, m)
        return m

    def _lut(self, name: str | None = None) -> np.ndarray:
        name = name or self.controls.values().colormap
        lut = self._lut_cache.get(name)
        if lut is None:
            lut = np.asarray(self.lut_fn(name), dtype=np.uint8)
            self._lut_cache[name] = lut
        return lut

    def _apply_lut(self) -> None:
        if self.lut_fn is None:
            return
        lut = self._lut()
        for panel in self.view.panels.values():
            panel.set_lut(lut)
        self.controls.colorbar.set_lut(lut)
        self._update_diff()

    def shared_range(self) -> tuple[float, float]:
        ok = [r for s, r in self.results.items() if r.ok and s in self.view.order]
        if not ok:
            return 0.0, 1.0
        return min(r.raw_min for r in ok), max(r.raw_max for r in ok)

    def levels(self, res: ExplainResult) -> tuple[float, float]:
        if self.controls.values().normalization == "shared":
            return self.shared_range()
        return res.raw_min, res.raw_max

    def _update_shared(self) -> None:
        for slot, res in self.results.items():
            panel = self.view.panels.get(slot)
            if panel is not None and res.ok and panel.map is not None:
                panel.set_levels(self.levels(res))
        if self.controls.values().normalization == "shared":
            lo, hi = self.shared_range()
            self.controls.colorbar.set_range(lo, hi, "shared scale")
        else:
            self.controls.colorbar.set_range(0.0, 1.0, "each panel: its own max")
        self._update_diff()

    def _update_diff(self) -> None:
        v = self.controls.values()
        a, b = self.results.get(v.diff_a), self.results.get(v.diff_b)
        label = self.controls.agreement
        same = a is not None and b is not None and (a.request.method, a.request.layer) == (b.request.method, b.request.layer)
        if not (a and b and a.ok and b.ok) or v.diff_a == v.diff_b or not same:
            # Maps of two different methods (one panel still recomputing) are not compared.
            label.setText("Agreement \u2014" if same or not (a and b) else "Agreement \u2014 (waiting for both maps)")
            self.view.diff.clear_map()
            self.view.diff.subtitle.setText("pick two panels with maps")
            self.view.diff.info.setText("")
            return
        if a.target_name != b.target_name:
            # Maps of different classes (models of other data, or other predictions) do not compare.
            label.setText("Agreement \u2014")
            self.view.diff.clear_map()
            self.view.diff.subtitle.setText("the two panels explain different classes")
            self.view.diff.info.setText(
                f"{v.diff_a} explains \u201c{a.target_name}\u201d, {v.diff_b} \u201c{b.target_name}\u201d: maps are "
                f"compared only where both explain the same class. Pick one class for all (Class box).")
            return
        iou = self.agreement(a, b)
        title_a, title_b = (self.controls.diff_a.currentText(), self.controls.diff_b.currentText())
        label.setText(f"Agreement <b>{iou:.2f}</b>")
        self.view.diff.title.setText("Difference")
        self.view.diff.subtitle.setText(f"{title_a} \u2212 {title_b}")
        self.view.diff.info.setText(
            f"Red: {title_a} weighs the region more; blue: {title_b} does (each map on its current "
            f"scale).<br>Agreement, IoU of the {TOP_REGION} regions: <b>{iou:.2f}</b>")
        if v.show_diff and self.display is not None and self.lut_fn is not None:
            ma = normalise(self.display_map(a), *self.levels(a))
            mb = normalise(self.display_map(b), *self.levels(b))
            d = difference(ma, mb)
            # A symmetric range that the differences fill (99th percentile of |A - B|), so a
            # real difference is coloured, not washed out on a -1..1 scale it never reaches.
            span = float(np.percentile(np.abs(d), 99)) if d.size else 0.0
            span = span if span > 1e-6 else 1.0
            lut = self._lut(self.diverging)
            self.view.diff.set_map(d, lut, (-span, span))
            self.view.diff.set_opacity(v.opacity)
            self.view.diff_colorbar.set_lut(lut)
            self.view.diff_colorbar.set_range(-span, span, "A \u2212 B")

    def agreement(self, a: ExplainResult, b: ExplainResult) -> float:
        return agreement(a.map, b.map)

    def _show_original_info(self) -> None:
        panel = self.view.original
        if self.path is None:
            panel.title.setText("Original")
            panel.subtitle.setText("")
            panel.info.setText("Drop images or folders onto the window to begin.")
            return
        p = Path(self.path)
        panel.title.setText("Original")
        panel.subtitle.setText(p.name)
        panel.subtitle.setToolTip(str(p))
        panel.set_status("")
        lines = [f"Folder: {p.parent.name}"]
        if self.display is not None:
            lines.append(f"Shown at {self.display.shape[1]}\u00d7{self.display.shape[0]}")
        known = [r for r in self.results.values() if r.class_names]
        if known:
            # models may know different classes: the folder is the true class if any knows it
            r = next((r for r in known if r.true_class is not None), known[0])
            truth = r.class_names[r.true_class] if r.true_class is not None else None
            lines.append(f"True class: <b>{truth}</b>" if truth else "True class: unknown (folder is no class name)")
        panel.info.setText("<br>".join(lines))


def _layer_order(name: str):
    return [int(t) if t.isdigit() else t for t in name.replace(".", " ").replace("layer", "layer ").split()]


def _nbytes(array: np.ndarray) -> int:
    return array.nbytes


def agreement(map_a: np.ndarray, map_b: np.ndarray) -> float:
    """IoU of two maps' top regions (TOP_FRACTION): the engine's metric, ties broken as it breaks them
    (called once results exist, so the worker has loaded torch already)."""
    import torch

    from gcam_desktop.explain.metrics import top_region_iou

    ta, tb = torch.from_numpy(map_a)[None], torch.from_numpy(map_b)[None]
    return float(top_region_iou(ta, tb)[0])
