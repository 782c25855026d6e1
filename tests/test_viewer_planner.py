"""The viewer's analysis planner (desktop_app/viewer/planner.py), without Qt.

What the one analysis job computes next (the slice on screen, then its series nearest first,
then the other items), when a running job has gone stale (another item, slice, map method
or model) and is cancelled, and which results are kept. The tab only wires this to a timer
and a worker; here the worker is a loop and the job a stub that records ``quit``.

No Qt binding is imported, here or by the planner (the last test checks it in a fresh
interpreter), so this runs where PySide6 is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from fresh_interpreter import modules_after

from desktop_app.viewer.analysis import (
    AnalysisRequest,
    BatchResult,
    CamResult,
    ErrorResult,
    PredictionResult,
)
from desktop_app.viewer.items import PREDICTED, CamKey, SliceKey, ViewerItem
from desktop_app.viewer.planner import STRIP_BATCH, AnalysisPlanner, covers

MODEL = object()  # stands in for the active Predictor: the planner only compares identities


def item(name: str, n_slices: int = 1, position: int = 0) -> ViewerItem:
    scan = SimpleNamespace(slices=[f"{name}[{p}]" for p in range(n_slices)], kind="image")
    return ViewerItem(Path(name), scan=scan, position=position)  # type: ignore[arg-type]


@dataclass
class Display:
    overlay: bool = True
    cam_method: str = ""
    target: str = PREDICTED


@dataclass
class State:
    """What the planner reads and writes of ``QtViewerState``, as plain dicts."""

    items: list[ViewerItem]
    current: ViewerItem | None = None
    display: Display = field(default_factory=Display)
    predictions: dict[SliceKey, Any] = field(default_factory=dict)
    errors: dict[SliceKey, str] = field(default_factory=dict)
    cams: dict[CamKey, Any] = field(default_factory=dict)
    cam_errors: dict[CamKey, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.current = self.current or self.items[0]

    def store_prediction(self, key: SliceKey, prediction: Any) -> None:
        self.predictions[key] = prediction

    def store_predictions(self, results: list[tuple[SliceKey, Any]]) -> None:
        self.predictions.update(results)

    def store_cam(self, key: CamKey, cam: Any, heat: Any) -> None:
        self.cams[key] = cam

    def store_error(self, key: SliceKey | CamKey, message: str) -> None:
        if len(key) == 2:
            self.errors[key] = message  # type: ignore[index]
        else:
            self.cam_errors[key] = message  # type: ignore[index]


class Job:
    """A stand-in for the worker: all the planner may do with it is stop it."""

    def __init__(self) -> None:
        self.quit_called = False

    def quit(self) -> None:
        self.quit_called = True


class Models:
    def __init__(self) -> None:
        self.active: object | None = MODEL

    def __call__(self) -> object | None:
        return self.active


def planner_for(state: State, models: Models | None = None) -> AnalysisPlanner:
    return AnalysisPlanner(state, models or Models())


def results_for(request: AnalysisRequest) -> list[Any]:
    """What ``analysis.analyse`` yields for ``request``, with stand-in predictions and maps."""
    if request.batch:
        return [BatchResult(tuple(PredictionResult(k, f"pred{k}") for k, _ in request.batch))]
    out: list[Any] = []
    if request.want_prediction:
        out.append(PredictionResult(request.slice_key, f"pred{request.slice_key}"))
    if request.cam_key is not None:
        out.append(CamResult(request.cam_key, f"cam{request.cam_key}", None))  # type: ignore[arg-type]
    return out


def start(
    planner: AnalysisPlanner, request: AnalysisRequest | None = None, model: object = MODEL
) -> tuple[AnalysisRequest, Job]:
    """Start ``request`` (by default what the planner plans now) in a stand-in job."""
    request = request or planner.plan()
    assert request is not None
    job = Job()
    planner.started(request, job, model)
    return request, job


def complete(planner: AnalysisPlanner, request: AnalysisRequest, job: Job) -> None:
    for result in results_for(request):
        planner.deliver(MODEL, result)
    assert planner.finished(job)


def run_to_idle(planner: AnalysisPlanner) -> list[AnalysisRequest]:
    """The tab's loop: plan, start, hand over the results, end; until nothing is wanted."""
    done: list[AnalysisRequest] = []
    while (request := planner.plan()) is not None:
        complete(planner, *start(planner, request))
        done.append(request)
        assert len(done) < 100, "the planner keeps asking for the same work"
    assert planner.is_idle()
    return done


