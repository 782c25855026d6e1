"""The viewer's long work as plain generators, run by ``QtGeneratorWorker``.

Qt-free on purpose: each function can be called in a test or a script as a loop. Every
``yield`` hands a finished piece to the GUI and is a point where a stale job can be
stopped (see ``QtGeneratorWorker.quit``), so the generators yield between files, between
the prediction and the CAM, and between batches.

Failures of one input never end a job: they come out as results with a reason that names
the file, and the job goes on with the next input.
"""

from __future__ import annotations

import functools
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
import numpy as np
from PIL import Image

from desktop_app.messages import plain_message
from desktop_app.viewer.state import PREDICTED, CamKey, SliceKey, ViewerItem
from trainer.api import BrainMRIError, render_overlay, side_by_side

if TYPE_CHECKING:
    from trainer.api import Prediction, Predictor, Scan, ScanSlice

__all__ = [
    "AnalysisRequest",
    "CamResult",
    "ErrorResult",
    "PredictionResult",
    "analyse",
    "classify_all",
    "compose",
    "heat_rgb",
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
    grey = slc.render()
    img = Image.fromarray(np.clip(np.rint(grey * 255), 0, 255).astype(np.uint8))
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


@dataclass(frozen=True)
class PredictionResult:
    key: SliceKey
    prediction: Prediction


@dataclass(frozen=True)
class CamResult:
    key: CamKey
    cam: np.ndarray  # float (H, W) in [0, 1]
    heat: np.ndarray  # the map coloured, uint8 (H, W, 3): what the canvas lays over the image


@dataclass(frozen=True)
class ErrorResult:
    key: SliceKey | CamKey  # a slice key: the prediction failed; a CAM key: that map failed
    message: str


def analyse(
    predictor: Predictor, request: AnalysisRequest
) -> Generator[PredictionResult | CamResult | ErrorResult, None, None]:
    """Predict the slice, then explain it. The CAM uses the slice's default window, exactly
    as the prediction (and the CLI) do, so the user's window/level is display only."""
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
            cam = predictor.explain(grey, method=method, target_class=target_index)
            heat = heat_rgb(cam)
        except Exception as exc:
            yield ErrorResult(request.cam_key, _failure(request.name, "Grad-CAM", exc))
            return
        yield CamResult(request.cam_key, cam, heat)


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

    def to_json(self) -> dict[str, Any]:
        """The CLI's ``--json`` row format (see ``trainer.cli.predict``), without ``cam``."""
        if self.prediction is None:
            return {
                "path": self.path,
                "slice": self.slice_index,
                "predicted_class": None,
                "probabilities": None,
                "ood": None,
                "ood_score": None,
                "warnings": [],
                "error": self.error,
            }
        row = self.prediction.to_json()
        row["slice"] = self.slice_index
        return row


def classify_all(
    predictor: Predictor,
    items: Iterable[ViewerItem],
    known: dict[SliceKey, Prediction] | None = None,
) -> Generator[BatchRow, None, None]:
    """Every slice of every item, in small batches (each batch is a cancellation point)."""
    known = known or {}
    for item in items:
        if item.scan is None:
            yield BatchRow(item.id, None, str(item.source), None, None, item.error)
            continue
        slices = item.scan.slices
        multi = len(slices) > 1
        for start in range(0, len(slices), BATCH):
            chunk = list(range(start, min(start + BATCH, len(slices))))
            todo = [p for p in chunk if (item.id, p) not in known]
            fresh: dict[int, Prediction] = {}
            error = None
            if todo:
                try:
                    preds = predictor.predict_slices([slices[p] for p in todo])
                    fresh = dict(zip(todo, preds, strict=True))
                except Exception as exc:
                    error = _failure(item.name, "prediction", exc)
            for p in chunk:
                pred = known.get((item.id, p)) or fresh.get(p)
                index = slices[p].index if multi else None
                yield BatchRow(
                    item.id,
                    p,
                    str(slices[p].source),
                    index,
                    pred,
                    None if pred is not None else error,
                )


# --------------------------------------------------------------------------------------------
# What the canvas shows
# --------------------------------------------------------------------------------------------


@functools.cache
def _colormap_lut(name: str) -> np.ndarray:
    cmap = matplotlib.colormaps[name]
    return np.clip(np.rint(cmap(np.arange(cmap.N))[:, :3] * 255.0), 0, 255).astype(np.uint8)


def heat_rgb(cam01: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """The CAM coloured as ``render_overlay`` colours it (matplotlib's lookup: index
    ``int(x * N)``, clipped), as uint8 RGB. Computed once per map in the worker, so that the
    GUI thread only blends: moving the opacity slider costs nothing on a 2048² slice."""
    lut = _colormap_lut(colormap)
    n = len(lut)
    cam = np.nan_to_num(np.asarray(cam01, dtype=np.float32), nan=0.0)
    index = np.clip((cam * n).astype(np.int32), 0, n - 1)
    return lut[index]


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
        return np.clip(np.rint(grey * 255.0), 0, 255).astype(np.uint8)
    overlay = render_overlay(grey, cam01, opacity=float(opacity))
    return side_by_side(grey, overlay) if sbs else overlay
