"""The generator worker: results arrive in order, and a finished worker can be waited on."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QCoreApplication, QEvent

from desktop_app.workers import start_worker

pytestmark = pytest.mark.gui


def _count(n: int):
    yield from range(n)
    return "done"


def test_wait_after_the_thread_was_deleted(qtbot):
    got: list[int] = []
    worker = start_worker(_count, 3, connect={"yielded": got.append})
    with qtbot.waitSignal(worker.finished, timeout=5000):
        pass
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)  # run deleteLater now
    assert got == [0, 1, 2]
    assert worker.wait(1.0) is True  # no "Internal C++ object already deleted"
    assert not worker.is_running
