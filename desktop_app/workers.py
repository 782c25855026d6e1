"""Long work off the GUI thread: a generator run in a QThread, its progress as Qt signals.

Modelled on superqt's ``GeneratorWorker`` (which napari uses), without the dependency:

* The work is a plain generator function, written and tested without Qt (the trainer's
  ``fit()`` is one). Every ``yield`` is a progress report *and* a cancellation point.
* :meth:`QtGeneratorWorker.quit` only sets a flag; it takes effect at the next ``yield``, where
  the generator is closed (its ``finally`` blocks run) and :attr:`aborted` is emitted. A
  generator that never yields cannot be stopped early, so yield often.
* Signals: :attr:`started`, :attr:`yielded` (each value), then exactly one of
  :attr:`returned` (the generator's return value), :attr:`errored` (the exception) or
  :attr:`aborted`, and always :attr:`finished` last.

Why a QThread rather than a Python thread: the worker object lives in the GUI thread, so what
the worker thread reports reaches it through a queued connection; Qt does the hand-over. The
worker then emits its public signals in the GUI thread, unless its ``owner`` (the widget that
started it) has been destroyed meanwhile: reports still queued for a closed window are dropped
here, once, instead of reaching slots (often lambdas, which Qt cannot disconnect for us) of
widgets that no longer exist.

Why the bookkeeping in ``_RUNNING``: a QThread that is garbage-collected while it still runs
takes the process down, so every started worker is kept alive until its thread has really
ended, and :func:`wait_for_all` lets the application wait for them at exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

__all__ = ["QtGeneratorWorker", "abort_all", "running_workers", "start_worker", "wait_for_all"]

log = logging.getLogger(__name__)

GeneratorFunction = Callable[..., Generator[Any, Any, Any]]

# Workers whose thread has not yet finished; they must not be garbage-collected.
_RUNNING: set[QtGeneratorWorker] = set()


class _Thread(QThread):
    """A QThread whose ``run`` is the worker's loop (the worker itself stays a QObject)."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__()
        self._target = target

    def run(self) -> None:
        self._target()


class QtGeneratorWorker(QObject):
    """Runs ``func(*args, **kwargs)``, a generator function, in its own QThread.

    ``name`` appears in logs and error messages, e.g. "prediction of scan.jpg".
    """

    started = Signal()
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception
    aborted = Signal()
    finished = Signal()
    _reported = Signal(str, object)  # from the worker thread: (public signal name, its arguments)

    def __init__(
        self,
        func: GeneratorFunction,
        *args: Any,
        name: str = "",
        owner: QObject | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self._owner_alive = True
        self._reported.connect(self._relay)
        if owner is not None:
            owner.destroyed.connect(self._on_owner_destroyed)
        self.name = name or getattr(func, "__name__", "worker")
        self._func = func
        self._args = args
        self._kwargs = kwargs
        self._abort = threading.Event()
        self._thread: _Thread | None = None
        self._done = threading.Event()

    # -- control (GUI thread) ---------------------------------------------------------
    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is not None:
            raise RuntimeError(f"worker {self.name!r} was already started")
        self._thread = _Thread(self._work)
        self._thread.finished.connect(self._on_thread_finished)
        _RUNNING.add(self)
        self._thread.start()

    def quit(self) -> None:
        """Ask the generator to stop at its next ``yield``; returns at once."""
        self._abort.set()

    @property
    def abort_requested(self) -> bool:
        return self._abort.is_set()

    @property
    def is_running(self) -> bool:
        return self._thread is not None and not self._done.is_set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the generator has ended (True) or ``timeout_s`` passed (False)."""
        if self._thread is None:
            return True
        if not self._done.wait(timeout_s):
            return False
        if self not in _RUNNING:  # thread finished and handed to deleteLater: do not touch it
            return True
        return self._thread.wait(1000 if timeout_s is None else max(1, int(timeout_s * 1000)))

    # -- the worker thread ----------------------------------------------------------------
    def _report(self, signal_name: str, *args: Any) -> None:
        """From the worker thread: hand a report to the GUI thread (see :meth:`_relay`)."""
        self._reported.emit(signal_name, args)

    def _work(self) -> None:
        self._report("started")
        try:
            outcome = self._drive()
        except Exception as exc:  # reported to the GUI, which names the file in its message
            log.debug("worker %s failed", self.name, exc_info=True)
            outcome = ("errored", exc)
        finally:
            self._done.set()
        kind, value = outcome
        if kind == "returned":
            self._report("returned", value)
        elif kind == "errored":
            self._report("errored", value)
        else:
            self._report("aborted")
        self._report("finished")

    def _drive(self) -> tuple[str, Any]:
        if self._abort.is_set():  # quit() before the thread got going
            return ("aborted", None)
        gen = self._func(*self._args, **self._kwargs)
        try:
            while True:
                try:
                    value = next(gen)
                except StopIteration as stop:
                    return ("returned", stop.value)
                if self._abort.is_set():
                    return ("aborted", None)
                self._report("yielded", value)
                if self._abort.is_set():
                    return ("aborted", None)
        finally:
            gen.close()

    # -- the GUI thread -------------------------------------------------------------------
    def _relay(self, signal_name: str, args: tuple[Any, ...]) -> None:
        if self._owner_alive:
            getattr(self, signal_name).emit(*args)

    def _on_owner_destroyed(self) -> None:
        self._owner_alive = False

    # -- bookkeeping (GUI thread) ---------------------------------------------------------
    def _on_thread_finished(self) -> None:
        _RUNNING.discard(self)
        if self._thread is not None:
            self._thread.deleteLater()


def start_worker(
    func: GeneratorFunction,
    *args: Any,
    name: str = "",
    connect: dict[str, Callable[..., Any]] | None = None,
    **kwargs: Any,
) -> QtGeneratorWorker:
    """Create a worker, connect ``connect={"yielded": slot, ...}``, start it, return it."""
    worker = QtGeneratorWorker(func, *args, name=name, **kwargs)
    for signal_name, slot in (connect or {}).items():
        getattr(worker, signal_name).connect(slot)
    worker.start()
    return worker


def running_workers() -> list[QtGeneratorWorker]:
    return [w for w in _RUNNING if w.is_running]


def abort_all() -> None:
    for worker in list(_RUNNING):
        worker.quit()


def wait_for_all(timeout_s: float = 10.0) -> bool:
    """Ask every worker to stop and wait for their threads (at exit, in tests).

    Returns False if some generator is still inside a long call (e.g. a forward pass on a slow
    device) when the time is up; the caller may then exit anyway, since Python will not run
    the thread's remaining Python code after interpreter shutdown begins.
    """
    abort_all()
    deadline = time.monotonic() + timeout_s
    ok = True
    for worker in list(_RUNNING):
        left = max(0.0, deadline - time.monotonic())
        if worker.wait(left):
            _RUNNING.discard(worker)
        else:
            log.warning("worker %s did not stop within %.0f s", worker.name, timeout_s)
            ok = False
    return ok
