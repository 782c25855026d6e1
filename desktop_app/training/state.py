"""What a training run has told us so far, as plain data (no Qt).

Progress is data, not a widget: :class:`RunProgress` folds the trainer's events into one
object, and the training page only *renders* it. That keeps the rules ("the ETA is the last
one the loop sent", "a resumed run starts with the epochs it already has") in one place that a
test can check without a window, and lets the page be rebuilt from the object at any time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainer.api import (
    BatchEnded,
    BatchSizeChanged,
    EpochEnded,
    EpochStarted,
    FitFailed,
    FitFinished,
    LogMessage,
    PhaseChanged,
    RunFolder,
    RunFolderError,
    RunStarted,
)


def smaller_batch(batch_size: int | None) -> int | None:
    """The batch size worth retrying with after running out of memory, or None when halving
    cannot help any more (the engine itself halves down to 2, BatchNorm's minimum)."""
    if not batch_size or batch_size < 4:
        return None
    return batch_size // 2


def out_of_memory_advice(batch_size: int | None, img_size: int | None) -> str:
    """What to change after an out-of-memory failure, in the order that helps most."""
    size = f"a smaller image size (now {img_size} px)" if img_size else "a smaller image size"
    smaller = smaller_batch(batch_size)
    first = (
        f"Lower the batch size to {smaller}, or choose {size}"
        if smaller
        else (f"Even batch size {batch_size} does not fit. Choose {size}")
    )
    return (
        f"The GPU ran out of memory. {first}, a smaller backbone, close other programs that "
        "use the GPU, or train on the CPU."
    )


@dataclass
class RunProgress:
    """The state of one run (fresh or resumed), updated event by event."""

    run_dir: str = ""
    classes: tuple[str, ...] = ()
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    parameter_table: str = ""
    resumed_from_epoch: int | None = None
    resuming: bool = False  # set by whoever starts a resumed run, before any event
    batch_size: int | None = None  # as training uses it now (the engine may lower it)
    phase: str = "preparing"
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    loss: float = math.nan  # running mean of the epoch in progress
    accuracy: float = math.nan
    images_per_s: float = math.nan
    eta_s: float = math.nan
    lr: float = math.nan
    history: list[dict[str, float]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    batch_changes: list[BatchSizeChanged] = field(default_factory=list)
    finished: FitFinished | None = None
    failed: FitFailed | None = None

    # -- folding events ---------------------------------------------------------------
    def update(self, event: object) -> None:
        """Fold one event in; unknown event types (a newer trainer) are ignored."""
        if isinstance(event, RunStarted):
            self.run_dir = event.run_dir
            self.classes = tuple(event.classes)
            self.counts = dict(event.counts)
            self.config = dict(event.config)
            self.parameter_table = event.parameter_table
            self.resumed_from_epoch = event.resumed_from_epoch
            self.epochs = int(event.config.get("epochs", self.epochs) or 0)
            self.batch_size = event.config.get("batch_size", self.batch_size)
        elif isinstance(event, PhaseChanged):
            self.phase = event.phase
        elif isinstance(event, EpochStarted):
            self.epoch, self.epochs, self.batches = event.epoch, event.epochs, event.batches
            self.batch, self.lr = 0, event.lr
            self.loss = self.accuracy = math.nan
        elif isinstance(event, BatchEnded):
            self.epoch, self.batch, self.batches = event.epoch, event.batch, event.batches
            self.loss, self.accuracy = event.loss, event.accuracy
            self.images_per_s, self.eta_s, self.lr = event.images_per_s, event.eta_s, event.lr
        elif isinstance(event, EpochEnded):
            self.epoch, self.epochs = event.epoch, event.epochs
            # a resumed run may repeat nothing, but never count an epoch twice
            self.history = [h for h in self.history if int(h.get("epoch", -1)) != event.epoch]
            self.history.append(dict(event.metrics, epoch=float(event.epoch)))
            self.history.sort(key=lambda h: h["epoch"])
        elif isinstance(event, BatchSizeChanged):
            self.batch_changes.append(event)
            self.batch_size = event.new
        elif isinstance(event, LogMessage):
            if event.level == "warning":
                self.warnings.append(event.message)
        elif isinstance(event, FitFinished):
            self.finished = event
            if event.history:
                self.history = [dict(h) for h in event.history]
        elif isinstance(event, FitFailed):
            self.failed = event

    def load_history(self, run_dir: str | Path) -> None:
        """Start from the epochs a run folder already holds (resuming: the loop only reports
        the epochs it runs now, but the curves must show the whole run)."""
        history = RunFolder(run_dir).history()
        if history:
            self.history = history

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> RunProgress:
        """A finished run as the training page shows it at its end, read from the folder the
        trainer wrote (its recipe, history and test metrics, through
        :class:`~trainer.train.run_folder.RunFolder`): for looking at a run again, and for
        screenshots of real runs."""
        folder = RunFolder(run_dir)
        path = folder.path
        try:
            config = folder.config().to_dict()  # checked, as every reader of a run folder
        except RunFolderError:
            config = {}
        test = folder.metrics("test")
        progress = cls(run_dir=str(path), config=config)
        progress.load_history(path)
        progress.epochs = int(progress.config.get("epochs") or len(progress.history) or 0)
        progress.epoch = len(progress.history)
        progress.batch_size = progress.config.get("batch_size")
        if test is not None:
            progress.classes = tuple(test.get("classes", ()))
        progress.phase = "done"
        progress.finished = FitFinished(
            str(path),
            False,
            False,
            list(progress.history),
            test,
            str(folder.model_path) if folder.is_finished() else None,
        )
        return progress

    # -- what the page shows ----------------------------------------------------------
    def series(self, key: str) -> tuple[list[float], list[float]]:
        """(epochs, values) of one curve; epochs without the value (no validation) are left
        out rather than drawn as zero."""
        xs, ys = [], []
        for h in self.history:
            v = h.get(key)
            if v is not None and math.isfinite(float(v)):
                xs.append(float(h["epoch"]))
                ys.append(float(v))
        return xs, ys

    @property
    def best_epoch(self) -> int | None:
        best = [h for h in self.history if h.get("is_best") == 1.0]
        return int(best[-1]["epoch"]) if best else None

    @property
    def batch_lowered(self) -> bool:
        """Whether the engine lowered the batch size (after running out of GPU memory):
        the page then says so next to the batch progress."""
        return any(c.new < c.old for c in self.batch_changes)

    @property
    def img_size(self) -> int | None:
        size = self.config.get("img_size")
        return int(size) if size else None

    @property
    def out_of_memory(self) -> bool:
        return self.failed is not None and self.failed.kind == "out_of_memory"

    @property
    def cancelled(self) -> bool:
        return self.finished is not None and self.finished.cancelled


def accuracy_range(values: list[float]) -> tuple[float, float]:
    """The accuracy axis: from a little below the lowest point, in steps of 0.05, to 1. Once a
    model is good the differences that matter lie between 0.95 and 1.0, and an axis from 0
    would draw them as one flat line."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low = math.floor((min(finite) - 0.01) * 20) / 20
    return max(0.0, min(low, 0.95)), 1.0


def loss_gap_note(config: dict[str, Any]) -> str:
    """Why the training loss may sit above the validation loss, from what this recipe does;
    empty when it does none of those things."""
    reasons = []
    smoothing = float(config.get("label_smoothing") or 0.0)
    if smoothing:
        reasons.append(
            f"label smoothing ({smoothing:g}) asks for {1 - smoothing:.0%} rather than 100 % "
            "confidence, so even a perfect answer keeps some loss"
        )
    aug = config.get("augment") or {}
    if aug.get("rotation_deg") or aug.get("shift_fraction") or aug.get("hflip"):
        reasons.append(
            "training images are turned, shifted or mirrored, and so harder than the "
            "validation images, which are shown as they are"
        )
    dropout = float((config.get("head") or {}).get("dropout") or 0.0)
    if dropout:
        reasons.append(
            f"dropout switches off {dropout:.0%} of the head's units while training, never "
            "while validating"
        )
    if not reasons:
        return ""
    return (
        "Why the training loss can sit above the validation loss here: "
        + "; ".join(reasons)
        + ". It is not a sign that something is wrong."
    )


def format_duration(seconds: float) -> str:
    """``1 h 05 min``, ``4 min 10 s``, ``12 s``; ``–`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "–"
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min"
    if m:
        return f"{m} min {s:02d} s"
    return f"{s} s"
