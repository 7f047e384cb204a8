"""Progress of a long explanation (occlusion, RISE: many forwards per image) and a way to stop
it early. The caller installs a callback for the calls made inside a `reporting()` block; a
method reports after each batch of its forwards. Torch- and Qt-free.

A context variable rather than an `explain()` option: the callback is the caller's business (a
panel's progress bar, a worker's "moved on"), not a property of the method, and it must not
enter the option checks, the cache keys or the outputs that record a method's options.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

ProgressCallback = Callable[[int, int], "bool | None"]

_callback: ContextVar[ProgressCallback | None] = ContextVar("gcam_explain_progress", default=None)


class Cancelled(Exception):
    """The progress callback returned False: the caller no longer wants this explanation."""


@contextmanager
def reporting(callback: ProgressCallback) -> Iterator[None]:
    """Within the block, methods call `callback(done, total)` as they go (total: the forwards
    the call needs, done: those finished). A callback returning False stops the method, which
    raises `Cancelled`; the model is left as it was found, as with any other error."""
    token = _callback.set(callback)
    try:
        yield
    finally:
        _callback.reset(token)


def report(done: int, total: int) -> None:
    """Tell the caller's callback, if there is one; raise `Cancelled` when it says stop."""
    callback = _callback.get()
    if callback is not None and callback(done, total) is False:
        raise Cancelled(f"stopped by the caller after {done} of {total}")
