import os
from pathlib import Path

import pytest
import torch
from PIL import Image

from gcam_desktop.imaging import is_image_path, scan_folder
from gcam_desktop.imaging.preprocess import denormalize, preprocess, preprocess_batch, true_class_from_path


def _touch(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_natural_order_hidden_and_non_images(tmp_path):
    for name in ["img10.png", "img2.png", "img1.JPG", ".hidden.png", "notes.txt"]:
        _touch(tmp_path / name)
    _touch(tmp_path / ".cache" / "x.png")
    _touch(tmp_path / "b10" / "a.png")
    _touch(tmp_path / "b2" / "a.png")
    names = [p.relative_to(tmp_path).as_posix() for p in scan_folder(tmp_path)]
    assert names == ["img1.JPG", "img2.png", "img10.png", "b2/a.png", "b10/a.png"]


def test_single_file_and_missing_folder(tmp_path):
    f = _touch(tmp_path / "one.png")
    assert list(scan_folder(f)) == [f]
    errors = []
    assert list(scan_folder(tmp_path / "missing", on_error=lambda p, m: errors.append((p, m)))) == []
    assert errors and "no such folder" in errors[0][1]


def test_symlink_loop_is_survived(tmp_path):
    _touch(tmp_path / "a" / "x.png")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found = list(scan_folder(tmp_path))
    assert [p.name for p in found] == ["x.png"]


def test_unreadable_subfolder_is_reported_not_fatal(tmp_path, monkeypatch):
    _touch(tmp_path / "ok" / "x.png")
    _touch(tmp_path / "locked" / "y.png")
    real = os.scandir

    def guarded(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", guarded)
    errors = []
    found = list(scan_folder(tmp_path, on_error=lambda p, m: errors.append((p.name, m))))
    assert [p.name for p in found] == ["x.png"]
    assert errors == [("locked", "cannot read folder (Permission denied)")]


def test_is_image_path():
    assert is_image_path("a/b.TIFF") and is_image_path("x.webp") and not is_image_path("x.pt")


def test_preprocess_normalises_with_given_stats():
    img = Image.new("RGB", (50, 30), (255, 0, 128))
    t = preprocess(img, 16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.25, 1.0))
    assert t.shape == (3, 16, 16) and t.dtype == torch.float32
    assert torch.allclose(t[0], torch.ones(16, 16))
    assert torch.allclose(t[1], torch.full((16, 16), -2.0))
    assert torch.allclose(t[2], torch.full((16, 16), 128 / 255 - 0.5), atol=1e-6)
    back = denormalize(t, (0.5, 0.5, 0.5), (0.5, 0.25, 1.0))
    assert back.shape == (16, 16, 3) and tuple(back[0, 0]) == (255, 0, 128)


def test_preprocess_batch_uses_meta():
    meta = {"input_size": 24, "mean": [0, 0, 0], "std": [1, 1, 1]}
    batch = preprocess_batch([Image.new("RGB", (10, 10), (255, 255, 255))] * 2, meta)
    assert batch.shape == (2, 3, 24, 24) and torch.allclose(batch, torch.ones_like(batch))


def test_true_class_from_folder_name():
    assert true_class_from_path("/data/Cat/1.png", ["dog", "cat"]) == 1
    assert true_class_from_path("/data/misc/1.png", ["dog", "cat"]) is None


def test_a_symlink_loop_given_as_the_folder_is_called_a_loop(bad_files):
    errors = []
    assert list(scan_folder(bad_files["loopdir"], on_error=lambda p, m: errors.append(m))) == []
    assert errors == ["a symbolic link loop (the link leads back to itself)"]
    errors.clear()
    list(scan_folder(bad_files["dangling.png"].with_name("nowhere"), on_error=lambda p, m: errors.append(m)))
    assert errors == ["no such folder"]


def test_entries_named_like_images_that_are_not_files_are_reported(tmp_path):
    from corpus import files as corpus

    _touch(tmp_path / "good.png")
    bad = corpus.not_files(tmp_path)
    os.mkfifo(tmp_path / "pipe-not-an-image")  # not named like an image: not a word
    errors = []
    found = list(scan_folder(tmp_path, on_error=lambda p, m: errors.append((p, m))))
    assert found == [tmp_path / "good.png"]
    said = dict(errors)
    assert set(said) == set(bad.values())
    assert said[bad["fifo"]] == "a named pipe (FIFO), not an image file"
    assert said[bad["device"]] == f"a device (through the link to {os.devnull}), not an image file"
    assert said[bad["dangling"]].startswith("a broken symbolic link")
    assert said[bad["loop"]] == "a symbolic link loop (the link leads back to itself)"


def test_excluded_folders_are_not_entered_however_they_are_named(tmp_path):
    _touch(tmp_path / "a.png")
    _touch(tmp_path / "out" / "m" / "a.gradcam.top1.png")
    _touch(tmp_path / "sub" / "b.png")
    os.symlink(tmp_path / "out", tmp_path / "sub" / "link-to-out")
    found = [p.relative_to(tmp_path).as_posix() for p in scan_folder(tmp_path, exclude=[tmp_path / "out"])]
    assert found == ["a.png", "sub/b.png"]
    # the root itself is scanned even if excluded (--out given as the input folder)
    assert [p.name for p in scan_folder(tmp_path / "sub", exclude=[tmp_path / "sub", tmp_path / "out"])] == ["b.png"]
