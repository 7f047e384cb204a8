"""A synthetic image-classification set with a ground-truth mask per image.

Each image holds one object of its class (a shape with its own colour family and fill texture)
at a random position, scale and rotation on a cluttered background (colour gradient, pixel
noise, faint lines and blobs of muted colours). The mask marks the object's pixels, so an
explanation can be scored against where the evidence really is.

Layout written under OUT:

    OUT/images/<class>/<class>_<i>.png    RGB, S x S
    OUT/masks/<class>/<class>_<i>.png     8-bit L, 255 = object, 0 = background (same name)
    OUT/synth.json                        parameters, class names, and per image its mask and box

A planted shortcut (`shortcut_class`, `shortcut_fraction`): that fraction of one class's images
(round(fraction x per_class) of them, drawn by seed) carry a small fixed mark in the top-left
corner, stamped over everything else. Each image's record says whether it has the mark and
where (`shortcut`, `mark_box`), so an analysis that finds "the model looks at the corner" can be
checked against the truth (gcam_desktop/strategies/, docs/adr/0031). On this set the mark alone
is a weak shortcut: the objects' colours tell the classes apart so easily that a model trained on
it barely uses the mark (measured, docs/adr/0031). With `shortcut_only` the marked images show the
object of another class, as when every picture of one source is filed under one class whatever
it shows: the mark is then their only evidence, and a model learns it.

The mask of an image is found by swapping the `images` folder for `masks`. Everything is
deterministic by seed: image i of class c comes from its own random stream seeded by
(seed, c, i), so it does not depend on how many images are asked for. Geometry is drawn in
units of the image side, so the same seed at another size gives the same scenes.

Torch-free (PIL and numpy only), so `gcam-train synth` starts fast.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from gcam_desktop.files import atomic_write, write_json

MANIFEST = "synth.json"
FORMAT = "gcam-desktop/synth"
VERSION = 1
SUPERSAMPLE = 2  # shapes are drawn at 2x and reduced: smooth edges without a blur
# The planted mark: a 2 x 2 black / white checker, MARK_SIDE of the image side, MARK_MARGIN from
# the top-left corner. High contrast and never part of any class's look, like a watermark.
MARK_SIDE = 0.2
MARK_MARGIN = 0.05

# Distinct at a glance even when small: silhouettes that survive rotation and scaling.
SHAPES = ("disc", "square", "triangle", "star", "ring", "cross", "heart", "crescent", "arrow", "hexagon")
TEXTURES = ("solid", "stripes", "dots", "checker", "gradient", "waves")
MAX_CLASSES = len(SHAPES)


@dataclass(frozen=True)
class SynthSpec:
    classes: int = 6
    per_class: int = 100
    size: int = 64
    seed: int = 0
    shortcut_class: int | None = None  # the class whose images may carry the planted mark
    shortcut_fraction: float = 0.0     # the fraction of that class's images that do
    shortcut_only: bool = False        # marked images show another class's object: the mark is their only evidence

    def validate(self) -> None:
        if not 2 <= self.classes <= MAX_CLASSES:
            raise ValueError(f"--classes must be between 2 and {MAX_CLASSES}, not {self.classes}")
        if self.per_class < 1:
            raise ValueError(f"--per-class must be at least 1, not {self.per_class}")
        if not 16 <= self.size <= 1024:
            raise ValueError(f"--size must be between 16 and 1024 pixels, not {self.size}")
        if self.shortcut_class is not None:
            if not 0 <= self.shortcut_class < self.classes:
                raise ValueError(f"--shortcut: class {self.shortcut_class} does not exist; the classes are "
                                 f"0..{self.classes - 1} ({', '.join(class_names(self.classes))})")
            if not 0.0 < self.shortcut_fraction <= 1.0:
                raise ValueError(f"--shortcut: the fraction must be in (0, 1], not {self.shortcut_fraction}")
            if round(self.shortcut_fraction * self.per_class) < 1:
                raise ValueError(f"--shortcut: a fraction of {self.shortcut_fraction} of {self.per_class} images "
                                 f"marks none; give a larger fraction or more images per class")

    def to_json(self) -> dict:
        """The manifest's "spec": without the shortcut fields when there is none, so sets made
        before the shortcut existed (and the demo's preset) still match."""
        out = asdict(self)
        if self.shortcut_class is None:
            del out["shortcut_class"], out["shortcut_fraction"]
        if not self.shortcut_only:
            del out["shortcut_only"]
        return out

    def marked(self) -> frozenset[int]:
        """Indices of the shortcut class's images that carry the mark (seeded, exactly
        round(fraction x per_class) of them)."""
        if self.shortcut_class is None:
            return frozenset()
        n = round(self.shortcut_fraction * self.per_class)
        order = np.random.default_rng([self.seed, self.shortcut_class, 0x5EED]).permutation(self.per_class)
        return frozenset(int(i) for i in order[:n])


def parse_shortcut(text: str, classes: int, per_class: int = 100) -> tuple[int, float]:
    """`CLASS:FRACTION` (a class name or index, a fraction in (0, 1]) -> (class index, fraction);
    ValueError saying what is wrong."""
    name, sep, frac = str(text).rpartition(":")
    if not sep or not name:
        raise ValueError(f"--shortcut must be CLASS:FRACTION (e.g. disc:0.3), not {text!r}")
    names = class_names(classes)
    if name in names:
        index = names.index(name)
    elif name.isdigit():
        index = int(name)
    else:
        raise ValueError(f"--shortcut: no class {name!r}; the classes are {', '.join(names)} (or 0..{classes - 1})")
    try:
        fraction = float(frac)
    except ValueError:
        raise ValueError(f"--shortcut: the fraction must be a number in (0, 1], not {frac!r}") from None
    spec = SynthSpec(classes=classes, per_class=per_class, shortcut_class=index, shortcut_fraction=fraction)
    spec.validate()
    return index, fraction


def mark_box(size: int) -> list[int]:
    """[x0, y0, x1, y1] of the planted mark in an image of `size` pixels."""
    side = max(4, round(MARK_SIDE * size))
    m = round(MARK_MARGIN * size)
    return [m, m, m + side, m + side]


def _stamp_mark(image: Image.Image) -> None:
    x0, y0, x1, y1 = mark_box(image.width)
    half = (x1 - x0) // 2
    draw = ImageDraw.Draw(image)
    draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=(255, 255, 255))
    draw.rectangle([x0, y0, x0 + half - 1, y0 + half - 1], fill=(0, 0, 0))
    draw.rectangle([x0 + half, y0 + half, x1 - 1, y1 - 1], fill=(0, 0, 0))


