"""How long the GUI thread's event loop ever waits: the measure of "long work runs off the
GUI thread".

A timer ticks every ``interval_ms`` on the GUI thread and records the time between ticks; a
tick that comes late means the event loop was busy (a slot, a collection, a worker holding
the interpreter) for that long, and the window could not repaint or take a click meanwhile.
The benchmarks (``benchmarks/startup.py``, ``benchmarks/series_strip.py``) print it and a
viewer test records it; one probe, so that they measure the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from PySide6.QtCore import QTimer

__all__ = ["QtEventLoopProbe"]


class QtEventLoopProbe:
    """Ticks while started; :attr:`gaps_s` holds the seconds between consecutive ticks (the
    first measured from :meth:`start`). ``on_tick(elapsed_s)`` runs at every tick, for a
    benchmark that acts as a user would meanwhile."""

    def __init__(
        self, interval_ms: int = 10, on_tick: Callable[[float], object] | None = None
    ) -> None:
        self.interval_ms = interval_ms
        self.gaps_s: list[float] = []
        self._on_tick = on_tick
        self._started = self._last = 0.0
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def start(self) -> float:
        """Start ticking; returns the ``time.perf_counter()`` it counts from."""
        self._started = self._last = time.perf_counter()
        self._timer.start()
        return self._started

    def stop(self) -> float:
        """Stop ticking; returns the seconds since :meth:`start`."""
        self._timer.stop()
        return time.perf_counter() - self._started

    @property
    def longest_s(self) -> float:
        return max(self.gaps_s, default=0.0)

    def late_ms(self) -> list[float]:
        """How late each tick came, in milliseconds (the gap beyond the interval)."""
        return [max(0.0, 1000 * gap - self.interval_ms) for gap in self.gaps_s]

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_s.append(now - self._last)
        self._last = now
        if self._on_tick is not None:
            self._on_tick(now - self._started)
