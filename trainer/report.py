"""A one-page PDF report of one prediction: image, Grad-CAM overlay, probabilities, model.

Qt-free, so the viewer, the CLI and scripts share one report. Drawn with matplotlib's PDF
back end on a bare :class:`~matplotlib.figure.Figure` (no pyplot: no global state, safe in a
worker thread) and written atomically, so a half-written report never lies on disk.

Privacy by default: patient identifiers appear only when the caller passes
``include_identifiers=True`` *and* the identifiers themselves; the source is shown by file
name only (folders often carry patient names). Every report carries the
not-for-clinical-use line twice (banner and footer) and in the PDF's metadata.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import matplotlib.patches
import numpy as np
from matplotlib.figure import Figure

from trainer import NOT_FOR_CLINICAL_USE, __version__
from trainer.atomic import write_bytes
from trainer.names import printable
from trainer.series_call import CLASS, slice_call
from trainer.strip_colours import SeriesStrip

if TYPE_CHECKING:
    from trainer.model_facts import ModelMeta
    from trainer.prediction_row import Prediction

__all__ = ["format_model_line", "write_pdf_report"]

A4_INCHES = (8.27, 11.69)
_Rect = tuple[float, float, float, float]  # left, bottom, width, height, in figure fractions
_WARNING_RED = "#b00020"
_BAR = "#7a8ca3"
_BAR_TOP = "#1f5fa8"


def write_pdf_report(
    path: str | Path,
    grey01: np.ndarray,
    overlay_rgb: np.ndarray | None,
    prediction: Prediction,
    model: ModelMeta,
    source_label: str = "",
    extra_lines: Iterable[str] = (),
    include_identifiers: bool = False,
    identifiers: Mapping[str, str] | None = None,
    created: datetime | None = None,
    series: SeriesStrip | None = None,
) -> Path:
    """Write the report to ``path`` (atomically) and return the path.

    Args:
        grey01: the image as shown, float (H, W) in [0, 1] (or uint8).
        overlay_rgb: the Grad-CAM overlay, uint8 (H, W, 3); None prints "no overlay".
        prediction: the slice's :class:`~trainer.prediction_row.Prediction`.
        model: the model's checked metadata (``Predictor.info``): name, backbone, test
            accuracy, version, calibration, and the measured sentence about its map.
        source_label: what the image is, e.g. "scan.dcm, slice 3 of 20"; keep it free of
            identifiers (the viewer passes the file name, not the folder).
        extra_lines: further facts, one line each (window, CAM method, target class...).
        include_identifiers: print ``identifiers``; ignored (and nothing printed) when False.
        series: for a slice of a series, the series' strip and summary (printed under the
            slice's result, the slice itself marked).
        created: the report's date (default: now, local time).
    """
    created = created or datetime.now().astimezone()
    fig = _build_figure(
        grey01,
        overlay_rgb,
        prediction,
        model,
        source_label,
        list(extra_lines),
        dict(identifiers or {}) if include_identifiers else {},
        created,
        series,
    )
    path = Path(path)
    metadata = {
        "Title": "Brain MRI classification report",
        "Subject": NOT_FOR_CLINICAL_USE,
        "Creator": f"brainmri {__version__}",
        "Keywords": "research, education, not for clinical use",
        "CreationDate": created,
    }
    # Type 3 fonts keep each glyph's character code in the text, so the words stay
    # searchable and the file small; compression is left on for normal use.
    # Drawn in memory, then written by Python: a full disk is then an OSError naming the file
    # (matplotlib's own writer fails with "'Stream' object has no attribute 'pos'").
    buffer = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 3}):
        fig.savefig(buffer, format="pdf", metadata=metadata)
    write_bytes(path, buffer.getvalue())
    return path


def format_model_line(model: ModelMeta) -> str:
    """ "name (backbone, test accuracy 98.9 %, brainmri 0.1.0)" from a model's metadata."""
    parts = [model.backbone]
    if model.test_accuracy is not None:
        parts.append(f"test accuracy {model.test_accuracy:.1%}")
    if model.package_version:
        parts.append(f"trained with brainmri {model.package_version}")
    return f"{model.name or 'unnamed model'} ({', '.join(parts)})"


# --------------------------------------------------------------------------------------------
# Layout
# --------------------------------------------------------------------------------------------


