"""Export: the current comparison as one PNG, and every panel's raw map with its metadata.

The PNG is composed at the picture's own resolution (not a screen grab): the original, then
each model's overlay as the engine's `overlay()` makes it, with the current colour map,
opacity and scale, and a caption per tile. Files are written atomically.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import numpy as np
from PySide6.QtCore import QBuffer, QIODevice, QRect, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from gcam_desktop.files import write_bytes

from gcam_desktop.app.common.compositing import normalise
from gcam_desktop.explain.names import TOP_REGION, method_label
from gcam_desktop.models.names import arch_label
from gcam_desktop.app.common.qimage import rgb_to_qimage
from gcam_desktop.app.export.source import ExportSource

TILE_MAX = 768      # tiles larger than this are scaled down in the exported sheet


def _png_bytes(img: QImage) -> bytes:
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not img.save(buf, "PNG"):
        raise OSError("could not encode the PNG")
    return bytes(buf.data())


def comparison_tiles(src: ExportSource) -> list[tuple]:
    """(title, caption, HxWx3 uint8, colour bar or None) for the original, every panel with a
    map and, when shown, the difference panel; a colour bar is (lut, lo, hi, caption) as on
    screen."""
    from gcam_desktop.explain.overlay import colormap_lut, overlay

    ex = src.explanations
    if ex.display is None:
        raise ValueError("no image is shown")
    v = src.controls.values()
    image = ex.display
    tiles = [("Original", Path(ex.path).name, image, None)]
    bar = src.controls.colorbar
    panel_bar = (colormap_lut(v.colormap), bar.lo, bar.hi, bar.caption) if v.colormap else None
    for slot in src.view.order:
        res = ex.results.get(slot)
        info = src.models.get(res.request.slot) if res is not None else None
        if res is None or not res.ok or info is None:
            continue
        m = normalise(ex.display_map(res), *ex.levels(res))
        blended = overlay(image, m, v.opacity, v.colormap)
        names = res.class_names
        cls = names[res.target_class] if 0 <= res.target_class < len(names) else str(res.target_class)
        prob = next((p for c, p in res.top if c == res.target_class), None)
        caption = f"{method_label(res.method)} {res.layer} \u00b7 {cls}" + (f" {prob * 100:.1f}%" if prob is not None else "")
        title = f"{res.request.slot} \u00b7 {arch_label(info.arch)}" + (
            "" if res.request.attention == "on" else f" \u00b7 attention {res.request.attention}")
        tiles.append((title, caption, np.asarray(blended, dtype=np.uint8), panel_bar))
    if len(tiles) == 1:
        raise ValueError("no panel has an explanation yet")
    diff = src.view.shown_difference()
    if diff is not None:
        lo, hi = diff.levels
        d01 = np.clip((diff.map - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
        shown = _overlay_lut(image, d01, v.opacity, diff.lut)
        tiles.append(("Difference", diff.subtitle, shown, (diff.lut, *diff.bar)))
    return tiles


def _overlay_lut(image: np.ndarray, map01: np.ndarray, alpha: float, lut: np.ndarray) -> np.ndarray:
    """The image with map01 coloured through `lut` on top (the difference panel's diverging map)."""
    from gcam_desktop.explain.overlay import blend, resize_map

    if map01.shape != image.shape[:2]:
        map01 = resize_map(map01, image.shape[:2])
    colored = np.asarray(lut, dtype=np.uint8)[np.clip(np.rint(map01 * 255), 0, 255).astype(np.intp)]
    return np.asarray(blend(image, colored, alpha), dtype=np.uint8)


def compose_sheet(tiles, note: str = "") -> QImage:
    """Tiles side by side with a title and caption above each; white background."""
    h0, w0 = tiles[0][2].shape[:2]
    scale = min(1.0, TILE_MAX / max(h0, w0))
    tw, th = max(1, round(w0 * scale)), max(1, round(h0 * scale))
    title_font = QFont()
    title_font.setPixelSize(max(13, th // 24))
    title_font.setBold(True)
    cap_font = QFont()
    cap_font.setPixelSize(max(11, th // 30))
    line = int(title_font.pixelSize() * 1.5)
    cap_line = int(cap_font.pixelSize() * 1.5)
    pad = 10
    head = line + cap_line + 4
    bar_h = 2 * cap_line + 4 if any(t[3] is not None for t in tiles) else 0
    foot = cap_line + pad if note else 0
    sheet = QImage(pad + len(tiles) * (tw + pad), pad + head + th + bar_h + pad + foot, QImage.Format.Format_RGB888)
    sheet.fill(QColor("white"))
    p = QPainter(sheet)
    p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    p.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    for i, (title, caption, rgb, bar) in enumerate(tiles):
        x = pad + i * (tw + pad)
        p.setPen(QColor("#1f2633"))
        p.setFont(title_font)
        p.drawText(QRect(x, pad, tw, line), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(title, Qt.TextElideMode.ElideRight, tw))
        p.setFont(cap_font)
        p.setPen(QColor("#5b6473"))
        p.drawText(QRect(x, pad + line, tw, cap_line), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   p.fontMetrics().elidedText(caption, Qt.TextElideMode.ElideRight, tw))
        p.drawImage(QRect(x, pad + head, tw, th), rgb_to_qimage(rgb))
        if bar is not None:
            _draw_colorbar(p, QRect(x, pad + head + th + 4, tw, bar_h - 4), bar, cap_font)
    if note:
        p.setFont(cap_font)
        p.setPen(QColor("#5b6473"))
        p.drawText(QRect(pad, sheet.height() - foot, sheet.width() - 2 * pad, cap_line),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, note)
    p.end()
    return sheet


def _draw_colorbar(p: QPainter, rect: QRect, bar, font: QFont) -> None:
    """The colour bar the screen showed: the map's colours, its range and caption below."""
    from gcam_desktop.app.common.text import format_value

    lut, lo, hi, caption = bar
    row = np.ascontiguousarray(np.asarray(lut, dtype=np.uint8)[None, :, :3])
    strip = QImage(row.data, row.shape[1], 1, 3 * row.shape[1], QImage.Format.Format_RGB888).copy()
    half = rect.height() // 2
    p.drawImage(QRect(rect.x(), rect.y(), rect.width(), half - 2), strip)
    p.setPen(QColor("#5b6473"))
    p.drawRect(QRect(rect.x(), rect.y(), rect.width() - 1, half - 2))
    p.setFont(font)
    text = QRect(rect.x(), rect.y() + half, rect.width(), half)
    p.drawText(text, Qt.AlignmentFlag.AlignLeft, format_value(lo))
    p.drawText(text, Qt.AlignmentFlag.AlignRight, format_value(hi))
    if caption:
        p.drawText(text, Qt.AlignmentFlag.AlignHCenter, p.fontMetrics().elidedText(
            caption, Qt.TextElideMode.ElideRight, max(10, rect.width() // 2)))


def export_comparison(src: ExportSource, path: str | Path) -> Path:
    v = src.controls.values()
    note = (f"opacity {v.opacity:.2f} \u00b7 colour map {v.colormap} \u00b7 "
            f"{'shared scale' if v.normalization == 'shared' else 'each map on its own scale'}")
    ex = src.explanations
    a, b = ex.results.get(v.diff_a), ex.results.get(v.diff_b)
    if a and b and a.ok and b.ok and v.diff_a != v.diff_b:
        note += f" \u00b7 agreement {v.diff_a} vs {v.diff_b}: IoU({TOP_REGION}) {ex.agreement(a, b):.2f}"
    sheet = compose_sheet(comparison_tiles(src), note)
    path = Path(path)
    write_bytes(path, _png_bytes(sheet))
    return path


def export_raw_maps(src: ExportSource, path: str | Path) -> tuple[Path, Path]:
    """`path` (.npz): per panel `<slot>_map` (model input size, [0, 1]) and `<slot>_raw`;
    beside it a .json with what made each map."""
    ex = src.explanations
    arrays, meta = {}, {"image": ex.path, "panels": {}}
    for slot in src.view.order:
        res = ex.results.get(slot)
        info = src.models.get(res.request.slot) if res is not None else None
        if res is None or not res.ok or info is None:
            continue
        arrays[f"{slot}_map"] = res.map.astype(np.float32)
        if res.raw is not None:
            arrays[f"{slot}_raw"] = res.raw.astype(np.float32)
        meta["panels"][slot] = {
            "arch": info.arch, "checkpoint": info.path, "method": res.method, "layer": res.layer,
            "target_class": res.target_class,
            "target_name": res.class_names[res.target_class] if 0 <= res.target_class < len(res.class_names) else None,
            "top5": [{"class": res.class_names[c] if c < len(res.class_names) else c, "index": c, "prob": p}
                     for c, p in res.top],
            "true_class": res.true_class, "raw_min": res.raw_min, "raw_max": res.raw_max,
            "map_key": f"{slot}_map", "raw_key": f"{slot}_raw" if res.raw is not None else None,
            "attention": res.request.attention,
        }
    if not arrays:
        raise ValueError("no panel has an explanation yet")
    path = Path(path).with_suffix(".npz")
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())
    side = path.with_suffix(".json")
    write_bytes(side, json.dumps(meta, indent=2).encode("utf-8"))
    export_attention(src, path)
    return path, side


def export_attention(src: ExportSource, maps_path: str | Path) -> tuple[Path, Path] | None:
    """Beside the maps: `<stem>_gates.npz` (each SE / s_se model's gates for this image, arrays
    `<panel>/<gate>`) and `<stem>_attention.json` (the Attention tab's figures, and each
    attention-off panel's top-1 change). None when no shown model has gates."""
    from gcam_desktop.explain.attention_figures import attention_figures, write_figures_json, write_gates_npz

    import torch

    models = [m for m in src.attention()[1] if m.gates]
    if not models:
        return None
    ex = src.explanations
    gates = {m.label: {n: torch.from_numpy(g) for n, g in m.gates.items()} for m in models}
    off = {}
    for m in models:
        change = ex.top1_change(m.slot)
        if change:
            off[m.label] = change
    figures = attention_figures(gates, image=ex.path, archs={m.label: m.arch for m in models},
                                extra={"attention_off": off})
    stem = Path(maps_path).with_suffix("")
    stem = stem.with_name(stem.name.removesuffix("_maps"))
    npz = write_gates_npz(stem.with_name(stem.name + "_gates.npz"), gates)
    side = write_figures_json(stem.with_name(stem.name + "_attention.json"), figures)
    return npz, side


def _default_name(src: ExportSource, suffix: str) -> str:
    ex = src.explanations
    stem = Path(ex.path).stem if ex.path else "comparison"
    method = src.controls.values().method or "map"
    folder = src.last_folder() or str(Path.home())
    return str(Path(folder) / f"{stem}_{method}{suffix}")


def export_comparison_dialog(src: ExportSource, parent: QWidget, say: Callable[[str, int], None]) -> None:
    """Asks where, saves the comparison PNG; says so through `say(text, timeout_ms)`."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export comparison", _default_name(src, ".png"), "PNG image (*.png)")
    if not path:
        return
    try:
        out = export_comparison(src, path if path.lower().endswith(".png") else path + ".png")
    except (ValueError, OSError) as exc:
        QMessageBox.warning(parent, "Export comparison", str(exc))
        return
    say(f"Saved {out}", 8000)


def export_maps_dialog(src: ExportSource, parent: QWidget, say: Callable[[str, int], None]) -> None:
    path, _ = QFileDialog.getSaveFileName(parent, "Export raw maps", _default_name(src, "_maps.npz"),
                                          "NumPy archive (*.npz)")
    if not path:
        return
    try:
        npz, side = export_raw_maps(src, path)
    except (ValueError, OSError) as exc:
        QMessageBox.warning(parent, "Export maps", str(exc))
        return
    say(f"Saved {npz} and {side.name}", 8000)
