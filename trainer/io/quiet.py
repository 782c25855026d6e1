"""pydicom's own complaints, kept out of logs and the console while this package reads a file.

Why: pydicom reports a malformed value with a warning *and* a log line that quote it, so a
patient's name or birth date in a damaged file would reach the console or a log file; and it
logs a traceback for every decoder that fails on a corrupt file. We report such a file once,
with a reason of our own (trainer.io.guard), so pydicom's words are not wanted while we read.

Why not pydicom's settings, the warnings filters or the logger's level: they are process-wide.
A script that imports this package and uses pydicom itself would lose pydicom's validation,
warnings and log for its own files; and a temporary change (``warnings.catch_warnings``,
setting a level and back) is not thread-safe: the app reads scans on several threads at once,
and one thread's restore can undo another's.

So the quieting is per thread. While a thread is inside :func:`quiet`, pydicom's log records
and the warnings raised on that thread (pydicom's, or an image decoder's: the file's problems
are reported by the reader) are dropped; every other thread, and this thread outside, sees
pydicom and warnings exactly as configured. Importing this module changes nothing: the first
:func:`quiet` wraps ``warnings.showwarning`` (again whenever something has put another function
there since), and the first one once pydicom is loaded adds a filter to pydicom's loggers; both
pass everything through outside a quiet scope. pydicom is never loaded here: reading a JPEG
must not pay for it (about 0.2 s), and every reader of a DICOM file enters its own quiet scope
after loading pydicom (``trainer.io.guard.guarded``), so the filter is there before pydicom
logs anything.

Limits, by design: code that records warnings itself (``warnings.catch_warnings(record=True)``,
as pytest does around each test) or that turns them into errors (``-W error``) still sees the
warnings of a quiet scope, because Python decides both before a warning is shown.
"""

from __future__ import annotations

import logging
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

_state = threading.local()
_install_lock = threading.Lock()
_installed = False


def is_quiet() -> bool:
    """Whether the calling thread is inside :func:`quiet`."""
    return getattr(_state, "depth", 0) > 0


@contextmanager
def quiet() -> Iterator[None]:
    """Drop pydicom's log records and any warning raised on this thread inside the block."""
    _install()
    _state.depth = getattr(_state, "depth", 0) + 1
    try:
        yield
    finally:
        _state.depth -= 1


def quietly(func: Callable[P, T]) -> Callable[P, T]:
    """``func`` run inside :func:`quiet` (for functions that read a pydicom Dataset)."""

    @wraps(func)
    def run(*args: P.args, **kwargs: P.kwargs) -> T:
        with quiet():
            return func(*args, **kwargs)

    return run


class _DropWhileQuiet(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not is_quiet()


def _install() -> None:
    """Add the log filter once pydicom is loaded; wrap ``warnings.showwarning`` whenever it is
    not ours (a ``warnings.catch_warnings`` block that was entered before the wrap restores
    the old function when it ends, so the wrap is checked at every :func:`quiet`)."""
    global _installed
    if _installed and getattr(warnings.showwarning, "_quiet_wrapper", False):
        return
    with _install_lock:
        if not _installed and "pydicom" in sys.modules:
            import pydicom.pixels  # noqa: F401  (creates the decoders' loggers first)

            # A logger's filters see only the records made on that logger, not its
            # children's, so every pydicom logger gets one; pydicom makes them all at import.
            drop = _DropWhileQuiet()
            names = [n for n in logging.root.manager.loggerDict if n.startswith("pydicom.")]
            for name in ["pydicom", *names]:
                logging.getLogger(name).addFilter(drop)
            _installed = True
        if not getattr(warnings.showwarning, "_quiet_wrapper", False):
            warnings.showwarning = _wrap(warnings.showwarning)


def _wrap(shown: Callable[..., None]) -> Callable[..., None]:
    def showwarning(message, category, filename, lineno, file=None, line=None):
        if not is_quiet():
            shown(message, category, filename, lineno, file, line)

    showwarning._quiet_wrapper = True  # type: ignore[attr-defined]
    return showwarning