def positions(request: AnalysisRequest) -> list[int]:
    return [key[1] for key, _ in request.batch] or [request.slice_key[1]]


# --------------------------------------------------------------------------------------------
# What comes next
# --------------------------------------------------------------------------------------------


def test_the_slice_on_screen_first_then_its_series_nearest_first_then_the_other_items() -> None:
    series = item("series", 10, position=6)
    single = item("single.png")
    other = item("other", 3, position=1)
    state = State([series, single, other])
    done = run_to_idle(planner_for(state))
    described = [(r.name, positions(r), r.want_prediction, r.cam_key is not None) for r in done]
    assert described == [
        ("series", [6], True, True),  # the slice on screen: its prediction and its map
        ("series", [5, 7, 4, 8, 3, 9, 2, 1], False, False),  # the strip, nearest first
        ("series", [0], False, False),
        ("single.png", [0], True, False),  # every item's class in the list, no map
        ("other", [1], True, False),  # the slice each item shows first
        ("other", [0, 2], False, False),  # then the rest of the other series
    ]
    assert len(done[1].batch) == STRIP_BATCH
    assert len(state.predictions) == 10 + 1 + 3
    assert list(state.cams) == [(series.id, 6, "", PREDICTED)]  # only the map on screen


def test_the_strip_fills_around_where_the_reader_is_now() -> None:
    series = item("series", 20, position=0)
    state = State([series])
    planner = planner_for(state)
    run_first = planner.plan()
    assert run_first is not None and positions(run_first) == [0]
    state.predictions[(series.id, 0)] = "pred"
    state.cams[(series.id, 0, "", PREDICTED)] = "cam"
    series.position = 15  # the reader scrolled: the strip grows around slice 15
    series_request = planner.plan()
    assert series_request is not None and positions(series_request) == [15]
    state.predictions[(series.id, 15)] = "pred"
    state.cams[(series.id, 15, "", PREDICTED)] = "cam"
    batch = planner.plan()
    assert batch is not None and positions(batch) == [14, 16, 13, 17, 12, 18, 11, 19]


def test_nothing_is_planned_without_a_model_or_for_an_unreadable_item() -> None:
    models = Models()
    models.active = None
    state = State([item("a.png")])
    assert planner_for(state, models).plan() is None
    unreadable = ViewerItem(Path("broken.dcm"), error="not a DICOM file")
    state = State([unreadable], current=unreadable)
    assert planner_for(state).is_idle()


def test_a_failed_prediction_or_map_is_not_tried_again() -> None:
    a, b = item("a.png"), item("b.png")
    state = State([a, b])
    state.errors[(a.id, 0)] = "a.png: prediction failed (unreadable)"
    request = planner_for(state).plan()
    assert request is not None and request.name == "b.png"  # a is skipped, b is next
    state = State([a, b])
    state.predictions[(a.id, 0)] = "pred"
    state.cam_errors[(a.id, 0, "", PREDICTED)] = "a.png: heat map failed"
    request = planner_for(state).plan()
    assert request is not None and request.name == "b.png" and request.cam_key is None


def test_with_the_overlay_off_no_map_is_computed() -> None:
    a = item("a.png")
    state = State([a])
    state.display.overlay = False
    done = run_to_idle(planner_for(state))
    assert [(r.want_prediction, r.cam_key) for r in done] == [(True, None)]
    assert not state.cams


# --------------------------------------------------------------------------------------------
# The running job: carries on, or is stale and cancelled
# --------------------------------------------------------------------------------------------


def test_a_job_that_computes_what_is_wanted_carries_on() -> None:
    a = item("a.png")
    state = State([a])
    planner = planner_for(state)
    request, job = start(planner)
    planner.deliver(MODEL, results_for(request)[0])  # the prediction; the map is still coming
    assert planner.plan() is None  # the running job covers "the map of a"
    assert not job.quit_called and planner.is_running(job)
    assert planner.busy() == (True, True)  # both are shown as on their way
    assert not planner.is_idle()


def test_selecting_another_item_cancels_the_stale_job() -> None:
    a, b = item("a.png"), item("b.png")
    state = State([a, b])
    planner = planner_for(state)
    request, job = start(planner)
    state.current = b
    assert planner.busy() == (False, False)  # the job is not about the slice on screen
    fresh = planner.plan()
    assert job.quit_called and planner.running is None
    assert fresh is not None and fresh.slice_key == (b.id, 0) and fresh.cam_key is not None
    # What the stopped job had already computed is right for its slice: kept, not shown
    assert planner.deliver(MODEL, results_for(request)[0])
    assert (a.id, 0) in state.predictions
    # ... but its end or its failure changes nothing any more
    assert not planner.finished(job)
    assert not planner.failed(job, request, RuntimeError("stopped"))
    assert (a.id, 0) not in state.errors


