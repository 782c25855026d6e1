"""What a prediction says, as values: a slice's :class:`Prediction`, its typed warnings, the
one output row (:class:`PredictionRow`) that every face writes, and a test image of an
evaluated split (:class:`RunPrediction`).

``brainmri predict --json``/``--jsonl``/``--csv`` and the viewer's "Export table" build their
slice and error rows here, so a row has one set of keys (the stable format documented in
:mod:`trainer.cli.predict`) and one set of CSV columns (:mod:`trainer.prediction_table`).

A warning is a ``(code, text)`` pair (:class:`PredictionWarning`): the text is what people read
(the JSON and the CSV hold the text alone, as before); the code is what code reads, so that a
face that shows the out-of-distribution warning in its own words hides that one by its code,
never by matching words.

Plain Python, no NumPy: the viewer and the report read these without the inference engine.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, ClassVar

__all__ = ["FAILED", "Prediction", "PredictionRow", "PredictionWarning", "RunPrediction"]

FAILED = "failed"  # the "predicted" cell of a test image that could not be read


@dataclass(frozen=True)
class PredictionWarning:
    """One warning about one prediction: ``code`` for code, ``text`` for people."""

    code: str
    text: str

    #: Codes (:attr:`code`). The image does not look like the model's training data.
    OOD: ClassVar[str] = "ood"
    #: The image is much smaller than the model's input.
    SMALL_IMAGE: ClassVar[str] = "small_image"
    #: A DICOM modality other than MR.
    MODALITY: ClassVar[str] = "modality"
    #: The top calibrated probability is low (:data:`trainer.series_call.LOW_CONFIDENCE`).
    LOW_CONFIDENCE: ClassVar[str] = "low_confidence"
    #: A warning read back from its text (a JSON row), whose code the text does not carry.
    OTHER: ClassVar[str] = "other"

    def __str__(self) -> str:
        return self.text


@dataclass
class Prediction:
    """One slice's result. Its row in the outputs is :meth:`PredictionRow.of` (``to_json()``:
    that row without ``kind`` and ``cam``)."""

    path: str
    slice: int | None
    predicted_class: str
    probabilities: dict[str, float]
    ood: bool
    ood_score: float | None
    warnings: list[PredictionWarning] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        row = PredictionRow.of(self).to_json()
        del row["kind"], row["cam"]
        return row

    @classmethod
    def from_json(cls, row: Mapping[str, Any]) -> Prediction:
        """A prediction from its JSON row (or a part of one: absent keys are empty). The JSON
        holds each warning's text alone: they come back with the code
        :attr:`PredictionWarning.OTHER`."""
        score = row.get("ood_score")
        return cls(
            str(row.get("path") or ""),
            row.get("slice"),
            str(row.get("predicted_class") or ""),
            {str(k): float(v) for k, v in (row.get("probabilities") or {}).items()},
            bool(row.get("ood")),
            None if score is None else float(score),
            [PredictionWarning(PredictionWarning.OTHER, str(w)) for w in row.get("warnings") or []],
        )


@dataclass(frozen=True)
class PredictionRow:
    """One row of every prediction output: a slice's prediction, or an input that failed.

    ``slice`` is the frame or series position of a multi-slice input, None for a single image
    (a face may number slices differently from :attr:`Prediction.slice`); ``cam`` is the
    heat-map file written for the slice (``brainmri predict --cam-dir``), if any.
    """

    path: str
    slice: int | None = None
    prediction: Prediction | None = None
    error: str | None = None
    cam: str | None = None

    SLICE: ClassVar[str] = "slice"
    ERROR: ClassVar[str] = "error"

    @classmethod
    def of(cls, prediction: Prediction, *, cam: str | None = None) -> PredictionRow:
        """The row of a prediction, at its own path and slice."""
        return cls(prediction.path, prediction.slice, prediction, None, cam)

    @classmethod
    def failed(cls, path: str, reason: str, *, slice: int | None = None) -> PredictionRow:
        """The row of an input (or a slice) that could not be classified, and why."""
        return cls(path, slice, None, reason)

    @property
    def kind(self) -> str:
        return self.SLICE if self.prediction is not None else self.ERROR

    def to_json(self) -> dict[str, Any]:
        """The row as ``brainmri predict --json`` writes it; the keys and their order are a
        documented format (:mod:`trainer.cli.predict`)."""
        p = self.prediction
        return {
            "kind": self.kind,
            "path": self.path,
            "slice": self.slice,
            "predicted_class": None if p is None else p.predicted_class,
            "probabilities": None if p is None else dict(p.probabilities),
            "ood": None if p is None else p.ood,
            "ood_score": None if p is None else p.ood_score,
            "warnings": [] if p is None else [w.text for w in p.warnings],
            "error": self.error if p is None else None,
            "cam": self.cam,
        }


@dataclass(frozen=True)
class RunPrediction:
    """One test image of an evaluated split, as a run's predictions file holds it
    (:mod:`trainer.train.run_folder` writes and reads that file): its path as written where
    the run was trained (absolute), its true and predicted class (:data:`FAILED` when it could
    not be read, with the reason in ``error``) and the calibrated probability of each class.

    Here, not beside the file's reader, because :mod:`trainer.evaluation` makes these rows
    (:meth:`~trainer.evaluation.EvalResult.prediction_rows`) and is shared with inference,
    which never imports the training package."""

    path: str
    true: str
    predicted: str
    probabilities: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def failed(self) -> bool:
        return self.predicted == FAILED

    def relative_to(self, data_root: str | Path) -> str | None:
        """The image's path inside ``data_root`` (the data folder the run was trained on),
        or None when it lies elsewhere. Pure text: the file need not exist here."""
        for flavour in (PurePosixPath, PureWindowsPath):  # written on either kind of system
            with contextlib.suppress(ValueError):
                return flavour(self.path).relative_to(flavour(str(data_root))).as_posix()
        return None

    def moved_to(self, old_root: str | Path, new_root: str | Path) -> RunPrediction:
        """This row with its path under ``new_root`` instead of ``old_root`` (a run folder
        and its data set moved together, or read on another computer); unchanged when the
        path is not under ``old_root``."""
        rel = self.relative_to(old_root)
        if rel is None:
            return self
        return dataclasses.replace(self, path=str(Path(new_root) / rel))
