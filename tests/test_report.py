"""The one-page PDF report: it exists, holds what a reader needs, and no identifiers by default."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from trainer.config import HeadConfig
from trainer.model_facts import ModelMeta
from trainer.modelfile import base_metadata, validate_metadata
from trainer.prediction_row import Prediction, PredictionWarning
from trainer.report import format_model_line, write_pdf_report

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
PRED = Prediction(
    "scan.jpg",
    None,
    "glioma",
    {"glioma": 0.91, "meningioma": 0.05, "notumor": 0.03, "pituitary": 0.01},
    False,
    0.8,
    [],
)


def model_meta(drop: tuple[str, ...] = (), **fields: Any) -> ModelMeta:
    """A model's checked metadata, as ``Predictor.info`` gives it, with ``fields`` set."""
    meta = base_metadata("efficientnet_b3", CLASSES, 300, HeadConfig(), (0.5,) * 3, (0.25,) * 3)
    meta = {k: v for k, v in {**meta, **fields}.items() if k not in drop}
    return validate_metadata(meta, check_backbone=False)


META = model_meta(
    name="demo-model",
    package_version="0.1.0",
    metrics={"test": {"accuracy": 0.989}},
    temperature=1.3,
)


def pdf_text(path: Path) -> str:
    """The text drawn on the page, from an uncompressed matplotlib PDF (Type 3 fonts).

    matplotlib writes each run of text as a ``[ (R) 44.8 (e) ... ] TJ`` array (kerning
    between the glyphs); joining the string pieces gives the words back. Glyphs outside
    ASCII (the dash, the "fi" ligature) go to a second font and come out as noise, so the
    expected strings below avoid them.
    """
    raw = path.read_bytes().decode("latin-1")
    runs = re.findall(r"\[([^\[\]]*)\]\s*TJ", raw)
    pieces = ["".join(re.findall(r"\(((?:\\.|[^\\)])*)\)", run)) for run in runs]
    return "".join(p.replace("\\(", "(").replace("\\)", ")") for p in pieces)


def write(tmp_path: Path, **kwargs: object) -> Path:
    grey = np.linspace(0, 1, 64 * 80, dtype=np.float32).reshape(64, 80)
    overlay = np.zeros((64, 80, 3), np.uint8)
    overlay[..., 0] = 200
    with matplotlib.rc_context({"pdf.compression": 0}):
        return write_pdf_report(
            tmp_path / "out" / "report.pdf",
            grey,
            overlay,
            PRED,
            META,
            "scan.jpg",
            extra_lines=["CAM method: Grad-CAM, target class: glioma"],
            **kwargs,  # type: ignore[arg-type]
        )


def test_report_holds_the_expected_text(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert path.is_file() and path.read_bytes().startswith(b"%PDF")
    assert path.stat().st_size > 10_000  # the two images are embedded
    text = pdf_text(path)
    for expected in (
        "Brain MRI",
        "Research and education only",
        "not for clinical use",
        "Predicted class: glioma",
        "91.0%",
        "demo-model",
        "net_b3",
        "test accuracy 98.9%",
        "scan.jpg",
        "Heat map",
        "meningioma",
        "Date: ",
    ):
        assert expected in text, expected
    assert text.count("not for clinical use") >= 2  # banner and footer
    assert not list(path.parent.glob(".report.pdf.*"))  # atomic write left no temporary file


def test_identifiers_only_when_asked(tmp_path: Path) -> None:
    ids = {"PatientName": "DOE^JANE", "PatientID": "ID-4711"}
    hidden = pdf_text(write(tmp_path, identifiers=ids))
    assert "DOE^JANE" not in hidden and "ID-4711" not in hidden
    (tmp_path / "out" / "report.pdf").unlink()
    shown = pdf_text(write(tmp_path, identifiers=ids, include_identifiers=True))
    assert "PatientName: DOE^JANE" in shown and "ID-4711" in shown


def test_ood_warning_is_printed(tmp_path: Path) -> None:
    path = write(tmp_path)
    assert "probably not a brain MRI" not in pdf_text(path)
    small = PredictionWarning(PredictionWarning.SMALL_IMAGE, "small image (64x80)")
    pred_ood = dataclasses.replace(PRED, ood=True, ood_score=7.5, warnings=[small])
    with matplotlib.rc_context({"pdf.compression": 0}):
        write_pdf_report(path, np.zeros((8, 8)), None, pred_ood, META, "x.png")
    text = pdf_text(path)
    assert "probably not a brain MRI" in text and "no heat map" in text
    assert "Warning: small image (64x80)" in text


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        (META, "demo-model (efficientnet_b3, test accuracy 98.9%, trained with brainmri 0.1.0)"),
        (model_meta(("package_version",), backbone="b0"), "unnamed model (b0)"),
    ],
)
def test_model_line(meta: ModelMeta, expected: str) -> None:
    assert format_model_line(meta) == expected
