"""The training tab's work, off the GUI thread: data scan, speed probe, training, gallery.

One controller owns every worker of the tab, so there is one place that knows whether
training runs, one place that stops it safely, and the pages only talk to signals. Each job
is a plain generator (``trainer.train.engine.fit``, :mod:`.jobs`, :mod:`.probe`) driven by
:class:`desktop_app.workers.QtGeneratorWorker`.

Stopping training never uses the worker's ``quit()``: that would close the generator at its
next ``yield`` and lose the epoch in progress. The trainer's
:class:`~trainer.train.events.CancelToken` is used instead: the loop finishes the current
batch, writes a resumable state and ends with ``FitFinished(cancelled=True)``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Generator
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal

from desktop_app.messages import plain_message
from desktop_app.training.jobs import (
    Misclassified,
    PredictionProgress,
    ScanProgress,
    SplitPreview,
    misclassified_images,
    scan_dataset,
)
from desktop_app.training.state import RunProgress
from desktop_app.workers import QtGeneratorWorker
from trainer.api import (
    CancelToken,
    FitFailed,
    FitFinished,
    ProbeProgress,
    ProbeResult,
    SplitSpec,
    TrainConfig,
    probe_key,
    probe_speed,
)


def _fit(*args: Any, **kwargs: Any) -> Generator[Any, None, Any]:
    """``trainer.train.engine.fit``, imported in the worker thread: torch and timm take seconds to
    load, which the window should not wait for (issue 22)."""
    from trainer.api import fit

    return (yield from fit(*args, **kwargs))


def _describe(exc: BaseException) -> str:
    """What the pages show: plain words (the training log keeps the traceback)."""
    return plain_message(exc)


class WeightsUnavailable(Exception):
    """The recipe's starting weights cannot be had; the message says why in plain words."""


def checked_probe(cfg: TrainConfig) -> Generator[Any, None, Any]:
    """The speed probe, after making sure the starting weights can be had: measuring a recipe
    that cannot start would only tell the user a duration for nothing."""
    from trainer.api import weights_available

    yield ProbeProgress("checking the starting weights")
    reason = weights_available(cfg.backbone, cfg.pretrained)
    if reason is not None:
        raise WeightsUnavailable(reason)
    return (yield from probe_speed(cfg))


