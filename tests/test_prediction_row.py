"""The one prediction row: its JSON keys are the documented format, and every CSV column of a
row reads back as what the row holds (trainer.prediction_row, trainer.prediction_table)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

from trainer.csv_cells import read_cell
from trainer.prediction_row import Prediction, PredictionRow, PredictionWarning
from trainer.prediction_table import prediction_columns, prediction_csv

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
ROW_KEYS = [
    "kind",
    "path",
    "slice",
    "predicted_class",
    "probabilities",
    "ood",
    "ood_score",
    "warnings",
    "error",
    "cam",
]


def _prediction(**changes: object) -> Prediction:
    base = Prediction(
        "/scans/a.jpg",
        None,
        "glioma",
        {"glioma": 0.412345, "meningioma": 0.3, "notumor": 0.2, "pituitary": 0.087655},
        False,
        1.2345,
        [
            PredictionWarning(PredictionWarning.SMALL_IMAGE, "small image (64×80); the model..."),
            PredictionWarning(PredictionWarning.LOW_CONFIDENCE, "low confidence (top 41%)"),
        ],
    )
    return dataclasses.replace(base, **changes)


ROWS = [
    PredictionRow.of(_prediction(), cam="/cams/a.png"),
    PredictionRow.of(_prediction(path="/scans/s.dcm", slice=3, warnings=[], ood_score=None)),
    PredictionRow.of(
        _prediction(
            path="=HYPERLINK(1).jpg",  # a spreadsheet formula: neutralised in the file, read back
            ood=True,
            warnings=[PredictionWarning(PredictionWarning.OOD, "does not look like ...")],
        )
    ),
    PredictionRow.failed("/scans/broken.png", "not an image (truncated)"),
]


def test_the_json_row_keeps_its_keys_and_their_order() -> None:
    slice_row, error_row = ROWS[0].to_json(), ROWS[-1].to_json()
    assert list(slice_row) == ROW_KEYS and list(error_row) == ROW_KEYS
    assert slice_row["kind"] == "slice" and slice_row["error"] is None
    assert slice_row["cam"] == "/cams/a.png"
    assert slice_row["warnings"] == [
        "small image (64×80); the model...",
        "low confidence (top 41%)",
    ]
    assert error_row == {
        "kind": "error",
        "path": "/scans/broken.png",
        "slice": None,
        "predicted_class": None,
        "probabilities": None,
        "ood": None,
        "ood_score": None,
        "warnings": [],
        "error": "not an image (truncated)",
        "cam": None,
    }
    json.dumps([r.to_json() for r in ROWS], allow_nan=False)  # strict JSON
    # a prediction's own row is the slice row without its kind and its heat-map file
    assert list(_prediction().to_json()) == [k for k in ROW_KEYS if k not in ("kind", "cam")]


def test_a_prediction_comes_back_from_its_json_row() -> None:
    pred = _prediction(slice=2)
    back = Prediction.from_json(pred.to_json())
    # the JSON holds each warning's text; its code is not in the format
    assert back == dataclasses.replace(
        pred, warnings=[PredictionWarning(PredictionWarning.OTHER, w.text) for w in pred.warnings]
    )


def _row_from_csv(record: dict[str, str]) -> PredictionRow:
    """What a reader of the table gets back of a row, column by column."""
    cell = {read_cell(k): read_cell(v) for k, v in record.items()}
    index = int(cell["slice"]) if cell["slice"] else None
    if cell["kind"] == "error":
        return PredictionRow.failed(cell["path"], cell["error"], slice=index)
    # one cell: the texts joined by "; " (a warning's text may hold "; " itself, so it stays one)
    warnings = (
        [PredictionWarning(PredictionWarning.OTHER, cell["warnings"])] if cell["warnings"] else []
    )
    pred = Prediction(
        cell["path"],
        index,
        cell["predicted_class"],
        {c: float(cell[f"p_{c}"]) for c in CLASSES},
        {"True": True, "False": False}[cell["ood"]],
        float(cell["ood_score"]) if cell["ood_score"] else None,
        warnings,
    )
    return PredictionRow.of(pred, cam=cell["cam"] or None)


def test_the_row_round_trips_the_csv_columns() -> None:
    table = prediction_csv([r.to_json() for r in ROWS], CLASSES)
    reader = csv.DictReader(io.StringIO(table))
    assert reader.fieldnames == prediction_columns(CLASSES)
    records = list(reader)
    assert len(records) == len(ROWS)
    for row, record in zip(ROWS, records, strict=True):
        expected = row
        if row.prediction is not None:  # the table holds the warnings' texts, not their codes
            texts = "; ".join(w.text for w in row.prediction.warnings)
            warnings = [PredictionWarning(PredictionWarning.OTHER, texts)] if texts else []
            expected = dataclasses.replace(
                row, prediction=dataclasses.replace(row.prediction, warnings=warnings)
            )
        assert _row_from_csv(record) == expected
        assert record["kind"] == row.kind
    assert records[2]["path"].startswith("'=")  # neutralised for spreadsheets
