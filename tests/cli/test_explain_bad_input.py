"""Issue 24: file names and outputs, in both entry points of the one library code: the
gcam-explain CLI (`cli.main`) and `explain_paths` as the app's batch export calls it.

Each class of problem is built by tests/corpus/files.py: names that are not UTF-8, over-long
output names, --out inside the input, entries that are not files, formula cells, two runs into
one folder, and a disk that fills up while predictions.csv is written."""

from __future__ import annotations

import csv
import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from corpus import files as corpus
from gcam_desktop.batch import explain_files, writer
from gcam_desktop.batch.names import LONGEST_NAME
from gcam_desktop.cli import explain as cli
from gcam_desktop.models import build_model, load_checkpoint, make_meta, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, build_model("small_cnn", 3), make_meta("small_cnn", ["cat", "dog", "fox"], input_size=32))
    return path


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_checkpoint(checkpoint)


def run_cli(argv, capsys):
    code = cli.main([os.fsdecode(a) if isinstance(a, bytes) else str(a) for a in argv])
    return code, capsys.readouterr().err


def explain(paths, model, out, **kw):
    """explain_paths as the app's batch export calls it (gcam_desktop/app/export/batch.py)."""
    errors = []
    report = explain_files.explain_paths(paths, [explain_files.ModelSpec("m", *model)], out,
                                         on_error=lambda what, why: errors.append((what, why)), **kw)
    return report, errors


def rows_of(out: Path) -> list[dict]:
    with open(out / "predictions.csv", encoding="utf-8", newline="") as fh:  # strict UTF-8
        return list(csv.DictReader(fh))


def assert_rows_name_only_files_that_exist(out: Path, rows: list[dict]) -> None:
    for r in rows:
        for column in ("overlay", "raw"):
            if r[column]:
                assert (out / r[column]).is_file(), r[column]
        assert bool(r["overlay"]) == bool(r["raw"])  # a map is named whole or not at all


# ------------------------------------------------------------------------ names not UTF-8

def test_names_that_are_not_utf8_are_explained_shown_and_filed_safely(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    corpus.image(photos / "a.png")
    corpus.non_utf8_images(photos)
    corpus.image(photos / "b.png", seed=5)
    (Path(os.fsdecode(os.path.join(os.fsencode(photos), b"broken-\xe9.png")))).write_bytes(b"not an image")
    out = tmp_path / "out"
    code, err = run_cli(["--weights", checkpoint, "--out", out, "--no-progress", "--batch-size", 1, photos], capsys)
    assert code == 1 and "Traceback" not in err  # 1: the broken image only
    assert "broken-\\xe9.png: " in err  # its name shown with the odd byte as \xNN
    assert "4 image(s) x 1 model(s)" not in err and "5 image(s) x 1 model(s)" in err and "4 finished" in err
    rows = rows_of(out)
    files = {r["file"] for r in rows}
    assert {Path(f).name for f in files} == {"a.png", "b.png", "latin1-\\xe9\\xff.png", "inner.png"}
    assert any("dossier-\\xe9" in f for f in files)
    top1 = {r["overlay"] for r in rows if r["overlay"]}
    assert "tiny/photos/latin1-%E9%FF.gradcam.top1.png" in top1  # filed as %NN: no backslash
    assert "tiny/photos/dossier-%E9/inner.gradcam.top1.png" in top1
    assert_rows_name_only_files_that_exist(out, rows)
    assert len(list(out.rglob("*.png"))) == 4


@pytest.mark.slow
def test_a_name_that_is_not_utf8_given_on_the_command_line(checkpoint, tmp_path):
    """A real process, its argv and stderr bytes: the name survives both ways."""
    good = corpus.non_utf8_images(tmp_path / "in")[0]
    broken = os.path.join(os.fsencode(tmp_path), b"broken-\xe9.png")
    with open(broken, "wb") as fh:
        fh.write(b"not an image")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "gcam_desktop.cli.explain", "--weights", str(checkpoint),
                        "--no-progress", "--out", str(out), os.fsencode(good), broken], cwd=ROOT, capture_output=True,
                       timeout=300)
    err = r.stderr.decode("utf-8")  # strict: everything printed is UTF-8
    assert r.returncode == 1 and "Traceback" not in err
    assert "broken-\\xe9.png: not an image" in err
    assert [row["file"] for row in rows_of(out)][0].endswith("latin1-\\xe9\\xff.png")