class QtTrainingController(QObject):
    """Starts, stops and reports the tab's background jobs. Lives in the GUI thread."""

    # data scan
    scan_previewed = Signal(object)  # SplitPreview
    scan_progressed = Signal(int, int)  # done, total
    scan_finished = Signal(object)  # trainer.data.checks.DataReport
    scan_failed = Signal(str)
    # speed probe
    probe_progressed = Signal(str)
    probe_finished = Signal(object)  # ProbeResult
    probe_failed = Signal(str)
    weights_unavailable = Signal(str)  # why the recipe's starting weights cannot be had
    # training
    training_started = Signal(str)  # run folder
    event_received = Signal(object)  # every trainer.train.events event, in order
    training_ended = Signal(object)  # the final RunProgress (finished, cancelled or failed)
    busy_changed = Signal(bool)
    # misclassified gallery
    misclassified_found = Signal(object)  # Misclassified
    misclassified_progressed = Signal(int, int)
    misclassified_done = Signal(object)  # {"test_images": n, "misclassified": k}
    misclassified_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.progress = RunProgress()
        self._cancel: CancelToken | None = None
        self._train_worker: QtGeneratorWorker | None = None
        self._scan_worker: QtGeneratorWorker | None = None
        self._probe_worker: QtGeneratorWorker | None = None
        self._gallery_worker: QtGeneratorWorker | None = None
        self._probe_cache: dict[tuple[Any, ...], ProbeResult] = {}
        self._probe_key: tuple[Any, ...] = ()

    # ------------------------------------------------------------------ data scan
    def scan(self, root: str | Path, split: SplitSpec) -> None:
        """Check a data folder; a scan still running for an older choice is abandoned."""
        self._abandon(self._scan_worker)
        worker = QtGeneratorWorker(
            scan_dataset, str(root), split, name=f"data check of {root}", owner=self
        )
        worker.yielded.connect(self._on_scan_yielded)
        worker.returned.connect(self._on_scan_returned)
        worker.errored.connect(self._on_scan_errored)
        self._scan_worker = worker
        worker.start()

    def _current(self, attr: str) -> bool:
        """Whether the signal being handled comes from the job's current worker (an
        abandoned one may still deliver queued results, which must be ignored)."""
        return self.sender() is getattr(self, attr)

    def _on_scan_yielded(self, value: object) -> None:
        if not self._current("_scan_worker"):
            return
        if isinstance(value, SplitPreview):
            self.scan_previewed.emit(value)
        elif isinstance(value, ScanProgress):
            self.scan_progressed.emit(value.done, value.total)

    def _on_scan_returned(self, report: object) -> None:
        if self._current("_scan_worker"):
            self.scan_finished.emit(report)

    def _on_scan_errored(self, exc: BaseException) -> None:
        if self._current("_scan_worker"):
            self.scan_failed.emit(_describe(exc))

    # ------------------------------------------------------------------ probe
    def cached_probe(self, cfg: TrainConfig) -> ProbeResult | None:
        """A measurement still valid for ``cfg``, if one was made."""
        return self._probe_cache.get(probe_key(cfg))

    def probe(self, cfg: TrainConfig) -> None:
        """Measure seconds per batch for ``cfg`` (see :mod:`.probe`)."""
        self._abandon(self._probe_worker)
        self._probe_key = probe_key(cfg)
        worker = QtGeneratorWorker(checked_probe, cfg, name="speed probe", owner=self)
        worker.yielded.connect(self._on_probe_yielded)
        worker.returned.connect(self._on_probe_returned)
        worker.errored.connect(self._on_probe_errored)
        worker.finished.connect(self._on_any_finished)
        self._probe_worker = worker
        worker.start()
        self.busy_changed.emit(True)

    def is_probing(self) -> bool:
        return self._probe_worker is not None and self._probe_worker.is_running

    def _on_probe_yielded(self, value: object) -> None:
        if self._current("_probe_worker") and isinstance(value, ProbeProgress):
            self.probe_progressed.emit(value.message)

    def _on_probe_returned(self, result: object) -> None:
        if self._current("_probe_worker") and isinstance(result, ProbeResult):
            self._probe_cache[self._probe_key] = result
            self.probe_finished.emit(result)

    def _on_probe_errored(self, exc: BaseException) -> None:
        if not self._current("_probe_worker"):
            return
        if isinstance(exc, WeightsUnavailable):
            self.weights_unavailable.emit(str(exc))
        else:
            self.probe_failed.emit(_describe(exc))

    # ------------------------------------------------------------------ training
    def is_training(self) -> bool:
        return self._train_worker is not None and self._train_worker.is_running

    def is_busy(self) -> bool:
        return self.is_training() or self.is_probing()

    def start(self, cfg: TrainConfig, run_dir: str | Path) -> None:
        """Train ``cfg`` into ``run_dir`` (a new folder)."""
        self._start(Path(run_dir), RunProgress(), cfg, resume=False, overrides=None)

    def resume(self, run_dir: str | Path, overrides: dict[str, Any] | None = None) -> None:
        """Continue a stopped or interrupted run to the end it would have had.

        The curves start from the epochs the folder already holds. Only machinery (device,
        data-loader workers) may be overridden; the recipe is the run's own.
        """
        progress = RunProgress(resuming=True)
        progress.load_history(run_dir)
        self._start(Path(run_dir), progress, None, resume=True, overrides=overrides or {})

    def _start(
        self,
        run_dir: Path,
        progress: RunProgress,
        cfg: TrainConfig | None,
        resume: bool,
        overrides: dict[str, Any] | None,
    ) -> None:
        if self.is_training():
            raise RuntimeError("a training run is already in progress")
        self.progress = progress
        self.progress.run_dir = str(run_dir)
        if cfg is not None:
            self.progress.epochs = cfg.epochs
            self.progress.config = cfg.to_dict()
            self.progress.batch_size = cfg.batch_size
        self._cancel = CancelToken()
        worker = QtGeneratorWorker(
            _fit,
            cfg,
            run_dir,
            self._cancel,
            resume=resume,
            overrides=overrides,
            name=f"training in {run_dir.name}",
            owner=self,
        )
        worker.yielded.connect(self._on_fit_yielded)
        worker.errored.connect(self._on_fit_errored)
        worker.aborted.connect(self._on_fit_aborted)
        worker.finished.connect(self._on_fit_finished)
        self._train_worker = worker
        worker.start()
        self.busy_changed.emit(True)
        self.training_started.emit(str(run_dir))

    def stop(self) -> None:
        """Stop after the current batch and save a resumable state (returns at once)."""
        if self._cancel is not None:
            self._cancel.cancel()

    @property
    def stop_requested(self) -> bool:
        return self._cancel is not None and self._cancel.cancelled

    def request_stop_and_wait(self, timeout_ms: int) -> bool:
        """Stop everything the tab runs, training safely (resumable state saved), and wait
        up to ``timeout_ms``; True when nothing runs any more. For the main window's close
        event, after it has asked the user.

        Training is waited for in a local event loop that keeps painting and delivering the
        run's last events (user input is held back), so the window does not look frozen while
        the loop finishes its batch and saves. Not a ``processEvents()`` polling loop: with
        PySide6 6.12 on CPython 3.11 every ``QCoreApplication.processEvents()`` call drops a
        reference to ``None`` it never took, and enough of them abort the interpreter. The
        other jobs (scan, probe, gallery) are abandoned and joined: they hold nothing worth
        saving, but a QThread destroyed while it runs takes the process down.
        """
        deadline = time.monotonic() + max(timeout_ms, 0) / 1000
        others = (self._scan_worker, self._probe_worker, self._gallery_worker)
        for w in others:
            self._abandon(w)
        worker = self._train_worker
        if worker is not None and worker.is_running:
            self.stop()
            loop = QEventLoop()
            worker.finished.connect(loop.quit)  # connected before the check: no lost wake-up
            timer = QTimer(singleShot=True, interval=max(int(timeout_ms), 0))
            timer.timeout.connect(loop.quit)
            if worker.is_running:
                timer.start()
                loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
                timer.stop()
        for w in (worker, *others):
            # a worker that no longer runs may have had its QThread deleted already: no wait()
            if w is not None and w.is_running:
                w.wait(max(deadline - time.monotonic(), 0.0))
        return not any(w is not None and w.is_running for w in (worker, *others))

    def _on_fit_yielded(self, event: object) -> None:
        if not self._current("_train_worker"):
            return
        self.progress.update(event)
        self.event_received.emit(event)

    def _on_fit_errored(self, exc: BaseException) -> None:
        """``fit`` reports failures as FitFailed itself; this catches what escapes it (a
        bug, or an error while the generator starts) and shows it the same way."""
        if not self._current("_train_worker"):
            return
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        from trainer.api import failure_kind  # loaded with fit by then

        failed = FitFailed(self.progress.run_dir, _describe(exc), tb, failure_kind(exc))
        self.progress.update(failed)
        self.event_received.emit(failed)

    def _on_fit_aborted(self) -> None:
        if self._current("_train_worker") and self.progress.finished is None:
            # quit() was used (app shutdown): the run ends without a final state.
            self.progress.update(FitFinished(self.progress.run_dir, True, False, []))

    def _on_fit_finished(self) -> None:
        if not self._current("_train_worker"):
            return
        self._train_worker = None
        self._cancel = None
        self.training_ended.emit(self.progress)
        self.busy_changed.emit(self.is_busy())

    def _on_any_finished(self) -> None:
        if self.sender() is self._probe_worker:
            self._probe_worker = None
        self.busy_changed.emit(self.is_busy())

    # ------------------------------------------------------------------ gallery
    def load_misclassified(self, run_dir: str | Path) -> None:
        self._abandon(self._gallery_worker)
        worker = QtGeneratorWorker(
            misclassified_images, str(run_dir), name="misclassified", owner=self
        )
        worker.yielded.connect(self._on_gallery_yielded)
        worker.returned.connect(self._on_gallery_returned)
        worker.errored.connect(self._on_gallery_errored)
        self._gallery_worker = worker
        worker.start()

    def _on_gallery_yielded(self, value: object) -> None:
        if not self._current("_gallery_worker"):
            return
        if isinstance(value, Misclassified):
            self.misclassified_found.emit(value)
        elif isinstance(value, PredictionProgress):
            self.misclassified_progressed.emit(value.done, value.total)

    def _on_gallery_returned(self, summary: object) -> None:
        if self._current("_gallery_worker"):
            self.misclassified_done.emit(summary)

    def _on_gallery_errored(self, exc: BaseException) -> None:
        if self._current("_gallery_worker"):
            self.misclassified_failed.emit(_describe(exc))

    # ------------------------------------------------------------------ shutdown
    @staticmethod
    def _abandon(worker: QtGeneratorWorker | None) -> None:
        if worker is not None and worker.is_running:
            worker.quit()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop everything (training safely) and wait; for tests and the app's exit."""
        return self.request_stop_and_wait(timeout_ms)