def _build_figure(
    grey01: np.ndarray,
    overlay_rgb: np.ndarray | None,
    pred: Prediction,
    meta: ModelMeta,
    source_label: str,
    extra_lines: list[str],
    identifiers: dict[str, str],
    created: datetime,
    series: SeriesStrip | None = None,
) -> Figure:
    fig = Figure(figsize=A4_INCHES)
    fig.text(0.07, 0.955, "Brain MRI classification report", fontsize=18, weight="bold")
    fig.text(0.07, 0.932, NOT_FOR_CLINICAL_USE, fontsize=11, weight="bold", color=_WARNING_RED)
    fig.text(0.07, 0.912, _one_line(f"Source: {source_label}"), fontsize=9)
    fig.text(0.07, 0.897, f"Date: {created.strftime('%Y-%m-%d %H:%M %Z').strip()}", fontsize=9)

    _image_axes(fig, (0.07, 0.615, 0.41, 0.25), grey01, "Image", cmap="gray")
    if overlay_rgb is not None:
        _image_axes(fig, (0.52, 0.615, 0.41, 0.25), overlay_rgb, "Heat map")
        _legend_axes(fig, (0.56, 0.602, 0.33, 0.007), meta, pred)
    else:
        fig.text(0.725, 0.74, "no heat map", ha="center", fontsize=10, color="0.4")

    _probability_axes(fig, (0.25, 0.40, 0.60, 0.145), pred)
    y = _result_text(fig, 0.365, pred)
    if series is not None:
        y = _series_strip(fig, y - 0.01, series)
    y = _lines(fig, y - 0.01, "Model", [format_model_line(meta), *_model_details(meta)])
    if extra_lines:
        y = _lines(fig, y - 0.01, "Display", extra_lines)
    if identifiers:
        rows = [f"{k}: {v}" for k, v in identifiers.items()]
        _lines(fig, y - 0.01, "Patient identifiers (included at the user's request)", rows)

    fig.text(
        0.5,
        0.035,
        NOT_FOR_CLINICAL_USE,
        ha="center",
        fontsize=10,
        weight="bold",
        color=_WARNING_RED,
    )
    fig.text(
        0.5,
        0.018,
        f"Generated by brainmri {__version__}. The prediction is a statistical "
        "estimate of a research model, not a diagnosis.",
        ha="center",
        fontsize=7,
        color="0.3",
    )
    return fig


def _legend_axes(fig: Figure, rect: _Rect, meta: ModelMeta, pred: Prediction) -> None:
    """The overlay's colour scale (drawn by the overlay's own colouring) and the measured
    sentence about this model's map (trainer.cam.record)."""
    from trainer.cam.overlay import legend_rgba
    from trainer.cam.record import localization_sentence

    ax = fig.add_axes(rect)
    bar = legend_rgba(256, 8).astype(np.float64) / 255.0
    white = np.ones_like(bar[..., :3])
    ax.imshow(white * (1 - bar[..., 3:]) + bar[..., :3] * bar[..., 3:], aspect="auto")
    ax.set_axis_off()
    fig.text(rect[0], rect[1] - 0.011, "weak (not coloured)", fontsize=6.5, color="0.3")
    fig.text(rect[0] + rect[2], rect[1] - 0.011, "strongest", fontsize=6.5, color="0.3", ha="right")
    target = pred.predicted_class
    if target:
        fig.text(
            rect[0] + rect[2] / 2,
            rect[1] - 0.017,
            _wrap(localization_sentence(meta.raw, target), 70),
            fontsize=6.5,
            color="0.3",
            ha="center",
            va="top",
        )


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _image_axes(
    fig: Figure, rect: _Rect, image: np.ndarray, title: str, cmap: str | None = None
) -> None:
    ax = fig.add_axes(rect)
    arr = np.asarray(image)
    if cmap and arr.dtype != np.uint8:
        ax.imshow(np.clip(arr, 0.0, 1.0), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="lanczos")
    else:
        ax.imshow(arr, cmap=cmap, interpolation="lanczos")
    ax.set_title(title, fontsize=10)
    ax.set_axis_off()