def test_names_that_are_not_utf8_through_the_library(model, tmp_path):
    photos = tmp_path / "photos"
    made = corpus.non_utf8_images(photos)
    broken = Path(os.fsdecode(os.path.join(os.fsencode(photos), b"z-\xff.png")))
    broken.write_bytes(b"")
    progress = []
    report, errors = explain([photos], model, tmp_path / "out", on_progress=lambda d, n, p: progress.append(p))
    assert report.finished == len(made) and report.maps == len(made)
    assert errors and all((what + why).encode("utf-8") for what, why in errors)  # encodable: shown
    assert errors[0][0].endswith("z-\\xff.png")
    assert all(p.encode("utf-8") for p in progress)
    assert_rows_name_only_files_that_exist(tmp_path / "out", rows_of(tmp_path / "out"))


# ---------------------------------------------------------------------- rows pointing at nothing

def test_an_over_long_output_name_is_shortened_the_same_way_every_time(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    corpus.long_name_image(photos)
    names = []
    for run in ("one", "two"):
        code, err = run_cli(["--weights", checkpoint, "--out", tmp_path / run, "--no-progress", photos], capsys)
        assert code == 0, err
        rows = rows_of(tmp_path / run)
        assert_rows_name_only_files_that_exist(tmp_path / run, rows)
        png = Path(next(r["overlay"] for r in rows if r["overlay"])).name
        assert len(png.encode()) <= LONGEST_NAME and png.endswith(".gradcam.top1.png") and "~" in png
        names.append(png)
    assert names[0] == names[1]
    assert (tmp_path / "one/tiny/photos" / (names[0][:-len(".png")] + ".npy")).is_file()


def test_a_map_that_cannot_be_written_gets_a_row_without_a_map(model, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    corpus.image(photos / "a.png")
    corpus.image(photos / "b.png", seed=1)
    real = writer._save_png

    def refuse_b(path, rgb):
        if path.name.startswith("b."):
            raise OSError(errno.ENAMETOOLONG, "File name too long")
        real(path, rgb)

    monkeypatch.setattr(writer, "_save_png", refuse_b)
    out = tmp_path / "out"
    report, errors = explain([photos], model, out)
    assert report.maps == 1 and report.maps_failed == 1 and report.finished == 2
    assert [why for what, why in errors if what.endswith("b.gradcam.top1.png")] == [
        f"cannot write the output of {photos / 'b.png'}: name too long"]
    rows = rows_of(out)
    b_rows = [r for r in rows if r["file"].endswith("b.png")]
    assert b_rows and not any(r["overlay"] or r["raw"] for r in b_rows)  # no map, though the .npy exists
    assert (out / "m/photos/b.gradcam.top1.npy").is_file()
    assert_rows_name_only_files_that_exist(out, rows)


# ----------------------------------------------------------------------- --out inside the input

@pytest.mark.parametrize("where", ["inside", "same"])
def test_a_second_run_does_not_explain_its_own_outputs(checkpoint, tmp_path, capsys, where):
    photos = tmp_path / "photos"
    for i in range(3):
        corpus.image(photos / f"p{i}.png", seed=i)
    out = photos / "explained" if where == "inside" else photos
    for _ in range(2):
        code, err = run_cli(["--weights", checkpoint, "--out", out, "--no-progress", photos], capsys)
        assert code == 0, err
        assert "3 image(s) x 1 model(s)" in err
    assert len(rows_of(out)) == 3 * 3


def test_the_library_leaves_its_output_folder_out_of_the_scan(model, tmp_path):
    photos = tmp_path / "photos"
    corpus.image(photos / "p.png")
    for _ in range(2):
        report, errors = explain([photos], model, photos / "out")
        assert report.images == 1 and not errors


# -------------------------------------------------------------------- entries that are not files

def test_entries_that_are_not_files_are_named_found_or_given(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    corpus.image(photos / "good.png")
    bad = corpus.not_files(photos)
    words = {"dangling": "broken symbolic link", "fifo": "a named pipe (FIFO), not an image file",
             "device": f"a device (through the link to {os.devnull}), not an image file",
             "loop": "symbolic link loop"}
    for given in ([photos], list(bad.values())):  # found by the scan, then named directly
        code, err = run_cli(["--weights", checkpoint, "--out", tmp_path / "out", "--no-progress", *given], capsys)
        assert code == 1
        for kind, path in bad.items():
            lines = [line for line in err.splitlines() if line.startswith(f"error: {path}: ")]
            assert len(lines) == 1 and words[kind] in lines[0], (kind, err)
        assert "4 path(s) skipped, not image files" in err and "Traceback" not in err


def test_entries_that_are_not_files_through_the_library(model, tmp_path):
    photos = tmp_path / "photos"
    corpus.image(photos / "good.png")
    bad = corpus.not_files(photos)
    report, errors = explain([photos], model, tmp_path / "out")
    assert report.images == 1 and report.finished == 1 and report.skipped == 4
    assert sorted(what for what, _ in errors) == sorted(str(p) for p in bad.values())


# ------------------------------------------------------------------------------ CSV injection

def test_formula_cells_are_neutralised(tmp_path, capsys, monkeypatch):
    torch.manual_seed(0)
    ckpt = tmp_path / "-evil.pt"  # a model name starting with "-"
    classes = corpus.FORMULA_CLASSES
    save_checkpoint(ckpt, build_model("small_cnn", len(classes)), make_meta("small_cnn", classes, input_size=32))
    corpus.formula_image(tmp_path)
    monkeypatch.chdir(tmp_path)  # named relative, so the file cell starts with "="
    code, err = run_cli(["--weights", f"./{ckpt.name}", "--top-k", len(classes), "--out", "out", "--no-progress",
                         corpus.FORMULA_FILE], capsys)
    assert code == 0, err
    rows = rows_of(tmp_path / "out")
    assert {r["class"] for r in rows} == {"'" + c for c in classes if c != "plain"} | {"plain"}
    assert {r["file"] for r in rows} == {"'" + corpus.FORMULA_FILE}
    assert {r["model"] for r in rows} == {"'-evil"}
    assert {Path(r["overlay"]).parts[0] for r in rows if r["overlay"]} == {"evil"}  # never a formula
    assert_rows_name_only_files_that_exist(tmp_path / "out", rows)


def test_formula_cells_are_neutralised_through_the_library(tmp_path):
    classes = corpus.FORMULA_CLASSES
    meta = make_meta("small_cnn", classes, input_size=32)
    spec = explain_files.ModelSpec("@model", build_model("small_cnn", len(classes)).eval(), meta)
    report = explain_files.explain_paths([corpus.formula_image(tmp_path / "in")], [spec], tmp_path / "out",
                                         top_k=len(classes))
    assert report.ok
    text = (tmp_path / "out" / "predictions.csv").read_text(encoding="utf-8")
    cells = [cell for line in text.splitlines()[1:] for cell in next(csv.reader([line]))]
    assert not any(cell.startswith(tuple("=+-@\t\r")) for cell in cells)
    assert "'@model" in cells and "'=1+2" in cells


# -------------------------------------------------------------------- two runs into one --out

HOLDER = textwrap.dedent("""
    import sys
    from gcam_desktop.run_folder import RunFolder
    with RunFolder(sys.argv[1], "gcam-explain"):
        print("held", flush=True)
        sys.stdin.readline()
""")


@pytest.mark.slow
def test_a_second_gcam_explain_into_one_out_is_refused_in_one_line(checkpoint, tmp_path):
    """Two real gcam-explain processes: the first is stopped once it holds --out."""
    import json
    import time

    photos = tmp_path / "photos"
    corpus.image(photos / "a.png")
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "gcam_desktop.cli.explain", "--weights", str(checkpoint), "--no-progress",
            "--out", str(out), str(photos)]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    first = subprocess.Popen(argv, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    owner = out / ".gcam-run.owner.json"
    deadline = time.monotonic() + 300  # a deadline against a hang, not a timing assertion
    while first.poll() is None and time.monotonic() < deadline:
        try:
            if json.loads(owner.read_text())["pid"] == first.pid:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    first.send_signal(signal.SIGSTOP)  # holds the folder until it goes on
    try:
        second = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"error: cannot write {out}: another run is writing there (gcam-explain, process {first.pid}, "
        + second.stderr.split(f"process {first.pid}, ", 1)[1].strip()]
    assert "wait for it to finish or choose another folder" in second.stderr
    assert len(rows_of(out)) == 3  # the first run's rows, whole


def test_the_library_refuses_a_folder_another_run_holds(model, tmp_path):
    photos = tmp_path / "photos"
    corpus.image(photos / "a.png")
    out = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        report, errors = explain([photos], model, out)
    finally:
        holder.communicate("\n", timeout=60)
    assert report.maps == 0 and not report.ok and not (out / "predictions.csv").exists()
    assert len(errors) == 1 and errors[0][0] == str(out)
    assert errors[0][1].startswith(f"cannot write: another run is writing there (gcam-explain, process {holder.pid}")
    report, errors = explain([photos], model, out)  # free once the holder has gone
    assert report.ok and report.maps == 1


# --------------------------------------------------------------------- a disk that fills up

def _disk_full_after(monkeypatch, appends_ok: int) -> None:
    """predictions.csv's appends (files.GrowingFile) fail with ENOSPC after `appends_ok`, the
    failing one having written half its bytes, as a full disk does."""
    from gcam_desktop import files

    real, calls = files._write_all, []

    def write_all(fd, data):
        calls.append(1)
        if len(calls) > appends_ok:
            os.write(fd, data[:len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_all", write_all)


def test_a_full_disk_keeps_the_rows_already_written(model, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    for i in range(4):
        corpus.image(photos / f"p{i}.png", seed=i)
    _disk_full_after(monkeypatch, appends_ok=3)  # the header, then two images' rows
    out = tmp_path / "out"
    report, errors = explain([photos], model, out, batch_size=1)
    assert report.cancelled and report.finished == 2
    assert any("no space left on device; the rows written before are kept" in why for _, why in errors)
    rows = rows_of(out)
    assert sorted(Path(r["file"]).name for r in rows if r["rank"] == "1") == ["p0.png", "p1.png"]
    assert (out / "predictions.csv").read_bytes().endswith(b"\n")  # the half-written row cut off
    assert_rows_name_only_files_that_exist(out, rows)
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_in_gcam_explain(checkpoint, tmp_path, monkeypatch, capsys):
    photos = tmp_path / "photos"
    for i in range(3):
        corpus.image(photos / f"p{i}.png", seed=i)
    _disk_full_after(monkeypatch, appends_ok=2)
    out = tmp_path / "out"
    code, err = run_cli(["--weights", checkpoint, "--batch-size", 1, "--out", out, "--no-progress", photos], capsys)
    assert code == 1 and "Traceback" not in err
    assert f"error: {out / 'predictions.csv'}: no space left on device; the rows written before are kept" in err
    assert "interrupted after 1 of 3 image(s)" in err
    assert {Path(r["file"]).name for r in rows_of(out)} == {"p0.png"}


def test_when_predictions_csv_cannot_be_moved_into_place_its_rows_are_kept_and_named(model, tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    corpus.image(photos / "a.png")
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == "predictions.csv":
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    out = tmp_path / "out"
    report, errors = explain([photos], model, out)
    assert report.predictions_csv is None and not (out / "predictions.csv").exists()
    (what, why), = errors
    kept = Path(why.split("what was written is kept in ", 1)[1])
    assert what == str(out / "predictions.csv") and kept.is_file()
    assert kept.read_text(encoding="utf-8").count("\n") == 1 + 3  # the header and the image's rows
