"""files.GrowingFile: atomic_write for a file written as a run goes (predictions.csv)."""

import errno
import os

import pytest

from gcam_desktop import files
from gcam_desktop.files import GrowingFile, WriteError, write_text


def test_the_pieces_appear_at_once_on_close_and_the_old_file_stays_until_then(tmp_path):
    target = tmp_path / "rows.csv"
    write_text(target, "old\n")
    grow = GrowingFile(target)
    grow.append(b"a\n")
    grow.append(b"b\n")
    assert target.read_text() == "old\n"
    assert grow.close() == target and target.read_text() == "a\nb\n"
    assert [p.name for p in tmp_path.iterdir()] == ["rows.csv"]


def test_a_piece_cut_short_is_cut_off_and_the_whole_ones_are_kept(tmp_path, monkeypatch):
    real = files._write_all

    def full_disk(fd, data):
        if data.startswith(b"c"):
            os.write(fd, data[:2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(files, "_write_all", full_disk)
    grow = GrowingFile(tmp_path / "rows.csv")
    grow.append(b"a\n")
    with pytest.raises(WriteError, match="no space left on device"):
        grow.append(b"ccc\n")
    with pytest.raises(WriteError):  # refused after a failure: no gap in the rows
        grow.append(b"d\n")
    grow.close()
    assert (tmp_path / "rows.csv").read_bytes() == b"a\n"


def test_a_failed_move_keeps_the_temp_file_and_names_it(tmp_path, monkeypatch):
    grow = GrowingFile(tmp_path / "rows.csv")
    grow.append(b"a\n")

    def refuse(src, dst):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(WriteError) as info:
        grow.close()
    assert f"permission denied; what was written is kept in {grow.tmp}" in str(info.value)
    assert open(grow.tmp, "rb").read() == b"a\n"
