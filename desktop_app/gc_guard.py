"""Python's garbage collector runs in the GUI thread only.

Why: CPython's cyclic collector runs in whichever thread happens to allocate when a
generation's threshold is crossed. When that is a worker thread (loading a model, classifying
a series) and the garbage holds Qt objects — a closed dialog, a view's last wrapper — Qt
deletes them off the GUI thread and the process crashes (seen here: a segmentation fault in
the model-loading worker, "Garbage-collecting" on its stack). So automatic collection is
switched off and a timer in the GUI thread collects instead, with the interpreter's own
generation thresholds (the approach of Calibre and Spyder). Reference counting, which frees
almost everything, is untouched; only reference cycles wait for the next tick.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

__all__ = ["QtMainThreadCollector", "install_gc_guard"]

INTERVAL_MS = 500


class QtMainThreadCollector(QObject):
    """Collects in the GUI thread every :data:`INTERVAL_MS` when a threshold is crossed."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect_if_due)
        self.timer.start(INTERVAL_MS)

    def collect_if_due(self) -> int:
        """What the interpreter would have collected by now: the oldest generation whose
        count is over its threshold (and the younger ones). Returns the generation, or -1."""
        counts = gc.get_count()
        if counts[0] <= self.thresholds[0]:
            return -1
        generation = 0
        if counts[1] > self.thresholds[1]:
            generation = 1
            if counts[2] > self.thresholds[2]:
                generation = 2
        gc.collect(generation)
        return generation


def install_gc_guard(app: QCoreApplication | None = None) -> QtMainThreadCollector | None:
    """Install the collector on the application once (later calls return the same one)."""
    app = app or QCoreApplication.instance()
    if app is None:
        return None
    existing = app.findChild(QtMainThreadCollector)
    return existing if existing is not None else QtMainThreadCollector(app)
