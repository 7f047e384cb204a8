"""Colour maps, normalisation and blending: exact values on small arrays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cmap
import numpy as np
import pytest

from gcam_desktop.explain import overlay as O

ROOT = Path(__file__).resolve().parents[2]


def test_required_colour_maps_exist():
    for name in ("turbo", "jet", "viridis", "inferno"):
        assert name in O.COLORMAPS
    assert set(O.DIVERGING) <= set(O.COLORMAPS) and len(O.DIVERGING) >= 1


@pytest.mark.parametrize("name", O.COLORMAPS)
def test_luts_come_from_the_cmap_package(name):
    lut = O.colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8 and not lut.flags.writeable
    ref = np.asarray(cmap.Colormap(O._SOURCES[name]).lut(256))[:, :3]
    assert np.abs(lut.astype(int) - np.rint(ref * 255)).max() == 0


def test_known_colours():
    assert O.colormap_lut("viridis")[0].tolist() == [68, 1, 84]  # matplotlib's viridis start
    assert O.colormap_lut("gray")[255].tolist() == [255, 255, 255]
    mid = O.colormap_lut("coolwarm")[128].astype(int)
    assert mid.min() > 180 and mid.max() - mid.min() < 40  # a diverging map is pale in the middle


@pytest.mark.parametrize("name", O.DIVERGING)
def test_diverging_maps_run_blue_to_pale_to_red(name):
    """The difference panel says "red: A weighs the region more; blue: B does": every map it may
    take (the first of DIVERGING it has) must go from blue at A - B < 0 to red at A - B > 0."""
    lut = O.colormap_lut(name).astype(int)
    (r0, _, b0), mid, (r1, _, b1) = lut[0], lut[128], lut[255]
    assert b0 > r0 and r1 > b1
    assert mid.min() > 180 and mid.max() - mid.min() < 40


def test_unknown_colour_map_lists_the_valid_ones():
    with pytest.raises(ValueError) as err:
        O.colormap_lut("rainbowz")
    assert "turbo" in str(err.value) and "viridis" in str(err.value)


def test_apply_colormap_indexes_the_table():
    lut = O.colormap_lut("turbo")
    m = np.array([[0.0, 1.0], [0.5, np.nan]], dtype=np.float32)
    out = O.apply_colormap(m, "turbo")
    assert out.shape == (2, 2, 3) and out.dtype == np.uint8
    assert (out[0, 0] == lut[0]).all() and (out[0, 1] == lut[255]).all()
    assert (out[1, 0] == lut[128]).all()  # round(0.5 * 255) = 128
    assert (out[1, 1] == lut[0]).all()  # NaN counts as the bottom of the range
    clipped = O.apply_colormap(np.array([[-3.0, 7.0]]), "turbo")
    assert (clipped[0, 0] == lut[0]).all() and (clipped[0, 1] == lut[255]).all()
    ranged = O.apply_colormap(np.array([[10.0, 20.0]]), "turbo", vmin=10, vmax=20)
    assert (ranged[0, 0] == lut[0]).all() and (ranged[0, 1] == lut[255]).all()
    stack = O.apply_colormap(np.stack([m, m]), "turbo")  # any leading axes
    assert stack.shape == (2, 2, 2, 3) and (stack[1] == out).all()
    with pytest.raises(ValueError, match="vmax must be greater"):
        O.apply_colormap(m, "turbo", vmin=1, vmax=1)


def test_colorize_resizes_the_scalar_map_before_colouring():
    lut = O.colormap_lut("jet")
    m = np.array([[0.0, 1.0]], dtype=np.float32)
    out = O.colorize(m, "jet", size=(3, 8))
    assert out.shape == (3, 8, 3)
    assert (out[:, 0] == lut[0]).all() and (out[:, -1] == lut[255]).all()
    # every colour in the result is a colour of the table (colours are never interpolated)
    table = {tuple(c) for c in lut.tolist()}
    assert {tuple(c) for c in out.reshape(-1, 3).tolist()} <= table
    const = O.colorize(np.full((2, 2), 0.25, np.float32), "jet", size=(5, 5))
    assert (const == lut[64]).all()


def test_resize_map_is_bilinear():
    m = np.array([[0.0, 1.0]], dtype=np.float32)
    r = O.resize_map(m, (1, 4))
    assert np.allclose(r[0], [0.0, 0.25, 0.75, 1.0])
    assert O.resize_map(m, (1, 2)) is not None and np.array_equal(O.resize_map(m, (1, 2)), m)
    with pytest.raises(ValueError, match="2-d"):
        O.resize_map(np.zeros((1, 2, 2)), (4, 4))


def test_blend():
    img = np.full((2, 2, 3), 100, np.uint8)
    col = np.full((2, 2, 3), 200, np.uint8)
    assert (O.blend(img, col, 0.0) == 100).all()
    assert (O.blend(img, col, 1.0) == 200).all()
    assert (O.blend(img, col, 0.5) == 150).all()
    assert (O.blend(img, col, 0.25) == 125).all()
    out = O.blend(np.array([[[0, 255, 10]]], np.uint8), np.array([[[255, 0, 30]]], np.uint8), 0.3)
    assert np.abs(out.astype(int) - np.array([[[76, 178, 16]]])).max() <= 1
    assert (O.blend(img, col, 2.0) == 200).all()  # opacity is clamped to 0..1
    with pytest.raises(ValueError, match="does not match"):
        O.blend(img, np.zeros((3, 3, 3), np.uint8), 0.5)


def test_overlay_on_rgb_grey_rgba_and_pil_images():
    from PIL import Image

    lut = O.colormap_lut("inferno")
    m = np.ones((4, 4), np.float32)
    rgb = np.zeros((6, 10, 3), np.uint8)
    out = O.overlay(rgb, m, 1.0, "inferno")
    assert out.shape == (6, 10, 3) and out.dtype == np.uint8 and (out == lut[255]).all()
    assert O.overlay(np.zeros((6, 10), np.uint8), m, 0.5).shape == (6, 10, 3)
    assert O.overlay(np.zeros((6, 10, 4), np.uint8), m, 0.5).shape == (6, 10, 3)
    assert O.overlay(Image.new("L", (10, 6)), m, 0.5).shape == (6, 10, 3)
    same = O.overlay(rgb, m, 0.0)
    assert (same == rgb).all()
    with pytest.raises(ValueError, match="uint8"):
        O.overlay(np.zeros((6, 10, 3), np.float32), m, 0.5)


def test_normalize_per_map():
    maps = np.array([[[1.0, 3.0], [2.0, 5.0]], [[-1.0, -1.0], [-1.0, -1.0]]], np.float32)
    out = O.normalize_maps(maps)
    assert out.dtype == np.float32
    assert np.allclose(out[0], [[0.0, 0.5], [0.25, 1.0]])
    assert (out[1] == 0).all()  # a map without range
    nan = O.normalize_maps(np.array([[np.nan, 1.0], [3.0, 2.0]], np.float32))
    assert np.allclose(nan, [[0.0, 0.0], [1.0, 0.5]])


def test_normalize_shared_compares_magnitudes_across_models():
    a = np.array([[0.0, 1.0]], np.float32)
    b = np.array([[0.0, 4.0], [2.0, 2.0]], np.float32)  # maps may differ in size
    out = O.normalize_maps([a, b], mode="shared")
    assert isinstance(out, list) and np.allclose(out[0], [[0.0, 0.25]]) and np.allclose(out[1], [[0, 1], [0.5, 0.5]])


def test_normalize_fixed_and_symmetric():
    m = np.array([[-2.0, 0.0], [1.0, 4.0]], np.float32)
    assert np.allclose(O.normalize_maps(m, "fixed", vmin=0, vmax=2), [[0, 0], [0.5, 1]])
    with pytest.raises(ValueError, match="vmin < vmax"):
        O.normalize_maps(m, "fixed")
    sym = O.normalize_maps(m, symmetric=True)  # -4..4: zero lands in the middle
    assert np.allclose(sym, [[0.25, 0.5], [0.625, 1.0]])
    shared = O.normalize_maps([m, m / 2], "shared", symmetric=True)
    assert np.allclose(shared[1], [[0.375, 0.5], [0.5625, 0.75]])
    assert np.allclose(O.normalize_maps(np.zeros((2, 2)), symmetric=True), 0.5)
    with pytest.raises(ValueError, match="per_map, shared, fixed"):
        O.normalize_maps(m, "global")


def test_overlay_module_imports_neither_torch_nor_qt():
    code = ("import sys\nimport gcam_desktop.explain.overlay, gcam_desktop.explain\n"
            "from gcam_desktop.explain import METHODS, CAM_METHODS\n"
            "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules]\n"
            "print(bad); sys.exit(1 if bad else 0)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
