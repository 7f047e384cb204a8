"""PNG line plots drawn with Pillow (no matplotlib in the bundle): deletion / insertion curves, the
sanity checks' randomisation curves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from PIL import Image, ImageDraw, ImageFont


@dataclass
class Panel:
    title: str
    xlabel: str
    ylabel: str
    series: list[tuple[str, Sequence[float], Sequence[float]]]  # (label, xs, ys): xs in [0, 1], ys in yrange
    legend: str = "tr"  # corner: tr, br
    xticks: Sequence[tuple[float, str]] | None = None  # (x, label); default 0, 0.25, ... 1
    yrange: tuple[float, float] = (0.0, 1.0)  # a rank correlation runs from -1


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def palette(n: int) -> list[tuple[int, int, int]]:
    from cmap import Colormap

    colors = [tuple(int(round(255 * v)) for v in c.rgba[:3]) for c in Colormap("tab10").iter_colors()]
    return [colors[i % len(colors)] for i in range(n)]


def line_plot(panels: Sequence[Panel], panel_size: tuple[int, int] = (460, 340), scale: int = 2) -> Image.Image:
    """Panels side by side, axes [0, 1] x [0, 1] with ticks, grid and a legend. Drawn at
    `scale` times the size and reduced, which anti-aliases the lines without matplotlib."""
    pw, ph = panel_size[0] * scale, panel_size[1] * scale
    img = Image.new("RGB", (pw * len(panels), ph), "white")
    draw = ImageDraw.Draw(img)
    small, normal = _font(11 * scale), _font(13 * scale)
    for j, panel in enumerate(panels):
        ox = j * pw
        left, right, top, bottom = ox + 58 * scale, ox + pw - 14 * scale, 30 * scale, ph - 46 * scale
        y0, y1 = panel.yrange
        to_px = lambda x, y: (left + x * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top))  # noqa: E731
        for t, text in panel.xticks or [(t, f"{t:g}") for t in (0.0, 0.25, 0.5, 0.75, 1.0)]:
            x, _ = to_px(t, y0)
            draw.line([(x, top), (x, bottom)], fill=(228, 228, 228), width=scale)
            draw.text((x, bottom + 6 * scale), text, fill="black", font=small, anchor="mt")
        for k in range(5):
            t = y0 + (y1 - y0) * k / 4
            _, y = to_px(0, t)
            draw.line([(left, y), (right, y)], fill=(228, 228, 228), width=scale)
            draw.text((left - 6 * scale, y), f"{t:g}", fill="black", font=small, anchor="rm")
        draw.rectangle([left, top, right, bottom], outline="black", width=scale)
        draw.text(((left + right) / 2, 8 * scale), panel.title, fill="black", font=normal, anchor="mt")
        draw.text(((left + right) / 2, ph - 8 * scale), panel.xlabel, fill="black", font=small, anchor="mb")
        label = Image.new("RGB", (int(draw.textlength(panel.ylabel, font=small)) + 4, 16 * scale), "white")
        ImageDraw.Draw(label).text((2, 0), panel.ylabel, fill="black", font=small)
        label = label.rotate(90, expand=True)
        img.paste(label, (ox + 4 * scale, int((top + bottom) / 2 - label.height / 2)))
        colors = palette(len(panel.series))
        for (name, xs, ys), col in zip(panel.series, colors):
            pts = [to_px(min(max(float(x), 0), 1), min(max(float(y), y0), y1)) for x, y in zip(xs, ys)]
            if len(pts) > 1:
                draw.line(pts, fill=col, width=2 * scale, joint="curve")
        if panel.series:
            line_h = 16 * scale
            width = max(draw.textlength(n, font=small) for n, _, _ in panel.series) + 34 * scale
            height = line_h * len(panel.series) + 8 * scale
            lx = right - width - 8 * scale
            ly = top + 8 * scale if panel.legend == "tr" else bottom - height - 8 * scale
            draw.rectangle([lx, ly, lx + width, ly + height], fill="white", outline=(160, 160, 160), width=scale)
            for k, ((name, _, _), col) in enumerate(zip(panel.series, colors)):
                y = ly + 4 * scale + k * line_h + line_h / 2
                draw.line([(lx + 6 * scale, y), (lx + 24 * scale, y)], fill=col, width=2 * scale)
                draw.text((lx + 30 * scale, y), name, fill="black", font=small, anchor="lm")
    return img.resize((img.width // scale, img.height // scale), Image.LANCZOS)

