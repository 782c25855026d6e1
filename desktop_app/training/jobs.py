"""The tab's long jobs other than training, as plain generators (no Qt).

Each one is driven by :class:`desktop_app.workers.QtGeneratorWorker` in the GUI and by a
plain ``for`` loop in tests. Every ``yield`` is a progress report and a point where the GUI
may abandon the job (a new folder chosen, the tab closed).
"""

from __future__ import annotations

import csv
import queue
import threading
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

THUMBNAIL_PX = 112
PREDICTIONS_FILE = "predictions_test.csv"  # path,true,predicted,p_<class>... (path absolute)


# --------------------------------------------------------------------------- data scan


@dataclass(frozen=True)
class SplitSpec:
    """The split the user chose on the data page, in :func:`trainer.data.splits.make_split`'s
    terms. ``method`` is "paper", "fraction" or "files"."""

    method: str = "paper"
    val_fraction: float | None = None
    split_files: Mapping[str, str] = field(default_factory=dict)

    def config_values(self) -> dict[str, Any]:
        """The :class:`~trainer.config.TrainConfig` fields this split sets."""
        if self.method == "files":
            return {"split": "files", "split_files": dict(self.split_files), "val_fraction": None}
        if self.method == "fraction":
            fraction = self.val_fraction or PAPER_FALLBACK_FRACTION
            return {"split": "fraction", "split_files": {}, "val_fraction": fraction}
        return {"split": "paper", "split_files": {}, "val_fraction": None}


PAPER_FALLBACK_FRACTION = 0.15  # check_dataset's (and make_split's) default fraction


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
    # val_fraction None: make_split's default (0.15), which check_dataset falls back to too
    applies = split if _split_applies(index, split) else SplitSpec("fraction")
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


def _split_applies(index: Any, split: SplitSpec) -> bool:
    """The paper split needs a Testing folder (check_dataset falls back to a stratified
    split by itself; training would refuse, so the GUI uses the same fallback)."""
    from trainer.api import TESTING_DIR

    if split.method == "paper" and not split.split_files:
        return index.layout == "train-test" and bool(index.in_folder(TESTING_DIR))
    return True


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


@dataclass(frozen=True)
class _Row:
    path: str
    true: str
    predicted: str
    probabilities: dict[str, float]


def read_predictions_csv(path: str | Path) -> list[_Row]:
    """Rows of ``predictions_test.csv``: ``path,true,predicted,p_<class>...``."""
    from trainer.api import read_cell  # the writer neutralised spreadsheet formulas

    rows = []
    with open(path, newline="", encoding="utf-8") as fh:
        for raw in csv.DictReader(fh):
            r = {read_cell(k): read_cell(v or "") for k, v in raw.items() if k is not None}
            probs = {k[2:]: float(v) for k, v in r.items() if k.startswith("p_") and v != ""}
            rows.append(_Row(r["path"], r["true"], r["predicted"], probs))
    return rows


def _compute_rows(run_dir: Path) -> Generator[PredictionProgress, None, list[_Row]]:
    """Predict the run's test split with its model, when the run folder has no predictions
    file (runs made before the trainer wrote one)."""
    from trainer.api import (
        Predictor,
        UnreadableInputError,
        discover,
        read_grey,
        read_run_config,
        split_for,
    )

    cfg = read_run_config(run_dir)  # checked: a run folder is untrusted input
    if not cfg.data:
        raise FileNotFoundError(f"{run_dir}: trained from a cache; no image files to show")
    index = discover(cfg.data)
    split = split_for(cfg, index)
    predictor = Predictor(run_dir / "model.safetensors", device="cpu")
    classes = predictor.classes
    samples = list(split.test)
    rows: list[_Row] = []
    for start in range(0, len(samples), 16):
        chunk, greys = [], []
        for s in samples[start : start + 16]:
            try:
                greys.append(read_grey(s.path))
                chunk.append(s)
            except UnreadableInputError:
                continue  # training skipped it too
        if greys:
            probs, _ = predictor.predict_arrays(greys)
            for s, p in zip(chunk, probs, strict=True):
                rows.append(
                    _Row(
                        str(s.path),
                        index.classes[s.label],
                        classes[int(np.argmax(p))],
                        {c: float(v) for c, v in zip(classes, p, strict=True)},
                    )
                )
        yield PredictionProgress(min(start + 16, len(samples)), len(samples), "predicting")
    return rows


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

    Reads ``predictions_test.csv`` from the run folder, or predicts the test split with the
    run's model when it is absent. Thumbnails are made here, off the GUI thread, by the same
    reader and square padding as training, so DICOM works like JPEG.
    """
    run_dir = Path(run_dir)
    csv_path = run_dir / PREDICTIONS_FILE
    if csv_path.is_file():
        rows = read_predictions_csv(csv_path)
    else:
        rows = yield from _compute_rows(run_dir)
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