def class_names(n: int) -> list[str]:
    return list(SHAPES[:n])


def mask_path_for(image_path: str | os.PathLike) -> Path:
    """The mask beside a synthetic image: the `images` folder swapped for `masks`."""
    p = Path(image_path)
    parts = list(p.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "masks"
            return Path(*parts).with_suffix(".png")
    raise ValueError(f"{p} is not inside an `images` folder of a synthetic set")


# ----------------------------------------------------------------------------- shapes

def _polygon_unit(shape: str) -> list[tuple[float, float]] | None:
    """Vertices on the unit disc for polygonal shapes (None for shapes drawn otherwise)."""
    if shape == "square":
        return [(-0.72, -0.72), (0.72, -0.72), (0.72, 0.72), (-0.72, 0.72)]
    if shape == "triangle":
        return [(math.cos(a), math.sin(a)) for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)]
    if shape == "hexagon":
        return [(math.cos(k * math.pi / 3), math.sin(k * math.pi / 3)) for k in range(6)]
    if shape == "star":
        return [((1.0 if k % 2 == 0 else 0.42) * math.cos(-math.pi / 2 + k * math.pi / 5),
                 (1.0 if k % 2 == 0 else 0.42) * math.sin(-math.pi / 2 + k * math.pi / 5)) for k in range(10)]
    if shape == "cross":
        a, b = 0.3, 0.95
        return [(-a, -b), (a, -b), (a, -a), (b, -a), (b, a), (a, a), (a, b), (-a, b), (-a, a), (-b, a),
                (-b, -a), (-a, -a)]
    if shape == "arrow":
        return [(-0.95, -0.25), (0.2, -0.25), (0.2, -0.7), (0.95, 0.0), (0.2, 0.7), (0.2, 0.25), (-0.95, 0.25)]
    if shape == "heart":
        pts = []
        for k in range(48):
            t = 2 * math.pi * k / 48
            x = 16 * math.sin(t) ** 3
            y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
            pts.append((x / 17.0, -y / 17.0 + 0.1))
        return pts
    return None


