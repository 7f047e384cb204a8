import io

import numpy as np
import pytest
from PIL import Image

from gcam_desktop.imaging import ImageLoadError, load_image


def _save(img, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def _loads_rgb(path, size=None):
    img = load_image(path)
    assert img.mode == "RGB"
    if size:
        assert img.size == size
    return np.asarray(img)


def test_rgb_jpeg(tmp_path):
    _loads_rgb(_save(Image.new("RGB", (40, 30), (200, 10, 10)), tmp_path / "a.jpg"), (40, 30))


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 10, 20))  # red stripe on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = _save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    arr = _loads_rgb(path, (20, 40))
    assert arr[2, 10, 0] > 200 and arr[2, 10, 2] < 60, "red stripe must end up on top after rotation"


def test_grayscale(tmp_path):
    arr = _loads_rgb(_save(Image.new("L", (8, 8), 77), tmp_path / "g.png"), (8, 8))
    assert (arr == 77).all()


def test_rgba_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (4, 4), (255, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    arr = _loads_rgb(_save(img, tmp_path / "t.png"))
    assert tuple(arr[3, 3]) == (255, 255, 255)
    assert tuple(arr[0, 0]) == (255, 0, 0)


def test_la_is_composited(tmp_path):
    arr = _loads_rgb(_save(Image.new("LA", (4, 4), (0, 0)), tmp_path / "la.png"))
    assert (arr == 255).all()


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (4, 4), 0)
    img.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    img.putpixel((1, 1), 1)
    img.info["transparency"] = 0
    arr = _loads_rgb(_save(img, tmp_path / "p.png", transparency=0))
    assert tuple(arr[0, 0]) == (255, 255, 255) and tuple(arr[1, 1]) == (0, 255, 0)


def test_cmyk_jpeg(tmp_path):
    arr = _loads_rgb(_save(Image.new("CMYK", (6, 6), (0, 255, 255, 0)), tmp_path / "c.jpg"))
    assert arr[..., 0].mean() > 200 and arr[..., 1].mean() < 60


def test_16_bit_png_is_scaled(tmp_path):
    data = np.full((5, 5), 65535, np.uint16)
    data[0, 0] = 0
    img = Image.fromarray(data)
    arr = _loads_rgb(_save(img, tmp_path / "deep.png"))
    assert arr[1, 1, 0] == 255 and arr[0, 0, 0] == 0


def test_float_tiff(tmp_path):
    img = Image.fromarray(np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4), "F")
    arr = _loads_rgb(_save(img, tmp_path / "f.tif"))
    assert arr.min() == 0 and arr.max() == 255


def test_animation_takes_first_frame(tmp_path):
    frames = [Image.new("RGB", (5, 5), c) for c in [(255, 0, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100)
    arr = _loads_rgb(path)
    assert arr[2, 2, 0] > 200 and arr[2, 2, 2] < 50


def test_unicode_and_space_path(tmp_path):
    _loads_rgb(_save(Image.new("RGB", (3, 3)), tmp_path / "dossier été" / "ñandú 猫 1.png"), (3, 3))


def test_wrong_extension_but_real_image_loads(tmp_path):
    _loads_rgb(_save(Image.new("RGB", (3, 3)), tmp_path / "really_png.jpg", format="PNG"))


def _refused(path, *fragments):
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    assert str(path) in str(info.value) and info.value.path == path
    for f in fragments:
        assert f in info.value.reason, info.value.reason
    return info.value


def test_zero_byte_file(tmp_path):
    (tmp_path / "z.png").write_bytes(b"")
    _refused(tmp_path / "z.png", "empty file")


def test_text_with_image_extension(tmp_path):
    (tmp_path / "notes.png").write_text("not pixels")
    _refused(tmp_path / "notes.png", "not an image")


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[:400])
    _refused(tmp_path / "cut.png")


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[:300])
    _refused(tmp_path / "cut.jpg", "truncated")


def test_missing_file_and_folder(tmp_path):
    _refused(tmp_path / "gone.png", "no such file")
    _refused(tmp_path, "folder")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # 12000 x 12000 1-bit image: a few kB on disk, 144 MP once decoded.
    path = _save(Image.new("1", (12000, 12000)), tmp_path / "bomb.png")
    assert path.stat().st_size < 100_000
    _refused(path, "megapixels", "decompression bomb")


def test_pixel_limit_is_a_parameter(tmp_path):
    path = _save(Image.new("RGB", (20, 20)), tmp_path / "small.png")
    with pytest.raises(ImageLoadError, match="limit"):
        load_image(path, max_pixels=100)


# ------------------------------------------------------------- the shared corpus, big photos

@pytest.mark.parametrize("name, fragment", [
    ("empty.png", "empty file"), ("text.png", "not an image"), ("truncated.jpg", "truncated"),
    ("truncated.png", ""), ("bomb.png", "decompression bomb"), ("bomb.jpg", "decompression bomb"),
    ("folder.png", "folder"), ("loop.png", "symbolic link loop"), ("dangling.png", "broken symbolic link"),
])
def test_every_bad_file_is_refused_with_its_reason(bad_files, name, fragment):
    _refused(bad_files[name], fragment)


def test_a_bomb_jpeg_is_refused_before_decoding(bad_files):
    error = _refused(bad_files["bomb.jpg"], "40000x40000", "far too small")
    assert error.path.stat().st_size < 2000


@pytest.mark.slow
def test_a_108_megapixel_camera_jpeg_opens_reduced(big_photo):
    full = load_image(big_photo)  # no size asked: the largest halving within the pixel limit
    assert full.info["original_size"] == (12000, 9000)
    assert full.size == (6000, 4500)
    small = load_image(big_photo, min_size=(224, 224))  # what a model needs: 1/8 in libjpeg, then / 5
    assert small.size == (300, 225)
    arr = np.asarray(small)
    assert arr[112, 150].mean() < 40 and arr[0, 0].mean() > 200, "the gradient, not noise"


def test_reduced_decoding_never_goes_below_the_request(tmp_path):
    path = _save(Image.new("RGB", (1000, 300), (10, 200, 30)), tmp_path / "wide.png")
    img = load_image(path, min_size=(224, 224))
    assert img.size == (1000, 300)  # 300 // 224 = 1: reducing would go below the request
    img = load_image(path, min_size=lambda w, h: (w // 4, h // 4))
    assert img.size == (250, 75)


def test_reduced_decoding_keeps_the_exif_orientation(tmp_path):
    img = Image.new("RGB", (800, 400), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 200, 400))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(img, tmp_path / "rot.jpg", exif=exif.tobytes(), quality=95)
    small = load_image(path, min_size=(50, 100))  # upright: 400 wide, 800 tall
    assert small.size == (50, 100) and small.info["original_size"] == (400, 800)
    arr = np.asarray(small)
    assert arr[2, 25, 0] > 200 and arr[2, 25, 2] < 80, "red must be on top after rotation"
