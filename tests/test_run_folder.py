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
    assert not outer.held and out.is_dir()


def test_a_folder_that_cannot_be_made_is_a_write_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError) as info:
        RunFolder(blocker / "out", "gcam-explain").claim()
    assert not isinstance(info.value, FolderBusy)
    assert str(info.value).startswith(f"cannot write {blocker / 'out'}:")
