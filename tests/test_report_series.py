"""The PDF report of a series slice: the strip and the summary, and the same "unsure" and
"not like a brain MRI" states as the viewer."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import matplotlib
import numpy as np
from test_report import META, PRED, pdf_text

from trainer.prediction_row import Prediction
from trainer.report import write_pdf_report
from trainer.series_call import series_call, slice_call
from trainer.strip_colours import PENDING, SeriesStrip, cell_colour

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")


def _report(path: Path, pred: Prediction, series: SeriesStrip | None = None) -> str:
    with matplotlib.rc_context({"pdf.compression": 0}):
        write_pdf_report(path, np.zeros((8, 8)), None, pred, META, "series", series=series)
    return pdf_text(path)


def test_a_series_report_carries_the_strip_and_the_summary(tmp_path: Path) -> None:
    ood = dataclasses.replace(PRED, ood=True)
    preds = [PRED, PRED, ood, None]
    calls = tuple(slice_call(p) if p is not None else None for p in preds)
    summary = series_call([p for p in preds if p is not None], list(CLASSES)).summary
    strip = SeriesStrip("MR series 4 (4 slices)", summary, calls, CLASSES, current=1)
    assert strip.rgb().shape == (1, 4, 3)
    assert tuple(strip.rgb()[0, 3]) == PENDING and strip.not_mri() == [2]
    assert tuple(strip.rgb()[0, 0]) == cell_colour(calls[0], CLASSES)
    text = _report(tmp_path / "r.pdf", PRED, strip)
    assert "Series: MR series 4" in text
    assert "glioma on 2 of 3 slices" in text
    assert "outlined: slice 2" in text


def test_the_report_leads_with_the_state_not_the_class(tmp_path: Path) -> None:
    text = _report(tmp_path / "ood.pdf", dataclasses.replace(PRED, ood=True))
    assert "Result: Not like a brain MRI" in text and "Predicted class" not in text
    unsure = dataclasses.replace(
        PRED, probabilities={"glioma": 0.4, "meningioma": 0.3, "notumor": 0.2, "pituitary": 0.1}
    )
    text = _report(tmp_path / "unsure.pdf", unsure)
    assert "Result: Unsure (glioma 40.0% at most)" in text
    assert "Predicted class: glioma 91.0%" in _report(tmp_path / "sure.pdf", PRED)
