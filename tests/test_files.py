"""gcam_desktop.files: the one atomic writer behind checkpoints, runs, settings and exports."""

import os
import stat

import pytest

from gcam_desktop.files import atomic_write, write_bytes, write_json, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "settings.json"
    write_text(target, "old")

    def broken(tmp):
        with open(tmp, "w") as fh:
            fh.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["settings.json"]


def test_new_files_get_the_umask_permissions_not_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        path = write_bytes(tmp_path / "sub" / "map.png", b"\x89PNG")
    finally:
        os.umask(old)
    assert path.read_bytes() == b"\x89PNG"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_json_refuses_nan_rather_than_writing_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "m.json", {"loss": float("nan")})
    assert not list(tmp_path.iterdir())


def test_check_writable_takes_a_folder_another_process_made_meanwhile(tmp_path, monkeypatch):
    """Two processes checking one new --out: the one whose mkdir loses the race must not fail
    ("file exists"), nor remove the winner's folder."""
    from pathlib import Path

    from gcam_desktop.files import check_writable

    target = tmp_path / "a" / "b"
    real_mkdir = Path.mkdir

    def racing(self, *args, **kwargs):
        if self == target and not target.exists():
            real_mkdir(self)  # the other process gets there first
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", racing)
    assert check_writable(target) == target
    assert target.is_dir() and not list(target.iterdir())  # the other's folder stays, no probe left


def test_write_error_crosses_process_boundaries_whole():
    import pickle

    from gcam_desktop.files import WriteError

    back = pickle.loads(pickle.dumps(WriteError("/out/x.csv", "no space left on device", 28)))
    assert isinstance(back, WriteError) and str(back) == "cannot write /out/x.csv: no space left on device"
    assert back.errno == 28
