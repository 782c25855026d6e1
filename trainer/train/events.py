"""What the training loop tells the world, as small frozen dataclasses.

``fit()`` is a generator of these events: the CLI drives it with a progress bar, the GUI with
a worker that turns each event into a Qt signal. One loop, two faces; neither face is imported
here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


class CancelToken:
    """Thread-safe "please stop": the loop checks it after every batch and then saves a
    resumable state before it returns. Safe to set from a signal handler or the GUI thread."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


@dataclass(frozen=True)
class PhaseChanged:
    phase: str  # "preparing", "training", "evaluating", "calibrating", "saving", "done"
    message: str = ""


@dataclass(frozen=True)
class LogMessage:
    message: str
    level: str = "info"  # "info" or "warning"


@dataclass(frozen=True)
class RunStarted:
    run_dir: str
    classes: tuple[str, ...]
    counts: dict[str, dict[str, int]]
    parameter_table: str
    config: dict[str, Any]
    resumed_from_epoch: int | None = None


@dataclass(frozen=True)
class EpochStarted:
    epoch: int  # 1-based
    epochs: int
    batches: int
    lr: float


@dataclass(frozen=True)
class BatchEnded:
    epoch: int
    batch: int  # 1-based
    batches: int
    loss: float  # running mean over the epoch so far
    accuracy: float
    images_per_s: float
    eta_s: float  # whole run
    lr: float


@dataclass(frozen=True)
class EpochEnded:
    epoch: int
    epochs: int
    metrics: dict[str, float]  # loss, accuracy, val_loss, val_accuracy, lr, time_s, ...
    is_best: bool


@dataclass(frozen=True)
class BatchSizeChanged:
    """The engine changed the batch size mid-run (after running out of memory it halves it
    and restarts the epoch from the current weights)."""

    old: int
    new: int
    epoch: int
    reason: str = "out_of_memory"


@dataclass(frozen=True)
class FileSkipped:
    """A data file left out of the run (unreadable up front, or broken while decoding);
    ``rel`` is its path relative to the data folder."""

    rel: str
    reason: str


@dataclass(frozen=True)
class FitFinished:
    run_dir: str
    cancelled: bool
    stopped_early: bool
    history: list[dict[str, float]] = field(default_factory=list)
    test_metrics: dict[str, Any] | None = None
    model_path: str | None = None


@dataclass(frozen=True)
class FitFailed:
    run_dir: str
    error: str
    traceback: str
    # "error" | "out_of_memory" | "weights_unavailable" | "data" | "run_exists"
    kind: str = "error"


Event = (
    PhaseChanged
    | LogMessage
    | RunStarted
    | EpochStarted
    | BatchEnded
    | EpochEnded
    | BatchSizeChanged
    | FileSkipped
    | FitFinished
    | FitFailed
)
