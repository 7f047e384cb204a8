"""Usage errors, one way for every command-line front end (gcam-explain, gcam-evaluate, gcam-train).

Every numeric option is checked by argparse itself through the `type=` helpers below, so a bad
value is refused before any work starts, with the option's name and the value in one line:

    gcam-explain: argument --max-side: must be at least 1, not -5

`Parser.error` raises UsageError instead of exiting, so each front end decides what else a
refusal means (gcam-train also emits an `error` event), and `report()` prints it the same way
everywhere, with a pointer to --help, and returns exit status 2 (argparse's own convention).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Callable, NoReturn

USAGE_STATUS = 2


class UsageError(Exception):
    """A command line that cannot be run as given; str() is one line starting with the program."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def report(exc: UsageError, help_command: str | None = None) -> int:
    """Print a usage error in the one format; returns the exit status to use."""
    hint = f"\n(see {help_command} --help)" if help_command else ""
    print(f"{exc}{hint}", file=sys.stderr)
    return USAGE_STATUS


def _number(kind: type, text: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                         f"not {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, not {text!r}")
    return value


def int_at_least(low: int, meaning_of_zero: str | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number >= low. `meaning_of_zero` documents an accepted 0."""
    def parse(text: str) -> int:
        value = _number(int, text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    parse.__name__ = f"whole number >= {low}"  # argparse names the type in its messages
    return parse


def float_between(low: float, high: float, *, low_open: bool = False, high_open: bool = False
                  ) -> Callable[[str], float]:
    """An argparse type: a finite number in [low, high] (either end open on request)."""
    def parse(text: str) -> float:
        value = _number(float, text)
        if value < low or value > high or (low_open and value == low) or (high_open and value == high):
            left, right = "(" if low_open else "[", ")" if high_open else "]"
            raise argparse.ArgumentTypeError(f"must be in {left}{low:g}, {high:g}{right}, not {value:g}")
        return value
    parse.__name__ = f"number in [{low:g}, {high:g}]"
    return parse
