"""Ctrl-C and ``kill`` during a command that produces rows: stop, keep what is finished.

A batch job stopped half-way (Ctrl-C at a terminal, SIGTERM from a scheduler or a shutdown)
must not throw away the rows it already computed. :func:`stop_on_signals` turns SIGINT and
SIGTERM into :class:`Stopped` in the main thread, so the command can write its finished rows
and exit with the shell's usual status (130 for SIGINT, 143 for SIGTERM); a second signal
gets the default behaviour again once the block has ended.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

__all__ = ["Stopped", "stop_on_signals"]


class Stopped(Exception):
    """A stop signal arrived; ``exit_code`` is 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + int(signum)
        super().__init__(signal.Signals(signum).name)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Stopped` (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        raise Stopped(signum)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: signals are not ours
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