def _draw_shape_mask(shape: str, side: int, cx: float, cy: float, r: float, angle: float) -> Image.Image:
    """The object's silhouette as an L image of `side` pixels (coordinates in pixels)."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    poly = _polygon_unit(shape)
    if poly is not None:
        c, s = math.cos(angle), math.sin(angle)
        draw.polygon([(cx + r * (x * c - y * s), cy + r * (x * s + y * c)) for x, y in poly], fill=255)
    elif shape == "disc":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        q = 0.55 * r
        draw.ellipse([cx - q, cy - q, cx + q, cy + q], fill=0)
    elif shape == "crescent":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ox, oy = cx + 0.5 * r * math.cos(angle), cy + 0.5 * r * math.sin(angle)
        q = 0.85 * r
        draw.ellipse([ox - q, oy - q, ox + q, oy + q], fill=0)
    else:  # pragma: no cover - SHAPES and this function are kept in step
        raise ValueError(f"unknown shape {shape!r}")
    return mask


# ----------------------------------------------------------------------------- colour and texture

def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32)


def _class_hue(c: int, n: int) -> float:
    return (0.03 + c / n) % 1.0  # evenly spread around the colour wheel


def _texture(kind: str, side: int, rng: np.random.Generator) -> np.ndarray:
    """A brightness pattern in [0.55, 1] of side x side (float32)."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    angle = rng.uniform(0, math.pi)
    u = xx * math.cos(angle) + yy * math.sin(angle)
    if kind == "solid":
        t = np.ones_like(u)
    elif kind == "stripes":
        t = (np.sin(2 * math.pi * u * rng.uniform(6, 9)) > 0).astype(np.float32)
    elif kind == "dots":
        f = rng.uniform(7, 10)
        t = ((np.sin(2 * math.pi * xx * f) * np.sin(2 * math.pi * yy * f)) > 0.25).astype(np.float32)
    elif kind == "checker":
        f = rng.uniform(4, 6)
        t = ((np.floor(xx * f) + np.floor(yy * f)) % 2).astype(np.float32)
    elif kind == "gradient":
        t = (u - u.min()) / max(float(np.ptp(u)), 1e-6)
    elif kind == "waves":
        v = -xx * math.sin(angle) + yy * math.cos(angle)
        t = 0.5 + 0.5 * np.sin(2 * math.pi * (u * 5 + 0.08 * np.sin(2 * math.pi * v * 4)))
    else:  # pragma: no cover
        raise ValueError(kind)
    return 0.55 + 0.45 * t


# ----------------------------------------------------------------------------- one image

def render(class_index: int, index: int, spec: SynthSpec,
           marked: bool = False) -> tuple[Image.Image, Image.Image, dict]:
    """(RGB image, L mask, record) for image `index` of class `class_index`; `marked`: with the
    planted mark (the rest of the picture is the same as without)."""
    rng = np.random.default_rng([spec.seed, class_index, index])
    side = spec.size * SUPERSAMPLE

    # Background: a gradient between two muted colours.
    h0 = rng.uniform()
    c0 = _hsv(h0, rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.85))
    c1 = _hsv(h0 + rng.uniform(-0.3, 0.3), rng.uniform(0.05, 0.35), rng.uniform(0.35, 0.85))
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    a = rng.uniform(0, 2 * math.pi)
    g = xx * math.cos(a) + yy * math.sin(a)
    g = (g - g.min()) / max(float(np.ptp(g)), 1e-6)
    bg = (c0[None, None] * (1 - g[..., None]) + c1[None, None] * g[..., None]) * 255
    canvas = Image.fromarray(bg.clip(0, 255).astype(np.uint8), "RGB")

    # Clutter: faint lines, blobs and boxes of muted colours that carry no class.
    draw = ImageDraw.Draw(canvas, "RGBA")
    for _ in range(int(rng.integers(5, 11))):
        col = tuple(int(v * 255) for v in _hsv(rng.uniform(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.95)))
        alpha = int(rng.integers(70, 170))
        kind = rng.integers(0, 3)
        x0, y0 = rng.uniform(-0.1, 1.0, 2) * side
        w, h = rng.uniform(0.04, 0.22, 2) * side
        if kind == 0:
            x1, y1 = rng.uniform(-0.1, 1.1, 2) * side
            draw.line([(x0, y0), (x1, y1)], fill=col + (alpha,), width=max(1, int(rng.uniform(0.005, 0.02) * side)))
        elif kind == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=col + (alpha,))
        else:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=col + (alpha,))

    # The object: its class fixes shape, colour family and fill texture; the rest is random.
    n = spec.classes
    # With `shortcut_only`, a marked image shows another class's object (drawn by seed): the
    # mark is the only evidence of its label.
    look = class_index
    if marked and spec.shortcut_only:
        look = int((class_index + 1 + np.random.default_rng([spec.seed, class_index, index, 0xDEC0]).integers(
            n - 1)) % n)
    shape = SHAPES[look]
    r = rng.uniform(0.15, 0.28) * side
    cx, cy = rng.uniform(r / side, 1 - r / side, 2) * side
    angle = rng.uniform(0, 2 * math.pi)
    obj_mask = _draw_shape_mask(shape, side, cx, cy, r, angle)
    colour = _hsv(_class_hue(look, n) + rng.uniform(-0.035, 0.035), rng.uniform(0.65, 1.0),
                  rng.uniform(0.75, 1.0))
    tex = _texture(TEXTURES[look % len(TEXTURES)], side, rng)
    fill = Image.fromarray((tex[..., None] * colour[None, None] * 255).clip(0, 255).astype(np.uint8), "RGB")
    canvas = Image.composite(fill, canvas, obj_mask)

    # Reduce: area-averaging gives anti-aliased edges; per-pixel sensor-like noise on top.
    img = np.asarray(canvas.reduce(SUPERSAMPLE), dtype=np.float32)
    img = img + rng.normal(0.0, 6.0, img.shape).astype(np.float32)
    image = Image.fromarray(img.round().clip(0, 255).astype(np.uint8), "RGB")
    if marked:
        _stamp_mark(image)
    soft = np.asarray(obj_mask.reduce(SUPERSAMPLE))
    mask = Image.fromarray(np.where(soft >= 128, 255, 0).astype(np.uint8), "L")

    ys, xs = np.nonzero(soft >= 128)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] if xs.size else [0, 0, 0, 0]
    record = {"class": SHAPES[class_index], "label": class_index, "box": box,
              "centre": [round(cx / side, 4), round(cy / side, 4)], "radius": round(r / side, 4),
              "angle": round(angle, 4), "area": round(float(xs.size) / spec.size ** 2, 4)}
    if spec.shortcut_class is not None:
        record.update(shortcut=bool(marked), mark_box=mark_box(spec.size) if marked else None)
        if marked and spec.shortcut_only:
            record["looks_like"] = SHAPES[look]
    return image, mask, record


