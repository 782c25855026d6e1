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


def test_garbage_is_collected_in_the_gui_thread_only(qtbot) -> None:
    """Automatic collection is off (a worker thread would otherwise collect Qt objects off the
    GUI thread and crash); the GUI thread's timer collects cycles instead."""
    import gc
    import weakref

    from PySide6.QtWidgets import QApplication

    from desktop_app.gc_guard import QtMainThreadCollector, install_gc_guard

    collector = install_gc_guard(QApplication.instance())
    assert isinstance(collector, QtMainThreadCollector)
    assert install_gc_guard(QApplication.instance()) is collector  # once per application
    assert not gc.isenabled()

    class Node:
        pass

    def make_cycle() -> weakref.ref:
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    gc.collect()
    refs = [make_cycle() for _ in range(collector.thresholds[0] + 50)]
    assert all(r() is not None for r in refs[-10:])  # cycles wait: nothing collects them
    qtbot.waitUntil(lambda: all(r() is None for r in refs), timeout=5_000)


def test_the_start_up_heap_is_frozen_and_a_replaced_model_thawed(monkeypatch) -> None:
    """Full collections skip what was alive when the first model was ready (gc.freeze: they
    visited 440 000 objects in 200 ms, a stall of the GUI); a model replaced later, which only
    a collection frees (a predictor holds cycles), thaws that until it is gone."""
    import gc
    import weakref

    from PySide6.QtWidgets import QApplication

    from desktop_app.gc_guard import install_gc_guard, installed_gc_guard

    collector = install_gc_guard(QApplication.instance())
    assert collector is not None and installed_gc_guard() is collector
    saved = collector.frozen, list(collector._awaited)
    collector.frozen, collector._awaited[:] = False, []

    class Model:
        pass

    try:
        old = Model()
        old.itself = old  # a cycle: reference counting alone never frees it
        ref = weakref.ref(old)
        collector.freeze_long_lived()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # the modules, the app and ``old``
        later = [Model() for _ in range(100)]
        collector.freeze_long_lived()  # once: what is made later is not frozen
        assert gc.get_freeze_count() == frozen and later

        collector.thaw_until_collected(old)  # a new model replaces ``old``
        assert gc.get_freeze_count() == 0
        monkeypatch.setattr(gc, "get_count", lambda: (10**6, 10**6, 10**6))  # all due
        assert collector.collect_if_due() == 2
        assert ref() is not None and gc.get_freeze_count() == 0  # still in use: thawed
        del old
        assert ref() is not None  # only a collection frees it
        assert collector.collect_if_due() == 2
        assert ref() is None  # collected, then what is alive is frozen again
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()
        collector.frozen, collector._awaited[:] = saved
