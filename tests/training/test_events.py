"""The event protocol: EVENTS.md matches the schema; stdout stays clean; errors are events."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest

from trainer_helpers import ROOT, child_env, parse_events, run_trainer
from training.events import COMMON, PROTOCOL, SCHEMA, JsonLinesWriter, check_event, make_event

DOC = ROOT / "training" / "EVENTS.md"


def _documented() -> dict[str, dict[str, tuple[str, str]]]:
    """{event: {field: (type, meaning)}} from the tables of EVENTS.md."""
    doc, current = {}, None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(\w+)`", line)
        if heading:
            current = doc.setdefault(heading.group(1), {})
            continue
        row = re.match(r"^\| `(\w+)` \| ([a-z ]+) \| (.*) \|$", line)
        if row and current is not None:
            current[row.group(1)] = (row.group(2).strip().replace(" or ", "|"), row.group(3))
    return doc


def test_events_md_documents_exactly_the_schema():
    documented = _documented()
    assert set(documented) == set(SCHEMA)
    for name, fields in SCHEMA.items():
        assert documented[name] == fields, name
    text = DOC.read_text(encoding="utf-8")
    for field in COMMON:
        assert f"`{field}`" in text
    assert f"protocol {PROTOCOL}" in text


def test_check_event_catches_drift():
    good = make_event("stopped", arch="resnet50", epoch=3, step=0, path="/r/last.pt")
    assert check_event(good) == []
    assert check_event({**good, "epoch": "3"})  # wrong type
    assert check_event({k: v for k, v in good.items() if k != "path"})  # missing
    assert check_event({**good, "surprise": 1})  # undocumented
    assert check_event({**good, "protocol": 2})
    assert check_event({"event": "nonsense", "protocol": 1})


def test_events_are_strict_json_lines():
    e = make_event("epoch_end", arch="a", epoch=1, epochs=1, train_loss=float("nan"), train_acc=0.5,
                   val_loss=float("inf"), val_acc=None, lr=0.1, seconds=1.0, images_per_s=2.0)
    assert e["train_loss"] is None and e["val_loss"] is None
    buf = io.StringIO()
    JsonLinesWriter(buf)(e)
    line = buf.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert json.loads(line)["event"] == "epoch_end"


def test_a_reader_that_went_away_stops_the_run_instead_of_crashing_it():
    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError

    called = []
    w = JsonLinesWriter(Closed(), on_broken=lambda: called.append(1))
    w(make_event("error", message="x", arch=None))
    w(make_event("error", message="y", arch=None))
    assert w.broken and called == [1]


def test_stray_prints_cannot_reach_the_event_stream(tmp_path):
    code = (
        "import os, sys\n"
        "from training.events import StdoutGuard, JsonLinesWriter, make_event\n"
        "g = StdoutGuard()\n"
        "print('python noise')\n"
        "os.write(1, b'C-level noise\\n')\n"
        "JsonLinesWriter(g.stream)(make_event('error', message='only me', arch=None))\n"
        "g.restore()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=child_env(tmp_path), cwd=ROOT)
    assert r.returncode == 0, r.stderr
    (event,) = parse_events(r.stdout)
    assert event["message"] == "only me"
    assert "python noise" in r.stderr and "C-level noise" in r.stderr


def test_usage_error_is_an_event_and_status_2(tmp_path):
    r = run_trainer("--arch", "resnet50", data_dir=tmp_path, timeout=120)
    assert r.returncode == 2
    (event,) = parse_events(r.stdout)
    assert event["event"] == "error" and "--data" in event["message"] and check_event(event) == []
    assert "--data" in r.stderr


def test_help_prints_normally(tmp_path):
    r = run_trainer("--help", data_dir=tmp_path, timeout=120)
    assert r.returncode == 0 and "--resume" in r.stdout and "EVENTS.md" in r.stdout


@pytest.mark.slow
@pytest.mark.parametrize("layout, message", [("empty", "is empty"), ("one-class", "at least two"),
                                             ("empty-class", "no images")])
def test_bad_data_is_an_error_event_before_training(tmp_path, layout, message):
    from PIL import Image

    data = tmp_path / "data"
    data.mkdir()
    if layout != "empty":
        (data / "a").mkdir()
        Image.new("RGB", (8, 8)).save(data / "a" / "x.png")
    if layout == "empty-class":
        (data / "b").mkdir()
    r = run_trainer("--data", str(data), "--arch", "small_cnn", "--out", str(tmp_path / "run"),
                    data_dir=tmp_path / "ud", timeout=120)
    assert r.returncode == 2, r.stderr
    events = parse_events(r.stdout)
    assert [e["event"] for e in events] == ["error"]
    assert message in events[0]["message"] and message in r.stderr
    assert not (tmp_path / "run" / "config.json").exists()


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from training.progress import progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress_bar(10, 0, "x") is None  # a pipe or a log file: no bar
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    bar = progress_bar(10, 4, "resnet50 2/8")
    bar.update(1)
    bar.close()
    assert "resnet50 2/8" in term.getvalue() and "4/10" in term.getvalue()  # starts where it resumed
