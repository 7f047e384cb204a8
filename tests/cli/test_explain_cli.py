"""gcam-explain end to end on a few small images, one of them broken, and explain_paths."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gcam_desktop import run_folder
from gcam_desktop.batch import explain_files
from gcam_desktop.cli import explain as cli
from gcam_desktop.models import build_model, make_meta, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CLASSES = ["cat", "dog", "fox"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny_cnn.pt"
    save_checkpoint(path, build_model("small_cnn", 3), make_meta("small_cnn", CLASSES, input_size=32))
    return path


@pytest.fixture
def photos(tmp_path):
    root = tmp_path / "photos"
    (root / "dog").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 255, (50, 30), dtype=np.uint8)).save(root / "dog" / "b.jpg")
    Image.fromarray(rng.integers(0, 255, (2000, 100, 3), dtype=np.uint8)).save(root / "tall.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_end_to_end_with_a_broken_image(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, err = run(["--weights", checkpoint, "small_cnn", "--num-classes", 3, "--input-size", 32,
                             "--method", "gradcam", "--top-k", 2, "--out", out, "--no-progress",
                             "--max-side", 500, photos], capsys)
    assert code == 1  # the broken image counts as a failure ...
    assert "broken.png" in err and "error:" in err
    assert "random, untrained weights" in err  # the architecture name is flagged
    assert "3 problem" not in err and "1 problem(s)" in err
    for model in ("tiny_cnn", "small_cnn"):  # ... and the others are all explained
        for rel in ("photos/a", "photos/dog/b", "photos/tall"):
            for rank in (1, 2):
                png = out / model / f"{rel}.gradcam.top{rank}.png"
                npy = out / model / f"{rel}.gradcam.top{rank}.npy"
                assert png.is_file() and npy.is_file(), png
                raw = np.load(npy)
                assert raw.shape == (16, 16) and raw.dtype == np.float32 and (raw >= 0).all()
    assert Image.open(out / "tiny_cnn/photos/a.gradcam.top1.png").size == (60, 40)  # the image's size
    assert Image.open(out / "tiny_cnn/photos/tall.gradcam.top1.png").size == (25, 500)  # --max-side
    assert not list(out.rglob("*.tmp"))  # atomic: no leftovers, only the run lock (run_folder.py)
    assert {p.name for p in out.rglob(".*")} <= {run_folder.LOCK_NAME, run_folder.OWNER_NAME}
    rows = list(csv.DictReader((out / "predictions.csv").open(encoding="utf-8")))
    assert set(rows[0]) == set(explain_files.CSV_COLUMNS)
    assert {r["model"] for r in rows} == {"tiny_cnn", "small_cnn"}
    assert len(rows) == 3 * 2 * 3  # 3 images x 2 models x all 3 classes (fewer than 5)
    assert not any(Path(r["file"]).name == "broken.png" for r in rows)
    a_rows = [r for r in rows if r["file"].endswith("a.png") and r["model"] == "tiny_cnn"]
    assert [int(r["rank"]) for r in a_rows] == [1, 2, 3]
    assert {r["class"] for r in a_rows} == set(CLASSES)
    probs = [float(r["probability"]) for r in a_rows]
    assert probs == sorted(probs, reverse=True) and abs(sum(probs) - 1) < 1e-4
    assert a_rows[0]["overlay"] == "tiny_cnn/photos/a.gradcam.top1.png" and a_rows[2]["overlay"] == ""


def test_overlay_matches_the_engine(checkpoint, photos, tmp_path, capsys):
    """The PNG is exactly overlay(image, the engine's map) and the .npy exactly its raw map."""
    from gcam_desktop.explain import explain, overlay
    from gcam_desktop.imaging import load_image
    from gcam_desktop.imaging.preprocess import preprocess_batch
    from gcam_desktop.models import load_checkpoint

    out = tmp_path / "out"
    code, _, _ = run(["--weights", checkpoint, "--target", 2, "--cmap", "viridis", "--alpha", 0.7,
                      "--out", out, "--no-progress", photos / "a.png"], capsys)
    assert code == 0
    model, meta = load_checkpoint(checkpoint)
    img = load_image(photos / "a.png")
    ex = explain(model, preprocess_batch([img], meta), "gradcam", targets=2)
    expected = overlay.overlay(np.asarray(img), ex.maps[0, 0].numpy(), 0.7, "viridis")
    assert np.array_equal(np.asarray(Image.open(out / "tiny_cnn/a.gradcam.class2.png")), expected)
    assert np.allclose(np.load(out / "tiny_cnn/a.gradcam.class2.npy"), ex.raw[0, 0].numpy())
    rows = list(csv.DictReader((out / "predictions.csv").open(encoding="utf-8")))
    explained = [r for r in rows if r["overlay"]]
    assert len(explained) == 1 and explained[0]["class_index"] == "2" and explained[0]["class"] == "fox"


def test_all_good_exits_zero_and_method_options_pass_through(checkpoint, photos, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(["--weights", checkpoint, "--method", "smoothgrad", "--option", "samples=2",
                        "--out", out, "--no-progress", photos / "dog"], capsys)
    assert code == 0, err
    assert (out / "tiny_cnn/dog/b.smoothgrad.top1.png").is_file()
    assert np.load(out / "tiny_cnn/dog/b.smoothgrad.top1.npy").shape == (32, 32)  # input resolution


@pytest.mark.parametrize("argv, message", [
    (["--option", "sample=2"], "smoothgrad has no such option"),
    (["--option", "nonsense"], "expected NAME=VALUE"),
    (["--top-k", "0"], "argument --top-k: must be at least 1, not 0"),
    (["--target", "1", "--top-k", "2"], "not allowed with"),
    (["--method", "gradcam+++"], "invalid choice"),
    (["--max-side", "-5"], "argument --max-side: must be at least 0, not -5"),
    (["--batch-size", "0"], "argument --batch-size: must be at least 1, not 0"),
    (["--alpha", "1.5"], "argument --alpha: must be in [0, 1], not 1.5"),
    (["--alpha", "nan"], "argument --alpha: expected a finite number, not 'nan'"),
    (["--num-classes", "0"], "argument --num-classes: must be at least 1, not 0"),
    (["--input-size", "4"], "argument --input-size: must be at least 8, not 4"),
    (["--nproc-per-node", "0"], "argument --nproc-per-node: must be at least 1, not 0"),
    (["--batch-size", "two"], "argument --batch-size: expected a whole number, not 'two'"),
])
def test_usage_errors_exit_2_in_one_line_before_any_work(argv, message, tmp_path, capsys):
    method = [] if "--method" in argv else ["--method", "smoothgrad"]
    out = tmp_path / "out"
    code = cli.main(["--weights", "small_cnn", *method, *argv, "--out", str(out), "x.png"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines()[0] == f"gcam-explain: {message}" if "argument" in message else message in err
    assert err.splitlines()[1:] == ["(see gcam-explain --help)"] and "Traceback" not in err
    assert not out.exists()  # refused before anything was made


def test_bad_weights_are_reported_and_the_rest_goes_on(checkpoint, photos, tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    code, _, err = run(["--weights", missing, junk, checkpoint, "--out", tmp_path / "out", "--no-progress",
                        photos / "a.png"], capsys)
    assert code == 1
    assert "nope.pt" in err and "no such file" in err and "resnet50" in err  # names the archs too
    assert "junk.pt" in err
    assert (tmp_path / "out/tiny_cnn/a.gradcam.top1.png").is_file()
    code, _, err = run(["--weights", missing, "--out", tmp_path / "out2", "--no-progress", photos], capsys)
    assert code == 1 and "no model could be loaded" in err


def test_a_request_a_model_cannot_serve_is_reported_once(checkpoint, photos, tmp_path, capsys):
    code, _, err = run(["--weights", checkpoint, "--method", "cam", "--out", tmp_path / "out",
                        "--no-progress", "--batch-size", 1, photos], capsys)
    assert code == 1
    assert err.count("not followed by such a head") == 2  # once as it happens, once in the summary


def test_a_method_a_model_cannot_run_at_its_layer_is_refused_before_any_image(photos, tmp_path, capsys):
    """CAM needs the layer that feeds the pooled linear head; a 32 px ResNet50 explains layer2
    by default. The check gcam-evaluate makes (explain.runnable) refuses that model up front,
    in one line naming it, and no image is read for nothing (the broken one is never reported);
    the other model still explains every image."""
    torch.manual_seed(0)
    small = tmp_path / "small.pt"
    save_checkpoint(small, build_model("resnet50", 3), make_meta("resnet50", CLASSES, input_size=32))
    code, _, err = run(["--weights", small, "--method", "cam", "--out", tmp_path / "out", "--no-progress", photos],
                       capsys)
    assert code == 1
    assert "small: cannot run cam: 'cam' needs the layer whose output goes straight into" in err
    assert "no model can serve this request; no image was explained" in err
    assert "broken.png" not in err and not (tmp_path / "out" / "small").exists()
    code, _, err = run(["--weights", small, "--method", "cam", "--layer", "layer4", "--out", tmp_path / "out2",
                        "--no-progress", photos / "a.png"], capsys)
    assert code == 0, err
    assert (tmp_path / "out2" / "small" / "a.cam.top1.png").is_file()


def test_layer_and_class_checked_per_model(checkpoint, photos, tmp_path, capsys):
    code, _, err = run(["--weights", checkpoint, "--layer", "layer4", "--out", tmp_path / "o1",
                        "--no-progress", photos / "a.png"], capsys)
    assert code == 1 and "has no layer 'layer4'" in err and "conv1, conv2" in err
    code, _, err = run(["--weights", checkpoint, "--target", 3, "--out", tmp_path / "o2",
                        "--no-progress", photos / "a.png"], capsys)
    assert code == 1 and "has no class 3: its classes are 0..2" in err


def test_missing_paths_and_empty_folders_fail(checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, _, err = run(["--weights", checkpoint, "--out", tmp_path / "o", "--no-progress",
                        tmp_path / "nowhere", tmp_path / "empty"], capsys)
    assert code == 1 and "no such file or folder" in err and "no images in this folder" in err


def test_explain_paths_progress_cancel_and_name_clashes(checkpoint, photos, tmp_path):
    from gcam_desktop.models import load_checkpoint

    other = tmp_path / "other" / "photos"  # a second folder of the same name
    other.mkdir(parents=True)
    Image.new("RGB", (20, 20), "red").save(other / "a.png")
    model, meta = load_checkpoint(checkpoint)
    progress, errors = [], []
    report = explain_files.explain_paths([photos, other, photos / "a.png"], [("m", model, meta)], tmp_path / "out",
                               batch_size=2, on_progress=lambda d, n, p: progress.append((d, n)),
                               on_error=lambda what, why: errors.append(what))
    assert report.images == 5  # a.png named twice counts once; broken.png is found, then fails
    assert progress[-1] == (5, 5) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert len(errors) == 1 and errors[0].endswith("broken.png") and not report.ok
    assert (tmp_path / "out/m/photos/a.gradcam.top1.png").is_file()
    assert (tmp_path / "out/m/photos/a_2.gradcam.top1.png").is_file()  # the clash got a suffix
    calls = []
    stopped = explain_files.explain_paths([photos], [("m", model, meta)], tmp_path / "out2", batch_size=1,
                                should_stop=lambda: calls.append(1) or len(calls) > 2)
    assert stopped.cancelled and stopped.maps == 1  # a.png, then broken.png, then the stop


def test_help_is_fast_to_import():
    code = ("import sys\nfrom gcam_desktop.cli import explain as cli\ncli.build_parser().format_help()\n"
            "sys.exit(1 if 'torch' in sys.modules else 0)\n")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


# ---------------------------------------------------------- bad input, failed writes, interrupts

def test_bad_files_from_the_corpus_are_named_with_their_reason(checkpoint, bad_files, tmp_path, capsys):
    names = ["empty.png", "text.png", "truncated.jpg", "bomb.png", "bomb.jpg", "loop.png", "dangling.png"]
    code, _, err = run(["--weights", checkpoint, "--out", tmp_path / "out", "--no-progress",
                        *[bad_files[n] for n in names], bad_files["loopdir"]], capsys)
    assert code == 1
    for name, why in [("empty.png", "empty file"), ("bomb.jpg", "decompression bomb"),
                      ("loop.png", "symbolic link loop"), ("dangling.png", "broken symbolic link"),
                      ("loopdir", "symbolic link loop")]:
        assert any(name in line and why in line for line in err.splitlines()), (name, err)
    assert "0 map(s) written" in err and "0 finished" in err
    assert "Traceback" not in err and "Warning" not in err


def test_an_unwritable_out_fails_at_once_in_one_line(checkpoint, photos, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    code, _, err = run(["--weights", checkpoint, "--out", blocker / "out", "--no-progress", photos], capsys)
    assert code == 1
    assert err.strip().splitlines() == [f"error: cannot write {blocker / 'out'}: {blocker} is a file, not a folder"]


def test_when_no_map_is_written_the_summary_and_exit_status_say_so(checkpoint, photos, tmp_path):
    """The out folder is fine when checked, but every map write fails: nothing may be reported
    as written, and the run is not a success."""
    from gcam_desktop.models import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    out = tmp_path / "out"
    out.mkdir()
    (out / "m").write_text("a file where the model's folder of maps must go")
    report = explain_files.explain_paths([photos / "a.png", photos / "tall.png"], [("m", model, meta)], out)
    assert report.maps == 0 and report.maps_failed == 2 and not report.ok
    assert report.finished == 2  # explained; only the files could not be written
    assert report.failures and all(f"{out / 'm'} is a file, not a folder" in why for _, why in report.failures)
    line = cli.summary(report, 1, "m", "gradcam", out)
    assert "0 map(s) written" in line and "2 could not be written" in line


@pytest.mark.slow
def test_sigterm_keeps_the_finished_predictions_and_says_how_many(tmp_path):
    import os
    import signal
    import time

    photos = tmp_path / "many"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(120):
        Image.fromarray(rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)).save(photos / f"p{i:03d}.png")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "gcam_desktop.cli.explain", "--weights", "resnet50",
                             "--num-classes", "3", "--input-size", "64", "--batch-size", "1",
                             "--no-progress", "--out", str(out), str(photos)],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(out.rglob("p002.gradcam.top1.png")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    rows = list(csv.DictReader((out / "predictions.csv").open(encoding="utf-8")))
    finished = sorted({r["file"] for r in rows})
    assert 3 <= len(finished) < 120
    assert f"interrupted after {len(finished)} of 120 image(s)" in err
    for r in rows:
        if r["overlay"]:
            assert (out / r["overlay"]).is_file() and (out / r["raw"]).is_file()
    # ... and every map on disk has its row: rows and maps match exactly
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert on_disk == {r["overlay"] for r in rows if r["overlay"]}
    hidden = {p.name for p in out.iterdir() if p.name.startswith(".")}
    assert hidden <= {run_folder.LOCK_NAME, run_folder.OWNER_NAME}  # the partial file was moved into place
    assert "Traceback" not in err


@pytest.mark.slow
def test_library_warnings_do_not_reach_the_user(tmp_path, photos):
    """torch warns "Detected pickle protocol 4 ..." when it reads such a file: its internals,
    nothing a user can act on. Even with -W default the user sees only the program's message."""
    path = tmp_path / "proto4.pt"
    model = build_model("small_cnn", 3)
    torch.save({"format": "gcam-desktop/checkpoint", "version": 1, "state_dict": model.state_dict(),
                "meta": make_meta("small_cnn", CLASSES), "extra": {}}, path, pickle_protocol=4)
    r = subprocess.run([sys.executable, "-W", "default", "-m", "gcam_desktop.cli.explain", "--weights", str(path),
                        "--out", str(tmp_path / "out"), "--no-progress", str(photos / "a.png")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "Warning" not in r.stderr and "Detected pickle protocol" not in r.stderr, r.stderr
    assert "written with pickle protocol 4" in r.stderr and "re-save it" in r.stderr


def test_arch_equals_checkpoint_as_the_app_takes_it(checkpoint, photos, tmp_path, capsys):
    """gcam-desktop's --weights ARCH=CHECKPOINT form works here too, and the architecture is checked."""
    code, _, err = run(["--weights", f"small_cnn={checkpoint}", "--out", tmp_path / "out", "--no-progress",
                        photos / "a.png"], capsys)
    assert code == 0, err
    assert (tmp_path / "out/tiny_cnn/a.gradcam.top1.png").is_file()
    code, _, err = run(["--weights", f"se_resnet50={checkpoint}", "--out", tmp_path / "out2", "--no-progress",
                        photos / "a.png"], capsys)
    assert code == 1 and "tiny_cnn.pt" in err and "small_cnn" in err and "se_resnet50" in err
    assert "nor an architecture name" not in err


def test_more_processes_than_devices_are_refused_unless_insisted(tmp_path, capsys):
    """--nproc-per-node 64 on a machine without 64 devices: one line naming the way out, no process."""
    import os

    from gcam_desktop.cli.explain import main

    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(image)
    n = (os.cpu_count() or 1) + 62
    code = main(["--weights", "resnet50", "--out", str(tmp_path / "out"), "--nproc-per-node", str(n),
                 "--device", "cpu", str(image)])
    err = capsys.readouterr().err
    assert code == 2 and "--allow-oversubscribe" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
