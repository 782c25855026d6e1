"""What the viewer's one analysis job computes next, and when a running job has gone stale.

Plain Python, no Qt: the decisions can be tested as a loop (tests/test_viewer_planner.py).
The tab only wires this to a debounce timer and a ``QtGeneratorWorker``: it asks
:meth:`AnalysisPlanner.plan` when something the viewer wants may have changed, starts the
request it gets, and hands the job's results to :meth:`AnalysisPlanner.deliver`.

**Order.** Nearest the reader first:

1. what the slice on screen still lacks: its prediction, then the heat map asked for;
2. the other slices of the series on screen, nearest to that slice first, :data:`STRIP_BATCH`
   at a time (the strip fills around where the reader is);
3. the prediction of the next loaded item that has none (so the list shows every item's
   class, not "not classified yet");
4. the other series' slices (so the list shows each series' summary).

**Staleness.** Results are cached by what they depend on (``state.py``): a prediction that
arrives for a slice the user has left is still right and is kept. What goes stale is the
*running job*: once the selection, the slice, the map's method or target, or the model
changes, a job that no longer computes what is wanted is cancelled (it stops at its next
yield) and the next request starts. What a job computed with a model that is no longer the
active one is dropped, and so is the failure of a job that was cancelled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from desktop_app.messages import plain_message
from desktop_app.viewer.analysis import (
    AnalysisRequest,
    BatchResult,
    CamResult,
    ErrorResult,
    PredictionResult,
)
from desktop_app.viewer.items import CamKey, SliceKey, ViewerItem

__all__ = ["STRIP_BATCH", "AnalysisPlanner", "Running", "covers"]

log = logging.getLogger(__name__)

STRIP_BATCH = 8  # slices per background job: one model batch, then a chance to stop


class _Display(Protocol):
    overlay: bool
    cam_method: str
    target: str


class ViewerResults(Protocol):
    """What the planner reads and writes of the viewer's state (``QtViewerState``)."""

    @property
    def items(self) -> Sequence[ViewerItem]: ...
    @property
    def current(self) -> ViewerItem | None: ...
    @property
    def display(self) -> _Display: ...
    @property
    def predictions(self) -> Mapping[SliceKey, Any]: ...
    @property
    def errors(self) -> Mapping[SliceKey, str]: ...
    @property
    def cams(self) -> Mapping[CamKey, Any]: ...
    @property
    def cam_errors(self) -> Mapping[CamKey, str]: ...

    def store_prediction(self, key: SliceKey, prediction: Any) -> None: ...
    def store_predictions(self, results: list[tuple[SliceKey, Any]]) -> None: ...
    def store_cam(self, key: CamKey, cam: Any, heat: Any) -> None: ...
    def store_error(self, key: SliceKey | CamKey, message: str) -> None: ...


class Job(Protocol):
    """A running analysis (``QtGeneratorWorker``): all the planner does with it is stop it."""

    def quit(self) -> None: ...


@dataclass(frozen=True)
class Running:
    """The job that runs now, what it was asked for, and the model it runs with."""

    request: AnalysisRequest
    job: Job
    model: object


def covers(running: AnalysisRequest | None, pending: AnalysisRequest) -> bool:
    """Does the running job already compute everything ``pending`` asks for?"""
    return (
        running is not None
        and running.slice_key == pending.slice_key
        and (running.want_prediction or not pending.want_prediction)
        and (pending.cam_key is None or pending.cam_key == running.cam_key)
    )


