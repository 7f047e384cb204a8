"""The shared usage-error helpers: one line, the option named, exit status 2."""

import argparse

import pytest

from gcam_desktop.cli.usage import Parser, UsageError, float_between, int_at_least, report


def _parser() -> Parser:
    p = Parser(prog="gcam-x")
    p.add_argument("--n", type=int_at_least(1), default=1)
    p.add_argument("--alpha", type=float_between(0.0, 1.0), default=0.5)
    p.add_argument("--p", type=float_between(0.0, 1.0, low_open=True), default=0.5)
    return p


@pytest.mark.parametrize("argv, words", [
    (["--n", "0"], "argument --n: must be at least 1, not 0"),
    (["--n", "-5"], "argument --n: must be at least 1, not -5"),
    (["--n", "two"], "argument --n: expected a whole number, not 'two'"),
    (["--alpha", "1.5"], "argument --alpha: must be in [0, 1], not 1.5"),
    (["--alpha", "nan"], "argument --alpha: expected a finite number, not 'nan'"),
    (["--p", "0"], "argument --p: must be in (0, 1], not 0"),
])
def test_bad_values_are_one_line_naming_the_option(argv, words):
    with pytest.raises(UsageError) as info:
        _parser().parse_args(argv)
    assert str(info.value) == f"gcam-x: {words}"


def test_good_values_pass_through():
    args = _parser().parse_args(["--n", "3", "--alpha", "1", "--p", "0.25"])
    assert (args.n, args.alpha, args.p) == (3, 1.0, 0.25)


def test_report_prints_one_line_and_a_help_pointer(capsys):
    assert report(UsageError("gcam-x: argument --n: must be at least 1, not 0"), "gcam-x") == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["gcam-x: argument --n: must be at least 1, not 0", "(see gcam-x --help)"]


def test_unknown_option_is_a_usage_error_not_an_exit():
    with pytest.raises(UsageError, match="unrecognized arguments: --bogus"):
        _parser().parse_args(["--bogus"])
    assert issubclass(Parser, argparse.ArgumentParser)
