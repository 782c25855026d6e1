"""The tab's long jobs other than training, as plain generators (no Qt).

Each one is driven by :class:`desktop_app.workers.QtGeneratorWorker` in the GUI and by a
plain ``for`` loop in tests. Every ``yield`` is a progress report and a point where the GUI
may abandon the job (a new folder chosen, the tab closed).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.api import SplitSpec

if TYPE_CHECKING:
    from trainer.api import RunPrediction

THUMBNAIL_PX = 112


# --------------------------------------------------------------------------- data scan


@dataclass(frozen=True)
class SplitPreview:
    """Counts per split and class, known in a moment (no file opened): shown while the slow
    check reads every file. ``split`` is the split that applies: the paper's needs a Testing
    folder, and without one a stratified fraction is used, as ``check_dataset`` does."""

    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    layout: str
    files: int
    split: SplitSpec = field(default_factory=SplitSpec)

    @property
    def paper_split_impossible(self) -> bool:
        return self.split.method == "fraction" and self.split.val_fraction is None


@dataclass(frozen=True)
class ScanProgress:
    done: int
    total: int


class _Abandoned(Exception):
    """Raised inside the check's progress callback once nobody waits for the result."""


def scan_dataset(root: str | Path, split: SplitSpec) -> Generator[Any, None, Any]:
    """Yield a :class:`SplitPreview`, then :class:`ScanProgress` while every file is opened
    and hashed; return the :class:`trainer.data.checks.DataReport`.

    :func:`~trainer.data.checks.check_dataset` reports progress through a callback, from the
    thread that calls it, so it runs in a helper thread here and its progress comes back
    through a queue: that turns a callback API into the generator a worker can drive. When the
    generator is closed early the callback raises, so the check stops soon after.
    """
    from trainer.api import check_dataset, discover, make_split

    index = discover(root)
    # the paper split needs a Testing folder: without one, check_dataset falls back to a
    # stratified split of the default fraction, and so does training from this page
    applies = split.applied_to(index)
    preview_split = make_split(
        index,
        applies.method if applies.method != "files" else "paper",
        split_files=dict(applies.split_files) or None,
        val_fraction=applies.val_fraction,
    )
    yield SplitPreview(
        index.classes,
        preview_split.counts(index.classes),
        index.layout,
        len(index.samples),
        applies,
    )

    updates: queue.Queue[tuple[str, Any]] = queue.Queue()
    abandoned = threading.Event()

    def progress(done: int, total: int) -> None:
        if abandoned.is_set():
            raise _Abandoned
        updates.put(("progress", (done, total)))

    def run() -> None:
        try:
            report = check_dataset(
                root,
                split_method=split.method if split.method != "files" else "paper",
                split_files=dict(split.split_files) or None,
                val_fraction=split.val_fraction,
                progress=progress,
            )
            updates.put(("done", report))
        except BaseException as exc:  # handed to the generator, which re-raises it
            updates.put(("error", exc))

    thread = threading.Thread(target=run, name="brainmri-data-check", daemon=True)
    thread.start()
    last = (-1, -1)
    try:
        while True:
            try:
                kind, value = updates.get(timeout=0.1)
            except queue.Empty:
                yield ScanProgress(*last) if last[1] >= 0 else ScanProgress(0, len(index.samples))
                continue
            if kind == "progress":
                # drain: one report per poll is enough for a progress bar
                while not updates.empty() and updates.queue[0][0] == "progress":
                    value = updates.get()[1]
                last = value
                yield ScanProgress(*value)
            elif kind == "error":
                raise value
            else:
                return value
    finally:
        abandoned.set()


# --------------------------------------------------------------------------- misclassified


@dataclass(frozen=True)
class Misclassified:
    """One test image the model got wrong, with a small square thumbnail (uint8)."""

    path: str
    true: str
    predicted: str
    confidence: float  # probability of the predicted class
    probabilities: dict[str, float]
    thumbnail: np.ndarray | None


@dataclass(frozen=True)
class PredictionProgress:
    done: int
    total: int
    message: str = ""


def _predict_test_split(
    run_dir: Path,
) -> Generator[PredictionProgress, None, list[RunPrediction]]:
    """Predict the run's test split with its model file, when the run folder has no
    predictions file (runs made before the trainer wrote one): the trainer's one evaluation
    pipeline, so the rows are those the trainer writes (:class:`trainer.api.RunPrediction`).
    A file that cannot be read is left out, as training left it out."""
    from trainer.api import RunFolder, evaluate_run_steps

    cfg = RunFolder(run_dir).config()  # checked: a run folder is untrusted input
    if not cfg.data:
        raise FileNotFoundError(f"{run_dir}: trained from a cache; no image files to show")
    steps = evaluate_run_steps(run_dir, "test", device="cpu", batch_size=16, report_every=1)
    try:
        while True:
            try:
                step = next(steps)
            except StopIteration as stop:
                result = stop.value
                break
            yield PredictionProgress(step.done, step.total, "predicting")
    finally:
        steps.close()  # abandoned: stop reading the files
    return [r for r in result.prediction_rows() if not r.failed]


def thumbnail(path: str | Path, px: int = THUMBNAIL_PX) -> np.ndarray | None:
    """A uint8 square of the image as the model sees it (grey, padded, resized), made by the
    training's own reader so DICOM works like JPEG; None when the file cannot be read (it may
    have moved since it was listed)."""
    from trainer.api import UnreadableInputError, read_grey, to_model_square

    try:
        return to_model_square(read_grey(path), px)
    except (UnreadableInputError, OSError):
        return None


def misclassified_images(
    run_dir: str | Path, thumbnail_px: int = THUMBNAIL_PX
) -> Generator[PredictionProgress | Misclassified, None, dict[str, int]]:
    """Yield every misclassified test image of a finished run with its thumbnail; return
    ``{"test_images": n, "misclassified": k}``.

    Reads the run folder's predictions file (:meth:`trainer.api.RunFolder.predictions`), or
    predicts the test split with the run's model when it is absent. Thumbnails are made here,
    off the GUI thread, by the same reader and square padding as training, so DICOM works like
    JPEG.
    """
    from trainer.api import RunFolder

    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    if folder.has_predictions():
        rows = folder.predictions()
    else:
        rows = yield from _predict_test_split(run_dir)
    wrong = [r for r in rows if r.true != r.predicted]
    for i, r in enumerate(wrong):
        thumb = thumbnail(r.path, thumbnail_px)  # None: the file moved since; still list it
        yield Misclassified(
            r.path,
            r.true,
            r.predicted,
            float(r.probabilities.get(r.predicted, float("nan"))),
            dict(r.probabilities),
            thumb,
        )
        yield PredictionProgress(i + 1, len(wrong), "thumbnails")
    return {"test_images": len(rows), "misclassified": len(wrong)}