def test_moving_to_another_slice_cancels_the_strips_batch() -> None:
    series = item("series", 30, position=10)
    state = State([series])
    planner = planner_for(state)
    complete(planner, *start(planner))  # the slice on screen
    batch, job = start(planner)
    assert batch.batch and positions(batch)[0] in (9, 11)
    series.position = 25  # the reader moved: the slice on screen comes first again
    fresh = planner.plan()
    assert job.quit_called
    assert fresh is not None and fresh.slice_key == (series.id, 25) and fresh.want_prediction


def test_changing_the_map_method_or_target_cancels_the_old_map() -> None:
    a = item("a.png")
    state = State([a])
    planner = planner_for(state)
    request, job = start(planner)
    planner.deliver(MODEL, results_for(request)[0])  # the prediction arrived
    state.display.cam_method = "eigencam"  # the user picks another map mid-way
    fresh = planner.plan()
    assert job.quit_called
    assert fresh is not None and not fresh.want_prediction  # the prediction is kept
    assert fresh.cam_key == (a.id, 0, "eigencam", PREDICTED)
    _, job = start(planner, fresh)
    state.display.target = "glioma"
    again = planner.plan()
    assert job.quit_called and again is not None
    assert again.cam_key == (a.id, 0, "eigencam", "glioma")


def test_a_new_model_cancels_the_job_and_its_results_are_dropped() -> None:
    a = item("a.png")
    models = Models()
    state = State([a])
    planner = planner_for(state, models)
    request, job = start(planner)
    models.active = new = object()
    assert not planner.deliver(MODEL, results_for(request)[0])  # the old model's answer
    assert not state.predictions
    fresh = planner.plan()  # the same request, but the running job has the wrong model
    assert job.quit_called
    assert fresh is not None and covers(request, fresh)
    _, new_job = start(planner, fresh, new)
    assert planner.deliver(new, results_for(fresh)[0]) and (a.id, 0) in state.predictions
    assert planner.is_running(new_job)


def test_cancel_stops_the_job_and_its_end_plans_nothing() -> None:
    a = item("a.png")
    state = State([a])
    planner = planner_for(state)
    _, job = start(planner)
    planner.cancel()  # the list was cleared, the model changed, or the app quits
    assert job.quit_called and planner.running is None
    assert not planner.finished(job)
    planner.cancel()  # nothing running: nothing to do


def test_a_failed_job_gives_its_slice_the_reason_and_the_work_moves_on() -> None:
    a, b = item("a.png"), item("b.png")
    state = State([a, b])
    planner = planner_for(state)
    request, job = start(planner)
    assert planner.failed(job, request, OSError("disk gone"))
    assert state.errors == {(a.id, 0): "a.png: disk gone"}
    assert planner.finished(job)
    state.current = b
    follow = planner.plan()
    assert follow is not None and follow.slice_key == (b.id, 0)
    state.current = a  # back to a: its failure is shown, nothing is tried again
    assert positions(run_to_idle(planner)[0]) == [0]
    assert state.errors == {(a.id, 0): "a.png: disk gone"}


def test_error_results_are_stored_under_their_key() -> None:
    a = item("a.png")
    state = State([a])
    planner = planner_for(state)
    request, _ = start(planner)
    assert request.cam_key is not None
    assert planner.deliver(MODEL, PredictionResult(request.slice_key, "pred"))
    assert planner.deliver(MODEL, ErrorResult(request.cam_key, "a.png: heat map failed"))
    assert state.cam_errors == {request.cam_key: "a.png: heat map failed"}
    assert not planner.deliver(MODEL, "something else")


# --------------------------------------------------------------------------------------------
# No Qt
# --------------------------------------------------------------------------------------------


def test_the_planner_imports_no_qt_binding() -> None:
    loaded = modules_after("import desktop_app.viewer.planner")
    assert "desktop_app.viewer.planner" in loaded
    assert not [m for m in loaded if m.split(".")[0] in {"PySide6", "shiboken6", "PyQt6"}]
    assert not {"desktop_app.viewer.state", "desktop_app.viewer.tab"} & loaded
