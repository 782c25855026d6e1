"""The viewer's long work as plain generators, run by ``QtGeneratorWorker``.

Qt-free on purpose: each function can be called in a test or a script as a loop. Every
``yield`` hands a finished piece to the GUI and is a point where a stale job can be
stopped (see ``QtGeneratorWorker.quit``), so the generators yield between files, between
the prediction and the CAM, and between batches.

Failures of one input never end a job: they come out as results with a reason that names
the file, and the job goes on with the next input.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from desktop_app.messages import plain_message
from desktop_app.viewer.items import PREDICTED, CamKey, SliceKey, ViewerItem
from trainer.api import BrainMRIError

if TYPE_CHECKING:
    from trainer.api import Prediction, PredictionRow, Predictor, Scan, ScanSlice

__all__ = [
    "AnalysisRequest",
    "BatchResult",
    "CamResult",
    "ErrorResult",
    "PredictionResult",
    "analyse",
    "classify_all",
    "compose",
    "load_items",
    "thumbnail",
]

THUMBNAIL_PX = 96
BATCH = 8


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def load_items(paths: Sequence[str | Path]) -> Generator[list[ViewerItem], None, None]:
    """Read each dropped path (file, DICOM file or folder); yield its items, readable or not.

    One path at a time, so the list fills while a large folder is still being read and a
    new drop or quitting does not wait for all of them.
    """
    from trainer.api import load_paths

    for path in paths:
        try:
            scans, errors = load_paths([Path(path)])
        except BrainMRIError as exc:
            yield [ViewerItem(Path(path), error=_reason(exc))]
            continue
        except Exception as exc:  # a reader bug must not end the job for the other paths
            yield [ViewerItem(Path(path), error=f"could not be read ({plain_message(exc)})")]
            continue
        items = [_item_for(scan) for scan in scans]
        if Path(path).is_dir() and errors:
            items.append(_skipped_in_folder(Path(path), errors, found_any=bool(scans)))
        else:
            items += [ViewerItem(Path(e.path), error=e.reason) for e in errors]
        if not items:
            items = [ViewerItem(Path(path), error="no images or DICOM files found here")]
        yield items


def _skipped_in_folder(folder: Path, errors: list[Any], found_any: bool) -> ViewerItem:
    """One list entry for all unreadable files of a dropped folder (a README or a DICOMDIR
    next to the scans should not bury them); each file and its reason are in the tooltip."""
    first = errors[0]
    name = Path(first.path).name
    if len(errors) == 1:
        reason = f"{name} skipped: {first.reason}"
    else:
        reason = f"{len(errors)} files skipped, e.g. {name}: {first.reason}"
    if not found_any:
        reason = f"no readable scans; {reason}"
    item = ViewerItem(folder, error=reason)
    item.details = [f"{Path(e.path).name}: {e.reason}" for e in errors]
    return item


def _item_for(scan: Scan) -> ViewerItem:
    item = ViewerItem(Path(scan.source), scan=scan, position=len(scan.slices) // 2)
    try:
        item.thumbnail = thumbnail(scan.slices[item.position])
    except Exception:  # a thumbnail is a nicety; the item stays usable without one
        item.thumbnail = None
    return item


def thumbnail(slc: ScanSlice, size: int = THUMBNAIL_PX) -> np.ndarray:
    """uint8 grey, longest side ``size``: small enough to hand to the GUI thread."""
    from trainer.api import quantise  # trainer.io: loaded with the first scan anyway

    img = Image.fromarray(quantise(slc.render()))
    img.thumbnail((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc)


# --------------------------------------------------------------------------------------------
# Prediction and CAM for the slice on screen
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnalysisRequest:
    """What the slice on screen still lacks. ``cam_key`` None: no CAM wanted."""

    slice_key: SliceKey
    slice: Any  # ScanSlice
    name: str  # file name for messages
    want_prediction: bool
    cam_key: CamKey | None
    #: More slices to classify in one model batch (the strip's background work), each with
    #: its key; when set, ``slice_key`` is the first of them and nothing else is asked.
    batch: tuple[tuple[SliceKey, Any], ...] = ()


@dataclass(frozen=True)
class PredictionResult:
    key: SliceKey
    prediction: Prediction


@dataclass(frozen=True)
class CamResult:
    key: CamKey
    cam: np.ndarray  # float (H, W) in [0, 1]
    #: The map coloured, uint8 RGBA (H, W, 4), by ``trainer.cam.overlay.heat_rgba`` (the
    #: colouring of the PNG and PDF exports too): what the canvas lays over the image.
    #: Computed once per map in the worker, so the GUI thread only blends: moving the
    #: opacity slider costs nothing on a 2048² slice.
    heat: np.ndarray


@dataclass(frozen=True)
class BatchResult:
    """The predictions of one model pass over ``AnalysisRequest.batch``: handed to the GUI
    as one report, so that it updates once per batch rather than once per slice."""

    results: tuple[PredictionResult, ...]


@dataclass(frozen=True)
class ErrorResult:
    key: SliceKey | CamKey  # a slice key: the prediction failed; a CAM key: that map failed
    message: str


def analyse(
    predictor: Predictor, request: AnalysisRequest
) -> Generator[BatchResult | PredictionResult | CamResult | ErrorResult, None, None]:
    """Predict the slice, then explain it. The CAM uses the slice's default window, exactly
    as the prediction (and the CLI) do, so the user's window/level is display only."""
    if request.batch:
        yield from _classify_batch(predictor, request)
        return
    slc = request.slice
    if request.want_prediction:
        try:
            prediction = predictor.predict_slices([slc])[0]
        except Exception as exc:
            yield ErrorResult(request.slice_key, _failure(request.name, "prediction", exc))
            return
        yield PredictionResult(request.slice_key, prediction)
    if request.cam_key is not None:
        method, target = request.cam_key[2], request.cam_key[3]
        try:
            grey = slc.render()
            target_index = None if target == PREDICTED else predictor.classes.index(target)
            cam = predictor.explain(grey, method=method or None, target_class=target_index)
            from trainer.api import heat_rgba  # matplotlib's colour map: on first use (issue 22)

            heat = heat_rgba(cam)
        except Exception as exc:
            yield ErrorResult(request.cam_key, _failure(request.name, "heat map", exc))
            return
        yield CamResult(request.cam_key, cam, heat)


