"""Python's garbage collector runs in the GUI thread only.

Why: CPython's cyclic collector runs in whichever thread happens to allocate when a
generation's threshold is crossed. When that is a worker thread (loading a model, classifying
a series) and the garbage holds Qt objects — a closed dialog, a view's last wrapper — Qt
deletes them off the GUI thread and the process crashes (seen here: a segmentation fault in
the model-loading worker, "Garbage-collecting" on its stack). So automatic collection is
switched off and a timer in the GUI thread collects instead, with the interpreter's own
generation thresholds (the approach of Calibre and Spyder). Reference counting, which frees
almost everything, is untouched; only reference cycles wait for the next tick.

A full collection visits every object the interpreter tracks, and once a model is loaded
there are hundreds of thousands of them: the functions, classes and dictionaries of Qt's
wrappers, NumPy, ONNX Runtime and, when loaded, PyTorch and timm, which live as long as the
app. Visiting 440 000 of them took 200 ms on a 2-core machine, a stall of the GUI at whatever
moment a full collection fell due; it fell at the start of a 300-slice series' strip
(benchmarks/series_strip.py). So once the first model is ready the collector moves what is
alive into the interpreter's permanent generation (``gc.freeze``), which no collection
visits: a full collection then visits only what was made since. What is frozen and later
freed by reference counting (a scan, an image) is freed as before; what would need a
collection (reference cycles) stays, so that point is chosen where what is alive is what the
app keeps. A model is the exception: a predictor holds cycles, so when another one replaces
it everything is thawed (``gc.unfreeze``) until a full collection has freed the old one, and
then frozen again.
"""

from __future__ import annotations

import gc
import weakref

from PySide6.QtCore import QCoreApplication, QObject, QTimer

__all__ = ["QtMainThreadCollector", "install_gc_guard", "installed_gc_guard"]

INTERVAL_MS = 500


class QtMainThreadCollector(QObject):
    """Collects in the GUI thread every :data:`INTERVAL_MS` when a threshold is crossed."""

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self.thresholds = gc.get_threshold()
        gc.disable()
        self.frozen = False  # the first model's start-up heap was frozen (see the docstring)
        self._awaited: list[weakref.ref[object]] = []  # replaced models a thaw waits for
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
        if generation == 2 and self._awaited and all(r() is None for r in self._awaited):
            self._awaited.clear()  # the replaced models are gone: what is alive is kept
            gc.freeze()
        return generation

    def freeze_long_lived(self) -> None:
        """Freeze what is alive now (once: the first model is ready). The youngest generation
        is collected first: it holds the model load's garbage (1,464 of the 1,484 garbage
        objects there were at that moment, in 2-19 ms); the twenty left in the older ones are
        frozen with the rest rather than paying for the full collection this is to avoid
        (about 300 ms then, and the middle generation alone 220 ms)."""
        if self.frozen:
            return
        self.frozen = True
        gc.collect(0)
        gc.freeze()

    def thaw_until_collected(self, replaced: object) -> None:
        """``replaced`` (the model just replaced) may be held by reference cycles only, and
        frozen: thaw everything; the first full collection after it is gone freezes again."""
        self.frozen = True  # the next freeze is the collector's, after ``replaced`` is gone
        gc.unfreeze()
        try:
            self._awaited.append(weakref.ref(replaced))
        except TypeError:  # cannot be watched: awaiting the collector itself, it stays thawed
            self._awaited.append(weakref.ref(self))


def install_gc_guard(app: QCoreApplication | None = None) -> QtMainThreadCollector | None:
    """Install the collector on the application once (later calls return the same one)."""
    app = app or QCoreApplication.instance()
    if app is None:
        return None
    existing = app.findChild(QtMainThreadCollector)
    return existing if existing is not None else QtMainThreadCollector(app)


def installed_gc_guard() -> QtMainThreadCollector | None:
    """The application's collector, or None where none was installed (automatic collection)."""
    app = QCoreApplication.instance()
    return app.findChild(QtMainThreadCollector) if app is not None else None
