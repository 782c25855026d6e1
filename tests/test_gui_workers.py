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