class AnalysisPlanner:
    """Decides the analysis job: what to start, what to stop, which results to keep.

    ``results`` is the viewer's state; ``active_model`` returns the predictor in use now
    (None while there is none: then nothing is planned).
    """

    def __init__(self, results: ViewerResults, active_model: Callable[[], object | None]) -> None:
        self.results = results
        self.active_model = active_model
        self.running: Running | None = None

    # -- what is wanted ---------------------------------------------------------------------
    def next_request(self) -> AnalysisRequest | None:
        """The first thing still missing, in the order of the module's docstring; None when
        everything is known (or there is no model)."""
        if self.active_model() is None:
            return None
        current = self.results.current
        return (
            self._for_current()
            or self._next_slices([current] if current is not None else [])
            or self._next_unclassified()
            or self._next_slices(self.results.items)
        )

    def _for_current(self) -> AnalysisRequest | None:
        item = self.results.current
        skey = _slice_key(item)
        if item is None or skey is None or item.current_slice is None:
            return None
        if skey in self.results.errors:
            return None  # the prediction failed: nothing more is tried
        want_prediction = skey not in self.results.predictions
        d = self.results.display
        cam_key: CamKey | None = (*skey, d.cam_method, d.target) if d.overlay else None
        if cam_key is not None and (
            cam_key in self.results.cams or cam_key in self.results.cam_errors
        ):
            cam_key = None
        if not want_prediction and cam_key is None:
            return None
        return AnalysisRequest(skey, item.current_slice, item.name, want_prediction, cam_key)

    def _next_slices(self, items: Sequence[ViewerItem]) -> AnalysisRequest | None:
        """A batch of unclassified slices of the first series among ``items`` that has any,
        nearest to its slice on screen first."""
        known = self.results.predictions.keys() | self.results.errors.keys()
        for item in items:
            if item.scan is None or not item.is_series:
                continue
            todo = [p for p in range(item.n_slices) if (item.id, p) not in known]
            if not todo:
                continue
            todo.sort(key=lambda p: (abs(p - item.position), p))
            batch = tuple(((item.id, p), item.scan.slices[p]) for p in todo[:STRIP_BATCH])
            first_key, first_slice = batch[0]
            return AnalysisRequest(first_key, first_slice, item.name, False, None, batch)
        return None

    def _next_unclassified(self) -> AnalysisRequest | None:
        for item in self.results.items:
            skey = _slice_key(item)
            if skey is None or item.current_slice is None:
                continue
            if skey not in self.results.predictions and skey not in self.results.errors:
                return AnalysisRequest(skey, item.current_slice, item.name, True, None)
        return None

    # -- the running job ---------------------------------------------------------------------
    def plan(self) -> AnalysisRequest | None:
        """The request to start now. None when the running job already computes what is
        wanted (it carries on) or when nothing is wanted (then nothing runs any more). A
        running job that computes something else is cancelled first."""
        request = self.next_request()
        running = self.running
        if (
            request is not None
            and running is not None
            and running.model is self.active_model()
            and covers(running.request, request)
        ):
            return None
        self.cancel()
        return request

    def started(self, request: AnalysisRequest, job: Job, model: object) -> None:
        """``job`` computes ``request`` with ``model`` from now on."""
        self.cancel()
        self.running = Running(request, job, model)

    def cancel(self) -> None:
        """Stop the running job (stale, a new model, or the list was cleared)."""
        if self.running is not None:
            self.running.job.quit()  # it stops at its next yield
            self.running = None

    def is_running(self, job: Job) -> bool:
        return self.running is not None and self.running.job is job

    def finished(self, job: Job) -> bool:
        """``job`` ended. True if it was the running one: then plan again."""
        if not self.is_running(job):
            return False  # a cancelled job: its successor is already planned
        self.running = None
        return True

    def is_idle(self) -> bool:
        """Nothing runs and nothing is wanted: the slice on screen shows all it will show."""
        return self.running is None and self.next_request() is None

    def busy(self) -> tuple[bool, bool]:
        """(predicting, explaining) the slice on screen; other work is background."""
        running = self.running.request if self.running is not None else None
        if running is None or running.slice_key != _slice_key(self.results.current):
            return False, False
        return running.want_prediction, running.cam_key is not None

    # -- results -----------------------------------------------------------------------------
    def deliver(self, model: object, result: Any) -> bool:
        """Store one result of a job that ran with ``model``. Dropped (False) when another
        model is active now: its classes and maps are not this one's."""
        if model is not self.active_model():
            return False
        if isinstance(result, BatchResult):  # the strip's background work: one update
            self.results.store_predictions([(r.key, r.prediction) for r in result.results])
        elif isinstance(result, PredictionResult):
            self.results.store_prediction(result.key, result.prediction)
        elif isinstance(result, CamResult):
            self.results.store_cam(result.key, result.cam, result.heat)
        elif isinstance(result, ErrorResult):
            log.info("analysis failed: %s", result.message)
            self.results.store_error(result.key, result.message)
        else:
            return False
        return True

    def failed(self, job: Job, request: AnalysisRequest, exc: BaseException) -> bool:
        """``job`` raised: its slice gets the reason, unless the job had been cancelled."""
        if not self.is_running(job):
            return False
        log.warning("analysis of %s failed", request.name, exc_info=exc)
        self.results.store_error(request.slice_key, f"{request.name}: {plain_message(exc)}")
        return True


def _slice_key(item: ViewerItem | None) -> SliceKey | None:
    if item is None or item.scan is None:
        return None
    return (item.id, item.position)
