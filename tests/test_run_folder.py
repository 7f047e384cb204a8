"""One run at a time in an output folder: the second claim is refused at once, with one line,
by another real process; the lock goes with the process that held it."""

import subprocess
import sys
import textwrap

import pytest

from gcam_desktop.files import WriteError
from gcam_desktop.run_folder import FolderBusy, RunFolder

HOLD = textwrap.dedent("""
    import sys, time
    from gcam_desktop.run_folder import RunFolder
    with RunFolder(sys.argv[1], "gcam-test"):
        print("held", flush=True)
        sys.stdin.readline()
""")


def _holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_naming_the_first(tmp_path):
    out = tmp_path / "out"
    proc = _holder(out)
    try:
        with pytest.raises(FolderBusy) as info:
            RunFolder(out, "gcam-explain").claim()
        message = str(info.value)
        assert message.startswith(f"cannot write {out}: another run is writing there (gcam-test, process {proc.pid}")
        assert "\n" not in message
    finally:
        proc.communicate("\n", timeout=60)
    with RunFolder(out, "gcam-explain") as held:  # free again once the holder has ended
        assert held.held


def test_a_killed_holder_leaves_the_folder_free(tmp_path):
    proc = _holder(tmp_path)
    proc.kill()
    proc.wait(timeout=60)
    with RunFolder(tmp_path, "gcam-train") as held:
        assert held.held


def test_claim_is_reentrant_within_a_process_and_creates_the_folder(tmp_path):
    out = tmp_path / "a" / "b"
    outer = RunFolder(out, "gcam-explain").claim()
    inner = RunFolder(out, "gcam-explain")
    with pytest.raises(FolderBusy):  # a second lock object in one process is a second run
        inner.claim()
    outer.claim()  # the same object again: nested use by a CLI and the library it calls
    outer.release()
    assert outer.held
    outer.release()
    assert not outer.held and not out.exists()  # made by the claim and left empty: removed


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError) as info:
        RunFolder(blocker / "out", "gcam-explain").claim()
    assert not isinstance(info.value, FolderBusy)
    assert str(info.value).startswith(f"cannot write {blocker / 'out'}:")


def test_a_folder_made_by_a_run_that_wrote_nothing_is_removed_again(tmp_path):
    out = tmp_path / "new" / "out"
    with RunFolder(out, "gcam-evaluate"):
        assert out.is_dir()
    assert not (tmp_path / "new").exists()  # refused runs leave nothing behind
    kept = tmp_path / "kept"
    with RunFolder(kept, "gcam-evaluate"):
        (kept / "report.md").write_text("x")
    assert (kept / "report.md").read_text() == "x"
    existing = tmp_path / "existing"
    existing.mkdir()
    with RunFolder(existing, "gcam-evaluate"):
        pass
    assert existing.is_dir()  # the user's own folder stays, even empty


def test_the_owner_note_survives_a_command_line_that_is_not_utf8(tmp_path):
    script = textwrap.dedent("""
        import sys
        from gcam_desktop.run_folder import RunFolder
        with RunFolder(sys.argv[1], "gcam-test"):
            print("held", flush=True)
            sys.stdin.readline()
    """)
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path), b"latin1-\xe9.png"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(FolderBusy, match=f"gcam-test, process {proc.pid}"):
            RunFolder(tmp_path, "gcam-explain").claim()
    finally:
        proc.communicate("\n", timeout=60)
