"""batch/names.py: how a user's names are shown, filed and put into CSV cells (issue 24)."""

import os

import pytest

from gcam_desktop.batch.names import LONGEST_NAME, csv_cell, file_name, shown


def test_bytes_that_are_not_utf8_are_shown_as_hex_and_filed_as_percent():
    name = os.fsdecode(b"latin1-\xe9\xff.png")
    assert shown(name) == "latin1-\\xe9\\xff.png"
    assert shown(os.fsencode(name)) == shown(name)  # bytes and str spell the same name
    assert file_name(name) == "latin1-%E9%FF.png"
    assert shown("caf\u00e9.png") == "caf\u00e9.png" == file_name("caf\u00e9.png")  # real UTF-8 stays
    assert shown(shown(name)) == shown(name)  # showing twice changes nothing


def test_long_names_are_shortened_deterministically_keeping_their_ending():
    stem = "\u00e9" * 200  # 400 bytes, two per letter: the cut must not split one
    a = file_name(stem, ".gradcam.top1.png")
    assert a == file_name(stem, ".gradcam.top1.png") and a.endswith(".gradcam.top1.png")
    assert len(a.encode()) <= LONGEST_NAME and "~" in a
    a.encode("utf-8")  # whole letters only
    assert file_name(stem + "x", ".gradcam.top1.png") != a  # another name, another hash
    assert file_name("short", ".png") == "short.png"


@pytest.mark.parametrize("cell", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_get_a_leading_quote(cell):
    assert csv_cell(cell) == "'" + cell


def test_other_cells_are_left_alone():
    assert csv_cell("cat") == "cat" and csv_cell(3) == 3 and csv_cell("a=b") == "a=b" and csv_cell("") == ""
