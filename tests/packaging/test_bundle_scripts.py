"""The pieces of build.py and bundle_test.py that judge a bundle, on small made-up inputs."""

import json
import os
import sys

import pytest

pytestmark = pytest.mark.slow  # the bundle's tests (make test-fast leaves them out)


def _write(path, n):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * n)


def test_size_counts_files_once_and_links_as_links(tmp_path, build_script):
    b = tmp_path / "gcam-desktop"
    _write(b / "_internal" / "torch" / "lib" / "libtorch_cpu.so", 5000)
    _write(b / "_internal" / "nvidia" / "cudnn" / "lib" / "libcudnn.so.9", 3000)
    _write(b / "_internal" / "nvidia" / "cu13" / "lib" / "libcublas.so.13", 2000)
    _write(b / "_internal" / "base_library.zip", 100)
    _write(b / "gcam-desktop", 10)
    if sys.platform != "win32":
        os.symlink("torch/lib/libtorch_cpu.so", b / "_internal" / "libtorch_cpu.so")
    total = build_script.tree_size(b)
    assert 10110 <= total < 10110 + 200  # a link is its own few bytes, not its target's
    parts = dict(build_script.largest_parts(b))
    assert parts["torch"] == 5000
    assert parts["nvidia/cudnn"] == 3000 and parts["nvidia/cu13"] == 2000  # CUDA split by component
    assert parts["(top-level files)"] == 100
    assert list(dict(build_script.largest_parts(b, top=1))) == ["torch"]


def test_human_sizes(build_script):
    assert build_script.human(512) == "512 B"
    assert build_script.human(3 * 1024**2) == "3.00 MiB"
    assert build_script.human(4.5 * 1024**3) == "4.50 GiB"


def test_build_refuses_without_pyinstaller(monkeypatch, build_script, capsys):
    monkeypatch.setitem(sys.modules, "PyInstaller", None)  # import now raises ImportError
    assert build_script.main([]) == 2
    assert "make bundle" in capsys.readouterr().err


def _ev(name, **fields):
    return {"event": name, "protocol": 1, **fields}


def _stream(events):
    return "\n".join(json.dumps(e) for e in events) + "\n"


GOOD = [_ev("run_started", arch="small_cnn"), _ev("epoch_end", epoch=1), _ev("checkpoint", epoch=1),
        _ev("epoch_end", epoch=2), _ev("checkpoint", epoch=2), _ev("finished", best="/r/best.pt"),
        _ev("all_finished")]


def test_a_complete_two_epoch_run_passes(bundle_test_script):
    events, problems = bundle_test_script.parse_events(_stream(GOOD))
    assert problems == [] and len(events) == len(GOOD)
    assert bundle_test_script.check_training_events(events, epochs=2) == []


@pytest.mark.parametrize("events, fragment", [
    (GOOD[:3] + GOOD[5:], "are not"),                                      # one epoch missing
    ([GOOD[0], GOOD[3], GOOD[1], GOOD[5]], "epochs [2, 1]"),                # out of order
    (GOOD[:5], "are not"),                                                 # never finished
    (GOOD[:2] + [_ev("error", message="disk full")], "disk full"),          # failed
])
def test_broken_runs_are_reported(bundle_test_script, events, fragment):
    problems = bundle_test_script.check_training_events(events, epochs=2)
    assert problems and any(fragment in p for p in problems), problems


def test_stray_text_on_stdout_breaks_the_protocol(bundle_test_script):
    events, problems = bundle_test_script.parse_events(_stream(GOOD[:2]) + "Downloading weights...\n[1, 2]\n")
    assert len(events) == 2
    assert len(problems) == 2 and "line 3 is not JSON" in problems[0] and "not an event" in problems[1]


def test_schema_problems_are_passed_on(bundle_test_script):
    problems = bundle_test_script.check_training_events(GOOD, 2, schema_check=lambda e: [f"{e['event']}: bad"])
    assert problems == [f"{e['event']}: bad" for e in GOOD]


def test_self_test_report_is_the_last_json_line(bundle_test_script):
    out = 'Qt says hello\n{"self_test": "failed"}\nnoise\n{"self_test": "ok", "models": {}}\n'
    assert bundle_test_script.last_json_line(out) == {"self_test": "ok", "models": {}}
    assert bundle_test_script.last_json_line("no report\n") is None


def test_bundle_test_needs_a_bundle(tmp_path, bundle_test_script, capsys):
    assert bundle_test_script.main(["--exe", str(tmp_path / "missing")]) == 2
    assert "make bundle" in capsys.readouterr().err


def test_unused_qt_libraries_are_dropped_and_used_ones_kept(contents):
    for dest in ("PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
                 "PySide6/Qt/plugins/imageformats/libqpdf.so", "PySide6/Qt/lib/libQt6Quick.so.6",
                 "libQt6Qml.so.6", "PySide6\\Qt6Pdf.dll"):
        assert not contents.keep_in_bundle(dest), dest
    for dest in ("PySide6/Qt/lib/libQt6Gui.so.6", "PySide6/Qt/lib/libQt6Svg.so.6",
                 "PySide6/Qt/plugins/imageformats/libqsvg.so", "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms/libqxcb.so",
                 "torch/lib/libtorch_cuda.so", "nvidia/cu13/lib/libnvrtc.so.13"):
        assert contents.keep_in_bundle(dest), dest


def test_nvrtc_builtins_are_found_in_a_pip_cuda_layout(tmp_path, monkeypatch, contents):
    nv = tmp_path / "site" / "nvidia"
    for f in ("cu13/lib/libnvrtc-builtins.so.13.0", "cu13/lib/libnvrtc-builtins.alt.so.13.0",
              "cu13/lib/libnvrtc.so.13", "cuda_nvrtc/lib/libnvrtc-builtins.so.12.8"):
        _write(nv / f, 1)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    import importlib

    importlib.invalidate_caches()
    monkeypatch.delitem(sys.modules, "nvidia", raising=False)
    found = {(os.path.relpath(src, nv), dest) for src, dest in contents.lazy_cuda_libs()}
    assert (os.path.join("cu13", "lib", "libnvrtc-builtins.so.13.0"), "nvidia/cu13/lib") in found
    assert (os.path.join("cuda_nvrtc", "lib", "libnvrtc-builtins.so.12.8"), "nvidia/cuda_nvrtc/lib") in found
    assert not any("alt" in src or src.endswith("libnvrtc.so.13") for src, _ in found)