def _classify_batch(
    predictor: Predictor, request: AnalysisRequest
) -> Generator[BatchResult | PredictionResult | ErrorResult, None, None]:
    """The slices of ``request.batch`` in one model pass; if the pass fails, one at a time,
    so that one unreadable slice costs only its own cell of the strip."""
    keys = [key for key, _ in request.batch]
    slices = [slc for _, slc in request.batch]
    try:
        predictions = predictor.predict_slices(slices)
    except Exception:
        for key, slc in zip(keys, slices, strict=True):
            try:
                prediction = predictor.predict_slices([slc])[0]
            except Exception as exc:
                yield ErrorResult(key, _failure(request.name, "prediction", exc))
                continue
            yield PredictionResult(key, prediction)
        return
    yield BatchResult(
        tuple(PredictionResult(key, p) for key, p in zip(keys, predictions, strict=True))
    )


def _failure(name: str, what: str, exc: BaseException) -> str:
    detail = plain_message(exc)  # the log keeps the full exception
    return f"{name}: {what} failed ({detail})"


# --------------------------------------------------------------------------------------------
# Classify everything
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchRow:
    """One row of the batch table: a slice's prediction, or an item's error."""

    item_id: int
    position: int | None
    path: str
    slice_index: int | None
    prediction: Prediction | None
    error: str | None

    def row(self) -> PredictionRow:
        """The output row (``trainer.prediction_row.PredictionRow``), the one the CLI writes:
        the table export writes its columns (``trainer.prediction_table``)."""
        from trainer.api import PredictionRow

        return PredictionRow(self.path, self.slice_index, self.prediction, self.error)

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` row (see ``trainer.cli.predict``); the viewer writes no heat-map
        files, so ``cam`` is null."""
        return self.row().to_json()


def classify_all(
    predictor: Predictor,
    items: Iterable[ViewerItem],
    known: dict[SliceKey, Prediction] | None = None,
) -> Generator[list[BatchRow], None, None]:
    """Every slice of every item, in order, classified :data:`BATCH` slices at a time across
    items: a folder of single images goes through the model in batches, at its batched speed,
    instead of one image per call. Yields each batch's rows as one list: one point where the
    job can be stopped, and one update of the table instead of one per row."""
    known = known or {}
    window: list[tuple[ViewerItem, int | None]] = []  # the rows to come; None: a failed item
    todo = 0
    for item in items:
        positions = range(len(item.scan.slices)) if item.scan is not None else [None]
        for position in positions:
            window.append((item, position))
            todo += position is not None and (item.id, position) not in known
            if todo >= BATCH or len(window) >= 4 * BATCH:
                yield _batch_rows(predictor, window, known)
                window, todo = [], 0
    if window:
        yield _batch_rows(predictor, window, known)


def _batch_rows(
    predictor: Predictor,
    window: list[tuple[ViewerItem, int | None]],
    known: dict[SliceKey, Prediction],
) -> list[BatchRow]:
    """The rows of ``window``: known predictions reused, the others predicted in one stream
    (``Predictor.predict_stream`` batches them, and gives a slice that cannot be read its
    error in its place)."""
    todo = [(i, p) for i, p in window if p is not None and (i.id, p) not in known]
    fresh: dict[SliceKey, Prediction | str] = {}
    try:
        slices = [i.scan.slices[p] for i, p in todo if i.scan is not None and p is not None]
        stream = predictor.predict_stream(slices)
        for (item, position), result in zip(todo, stream, strict=True):
            if isinstance(result, Exception):
                fresh[(item.id, position)] = _failure(item.name, "prediction", result)
            else:
                fresh[(item.id, position)] = result
    except Exception as exc:  # the model itself failed: every slice not done says why
        for item, position in todo:
            fresh.setdefault((item.id, position), _failure(item.name, "prediction", exc))
    rows = []
    for item, p in window:
        if p is None or item.scan is None:
            rows.append(BatchRow(item.id, None, str(item.source), None, None, item.error))
            continue
        slices = item.scan.slices
        got = known.get((item.id, p)) or fresh.get((item.id, p))
        pred, error = (None, got) if isinstance(got, str) else (got, None)
        index = slices[p].index if len(slices) > 1 else None
        rows.append(BatchRow(item.id, p, str(slices[p].source), index, pred, error))
    return rows


# --------------------------------------------------------------------------------------------
# What the canvas shows
# --------------------------------------------------------------------------------------------


def compose(
    grey01: np.ndarray,
    cam01: np.ndarray | None,
    opacity: float,
    invert: bool = False,
    sbs: bool = False,
) -> np.ndarray:
    """The displayed picture: uint8 grey (H, W) without a CAM, else RGB overlay (H, W, 3),
    or original | overlay (H, 2W, 3) side by side. Uses the same ``render_overlay`` as the
    exports, so the PNG and the PDF show exactly what the screen shows."""
    grey = 1.0 - grey01 if invert else grey01
    if cam01 is None or cam01.shape != grey.shape:
        from trainer.api import quantise  # trainer.io: loaded with the first scan anyway

        return quantise(grey)
    from trainer.api import render_overlay, side_by_side  # matplotlib: on first use

    overlay = render_overlay(grey, cam01, opacity=float(opacity))
    return side_by_side(grey, overlay) if sbs else overlay
