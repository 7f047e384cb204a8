"""How the names a user gave (files, folders, class names) appear in what a batch run writes.

The rule (issue 24; see docs/adr/0019-batch-output-names.md):
- Shown, in messages, predictions.csv and reports: the path as text with every byte that is
  not UTF-8 written as \\xNN (`os.fsencode`, then decoded with 'backslashreplace'). Such a
  name (b'latin1-\\xe9.png' on Linux) crashed the UTF-8 CSV writer mid-run; now any name can be
  printed and stored, and the odd bytes stay readable.
- Output file names: each such byte as %NN instead (no backslash, a separator on Windows), and
  a name over LONGEST_NAME bytes shortened to its start + '~' + 8 hex digits of a hash of the
  whole name, its ending (".gradcam.top1.png") kept: the same input always gets the same name.
- CSV cells: text starting with = + - @, a tab or a CR gets a leading ' (OWASP, CSV injection),
  so a spreadsheet shows it as text instead of running it as a formula.
"""

from __future__ import annotations

import hashlib
import os

from gcam_desktop.files import shown  # noqa: F401  (re-exported: the batch code names paths with it)

NAME_MAX = 255  # bytes in one file name on the usual Linux and macOS file systems
# files.atomic_write writes ".NAME.<pid>.<8 hex>.tmp" first: that name must fit too.
LONGEST_NAME = NAME_MAX - 32
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def file_name(text: str, ending: str = "") -> str:
    """`text` + `ending` as a safe file name: undecodable bytes as %NN, at most LONGEST_NAME bytes."""
    name = escaped(text) + ending
    if len(name.encode("utf-8")) <= LONGEST_NAME:
        return name
    tag = "~" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    room = LONGEST_NAME - len((tag + ending).encode("utf-8"))
    start = name[:len(name) - len(ending)].encode("utf-8")[:max(0, room)].decode("utf-8", "ignore")
    return start + tag + ending


def escaped(text: str) -> str:
    """`text` with undecodable bytes (and other lone surrogates) as %NN / %uNNNN."""
    return "".join(_escaped(ch) for ch in str(text))


def _escaped(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (Python's surrogateescape)
        return f"%{code - 0xDC00:02X}"
    if 0xD800 <= code <= 0xDFFF:  # any other lone surrogate (e.g. from a Windows name)
        return f"%u{code:04X}"
    return ch


def csv_cell(value):
    """A text cell that a spreadsheet would read as a formula, made plain text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
