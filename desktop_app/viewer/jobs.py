"""The viewer's background work, in ``QtGeneratorWorker``s (the exports' is ``export_actions.py``).

* :class:`QtLoads`: reading what the user opened, one worker per open/drop. Never cancelled
  by the selection, since the user wants every dropped file in the list; each item appears
  in the list as soon as it is read.
* :class:`QtAnalysisRunner`: the prediction and heat maps, one worker at a time. What it
  runs, and when a running job has gone stale, is the Qt-free planner's decision
  (``planner.py``); the runner asks it again when the state says that what the viewer wants
  changed (``wanted_changed``), when the user stopped moving through a series (debounced:
  the picture follows the wheel at once, the model runs on the slice where the user stops),
  and when its job ends.
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop_app.messages import plain_message
from desktop_app.models import QtModelRegistry
from desktop_app.viewer.analysis import analyse, load_items
from desktop_app.viewer.planner import AnalysisPlanner
from desktop_app.viewer.state import QtViewerState, ViewerItem
from desktop_app.workers import QtGeneratorWorker

__all__ = ["SLICE_DEBOUNCE_MS", "QtAnalysisRunner", "QtLoads"]

log = logging.getLogger(__name__)

SLICE_DEBOUNCE_MS = 120


class QtLoads(QObject):
    """Reads scans in the background into the state's list."""

    status_message = Signal(str)
    all_done = Signal()  # the last running load ended

    def __init__(self, widget: QWidget, state: QtViewerState) -> None:
        super().__init__(widget)
        self.widget = widget  # parent of the message boxes, owner of the workers
        self.state = state
        self.workers: list[QtGeneratorWorker] = []

    def start(self, paths: list[Path]) -> None:
        self.status_message.emit(f"Reading {len(paths)} item{'s' * (len(paths) > 1)}…")
        worker = QtGeneratorWorker(load_items, paths, name="reading scans", owner=self.widget)
        worker.yielded.connect(self._on_items_loaded)
        worker.errored.connect(partial(self._on_errored, paths))
        worker.finished.connect(partial(self._on_finished, worker))
        self.workers.append(worker)
        worker.start()

    def _on_items_loaded(self, items: list[ViewerItem]) -> None:
        self.state.add_items(items)  # new items are classified in the background
        for item in items:
            if item.error:
                log.info("could not read %s: %s", item.source, item.error)
                self.status_message.emit(f"Could not read {item.name}: {item.error}")

    def _on_errored(self, paths: list[Path], exc: Exception) -> None:
        names = ", ".join(p.name for p in paths)
        QMessageBox.warning(self.widget, "Could not read", f"{names}: {plain_message(exc)}")

    def _on_finished(self, worker: QtGeneratorWorker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        if not self.workers:
            ok = sum(1 for i in self.state.items if i.scan is not None)
            bad = len(self.state.items) - ok
            self.status_message.emit(
                f"{ok} scan{'s' * (ok != 1)} loaded" + (f", {bad} unreadable" if bad else "")
            )
            self.all_done.emit()

    def shutdown(self) -> None:
        for worker in self.workers:
            worker.quit()


class QtAnalysisRunner(QObject):
    """Runs what :class:`AnalysisPlanner` plans, in one worker at a time."""

    busy_changed = Signal(bool, bool)  # predicting, explaining the slice on screen
    idle = Signal()  # nothing runs and nothing is wanted

    def __init__(self, widget: QWidget, state: QtViewerState, registry: QtModelRegistry) -> None:
        super().__init__(widget)
        self.widget = widget  # owner of the workers
        self.registry = registry
        self.planner = AnalysisPlanner(state, lambda: registry.predictor)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._start)
        state.wanted_changed.connect(self.schedule)

    def schedule(self, delay_ms: int = 0) -> None:
        """Plan again after ``delay_ms``; a later call with a delay postpones it (debounce)."""
        if delay_ms <= 0 and not self._timer.isActive():
            self._timer.start(0)
        elif delay_ms > 0:
            self._timer.start(delay_ms)

    def _start(self) -> None:
        request = self.planner.plan()  # a stale job is cancelled here
        if request is None:
            if self.planner.running is None:
                self.busy_changed.emit(*self.planner.busy())
                self.idle.emit()
            return  # else the running job already computes what is wanted
        predictor = self.registry.predictor
        worker = QtGeneratorWorker(
            analyse, predictor, request, name=f"analysis of {request.name}", owner=self.widget
        )
        worker.yielded.connect(partial(self.planner.deliver, predictor))
        worker.errored.connect(partial(self.planner.failed, worker, request))
        worker.finished.connect(partial(self._on_finished, worker))
        self.planner.started(request, worker, predictor)
        self.busy_changed.emit(*self.planner.busy())
        worker.start()

    def _on_finished(self, worker: QtGeneratorWorker) -> None:
        if self.planner.finished(worker):
            self.busy_changed.emit(*self.planner.busy())
            self.schedule(0)  # anything still missing (e.g. the next slices of the strip)

    def cancel(self) -> None:
        """Stop the running job (a new model, or the list was cleared)."""
        self.planner.cancel()

    def shutdown(self) -> None:
        self._timer.stop()
        self.planner.cancel()
