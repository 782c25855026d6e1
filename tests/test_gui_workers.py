"""The generator worker: results arrive in order, and a finished worker can be waited on."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QEvent

from desktop_app.workers import _RUNNING, start_worker

pytestmark = pytest.mark.gui


def _count(n: int):
    yield from range(n)
    return "done"


def test_wait_after_the_thread_was_deleted(qtbot):
    got: list[int] = []
    ended: list[bool] = []
    worker = start_worker(
        _count, 3, connect={"yielded": got.append, "finished": lambda: ended.append(True)}
    )
    # connected before the thread starts, so no emission can be missed (a waitSignal entered
    # after start_worker races with a generator this short)
    qtbot.waitUntil(lambda: bool(ended) and worker not in _RUNNING, timeout=5000)
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # run deleteLater now
    assert got == [0, 1, 2]
    assert worker.wait(1.0) is True  # no "Internal C++ object already deleted"
    assert not worker.is_running


def test_reports_queued_for_a_destroyed_owner_are_dropped(qtbot):
    """A window closed while its worker's reports are still queued: the reports are dropped
    instead of reaching (lambda) slots of widgets that no longer exist; a worker whose owner
    lives delivers them all."""
    from PySide6.QtCore import QObject
    from shiboken6 import delete

    from desktop_app.workers import QtGeneratorWorker

    def run(owner_dies: bool) -> list[object]:
        owner = QObject()
        got: list[object] = []
        worker = QtGeneratorWorker(_count, 3, name="count", owner=owner)
        worker.yielded.connect(lambda v: got.append(v))
        worker.finished.connect(lambda: got.append("finished"))
        worker.start()
        assert worker.wait(5.0)  # every report is queued now, none delivered yet
        if owner_dies:
            delete(owner)  # the window goes away before the GUI thread runs the queue
        qtbot.waitUntil(lambda: worker not in _RUNNING, timeout=5000)
        QCoreApplication.processEvents()
        return got

    assert run(owner_dies=False) == [0, 1, 2, "finished"]
    assert run(owner_dies=True) == []