# ----------------------------------------------------------------------------- the set

def _save_png(img: Image.Image, path: Path) -> None:
    # No fsync per image: thousands of small files; the manifest, written last, marks completion.
    atomic_write(path, lambda tmp: img.save(tmp, format="PNG"), fsync=False)


def read_manifest(out: str | os.PathLike) -> dict | None:
    """The manifest of a complete synthetic set at `out`, or None."""
    p = Path(out) / MANIFEST
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None


def make_synthetic(out: str | os.PathLike, classes: int = 6, per_class: int = 100, size: int = 64,
                   seed: int = 0, force: bool = False,
                   progress: Callable[[int, int], None] | None = None,
                   shortcut: tuple[int, float] | None = None, shortcut_only: bool = False) -> dict:
    """Write the set under `out` and return its manifest.

    An `out` that already holds a set with the same parameters is kept as it is (generation
    is deterministic, so it would be rewritten identically). A folder holding anything else is
    refused unless `force`, which replaces only `images/`, `masks/` and the manifest.
    shortcut: (class index, fraction) to plant the mark; shortcut_only: the marked images show
    another class's object (see the module's docstring).
    """
    spec = SynthSpec(classes, per_class, size, seed, *(shortcut or (None, 0.0)), bool(shortcut and shortcut_only))
    spec.validate()
    out = Path(out)
    existing = read_manifest(out)
    if existing is not None and existing.get("spec") == spec.to_json() and (out / "images").is_dir():
        return existing
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ValueError(f"{out}: folder is not empty and holds no synthetic set with these parameters; "
                         "pick an empty folder or pass --force to replace its images/ and masks/")
    for sub in ("images", "masks"):
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / MANIFEST).unlink(missing_ok=True)

    names = class_names(classes)
    marked = spec.marked()
    records = []
    total, done = classes * per_class, 0
    for c, name in enumerate(names):
        (out / "images" / name).mkdir(parents=True, exist_ok=True)
        (out / "masks" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            image, mask, rec = render(c, i, spec, marked=c == spec.shortcut_class and i in marked)
            stem = f"{name}_{i:04d}.png"
            _save_png(image, out / "images" / name / stem)
            _save_png(mask, out / "masks" / name / stem)
            rec.update(image=f"images/{name}/{stem}", mask=f"masks/{name}/{stem}")
            records.append(rec)
            done += 1
            if progress:
                progress(done, total)
    manifest = {"format": FORMAT, "version": VERSION, "spec": spec.to_json(), "class_names": names,
                "textures": [TEXTURES[c % len(TEXTURES)] for c in range(classes)],
                "layout": "images/<class>/<name>.png with masks/<class>/<name>.png (255 = object)",
                "images": records}
    if spec.shortcut_class is not None:
        manifest["shortcut"] = {"class": names[spec.shortcut_class], "class_index": spec.shortcut_class,
                                "fraction": spec.shortcut_fraction, "marked": len(marked),
                                "mark_box": mark_box(size), "mark": "2 x 2 black / white checker",
                                "only_evidence": spec.shortcut_only}
    write_json(out / MANIFEST, manifest)  # last: its presence marks a complete set
    return manifest


def images_root(path: str | os.PathLike) -> Path:
    """The ImageFolder root to train on: `path/images` for a synthetic set, else `path`."""
    p = Path(path)
    return p / "images" if read_manifest(p) is not None and (p / "images").is_dir() else p
