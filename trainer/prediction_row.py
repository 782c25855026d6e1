"""What a prediction says, as values: a slice's :class:`Prediction`, its typed warnings, and the
one output row (:class:`PredictionRow`) that every face writes.

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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = ["Prediction", "PredictionRow", "PredictionWarning"]


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