def _probability_axes(fig: Figure, rect: _Rect, pred: Prediction) -> None:
    probs = pred.probabilities
    ax = fig.add_axes(rect)
    classes = list(probs)
    values = [float(probs[c]) for c in classes]
    top = pred.predicted_class
    colors = [_BAR_TOP if c == top else _BAR for c in classes]
    ypos = np.arange(len(classes))[::-1]
    ax.barh(ypos, values, color=colors, height=0.6)
    ax.set_yticks(ypos, labels=[_one_line(c, 40) for c in classes], fontsize=9)
    ax.set_xlim(0, 1)
    ax.set_xticks(
        [0, 0.25, 0.5, 0.75, 1.0], labels=["0 %", "25 %", "50 %", "75 %", "100 %"], fontsize=8
    )
    for yy, v in zip(ypos, values, strict=True):
        ax.text(min(v + 0.01, 0.88), yy, f"{v:.1%}", va="center", fontsize=8)
    ax.set_title("Calibrated class probabilities", fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _result_text(fig: Figure, y: float, pred: Prediction) -> float:
    # the state first, as on screen (trainer.series_call): no class leads when the slice is
    # unsure or does not look like a brain MRI
    call = slice_call(pred)
    heading = "Predicted class" if call.state == CLASS else "Result"
    shown = call.headline() if call.top_class is not None else "—"
    fig.text(0.07, y, _one_line(f"{heading}: {shown}", 80), fontsize=12, weight="bold")
    y -= 0.022
    if pred.ood:
        score = pred.ood_score
        extra = f" (score {score:.2f})" if score is not None else ""
        fig.text(
            0.07,
            y,
            f"WARNING: probably not a brain MRI{extra}; the probabilities are meaningless for it.",
            fontsize=9,
            weight="bold",
            color=_WARNING_RED,
        )
        y -= 0.018
    for warning in pred.warnings:
        fig.text(0.07, y, _one_line(f"Warning: {warning.text}"), fontsize=8, color=_WARNING_RED)
        y -= 0.016
    return y


def _series_strip(fig: Figure, y: float, series: SeriesStrip) -> float:
    """The series: its title and summary, and one cell per slice coloured as in the viewer
    (unsure grey, not like a brain MRI crossed out), the slice of this report outlined."""
    fig.text(0.07, y, _one_line(f"Series: {series.title}"), fontsize=10, weight="bold")
    y -= 0.017
    fig.text(0.07, y, _one_line(series.summary), fontsize=9)
    y -= 0.03
    n = max(1, len(series.calls))
    ax = fig.add_axes((0.07, y, 0.86, 0.022))
    ax.imshow(series.rgb(), aspect="auto", interpolation="nearest", extent=(0, n, 0, 1))
    for k in series.not_mri():
        ax.plot([k + 0.15, k + 0.85], [0.15, 0.85], color="white", linewidth=0.8)
        ax.plot([k + 0.15, k + 0.85], [0.85, 0.15], color="white", linewidth=0.8)
    ax.add_patch(
        matplotlib.patches.Rectangle(
            (series.current, 0), 1, 1, fill=False, edgecolor="black", linewidth=1.5
        )
    )
    ax.set_xlim(0, n)
    ax.set_ylim(0, 1)
    ax.set_axis_off()
    y -= 0.014
    legend = ", ".join(series.classes)
    fig.text(
        0.07,
        y,
        _one_line(
            f"Slices 1–{len(series.calls)}, left to right; colour: class ({legend}), "
            "stronger = more probable; grey: unsure; crossed: not like a brain MRI; "
            f"outlined: slice {series.current + 1}"
        ),
        fontsize=7,
        color="0.3",
    )
    return y - 0.012


def _model_details(meta: ModelMeta) -> list[str]:
    lines = []
    if meta.created:
        lines.append(f"Model created {meta.created}")
    lines.append(f"Calibration temperature {meta.temperature:.3f}; input {meta.input_size} px")
    lines.append(f"Report written by brainmri {__version__}")
    return lines


def _lines(fig: Figure, y: float, heading: str, lines: Iterable[str]) -> float:
    fig.text(0.07, y, heading, fontsize=10, weight="bold")
    y -= 0.018
    for line in lines:
        fig.text(0.09, y, _one_line(line), fontsize=8.5)
        y -= 0.015
    return y


def _one_line(text: str, width: int = 110) -> str:
    """``text`` as one line that fits the page: names are the user's (a file may be called
    anything), so a newline in one must not draw over another line (the not-for-clinical-use
    line above all), a 250-character one must not run off the page, and a byte that is not
    UTF-8 must not stop the report. Control characters are shown as escapes
    (:func:`trainer.names.printable`); the middle of a long line gives way to "…"."""
    text = printable(text)
    if len(text) <= width:
        return text
    head = width * 3 // 5
    return f"{text[:head]}…{text[len(text) - (width - head - 1) :]}"
