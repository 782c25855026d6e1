"""Writing what the viewer shows: overlay PNG, PDF report, batch CSV; reading identifiers.

Qt-free, and every writer is atomic (``trainer.atomic``): a crash or a full disk never leaves a
half-written file that looks like a finished one.

Privacy: nothing here reads identifying DICOM attributes except :func:`identifiers_for`, which
the viewer calls only after the user ticked "Show patient identifiers"; the PDF gets them only
when the user says yes once more at export time.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import atomic_path, prediction_csv, write_text

__all__ = [
    "csv_text",
    "identifiers_for",
    "read_identifiers",
    "save_png",
    "write_csv",
    "write_report",
]


def save_png(path: str | Path, image: np.ndarray) -> Path:
    """uint8 grey or RGB -> PNG, atomically. No metadata chunks: nothing but the pixels."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")
    return path


def csv_text(rows: Iterable[dict[str, Any]], classes: list[str]) -> str:
    """The CLI's table (``brainmri predict --csv``) after one comment line saying what the
    numbers are not for; rows are ``BatchRow.to_json()`` dicts."""
    return prediction_csv(rows, classes, note=NOT_FOR_CLINICAL_USE)


def write_csv(path: str | Path, rows: Iterable[dict[str, Any]], classes: list[str]) -> Path:
    write_text(path, csv_text(rows, classes))
    return Path(path)


def identifiers_for(path: str | Path) -> dict[str, str]:
    """The identifying attributes of one DICOM file (header only), label -> text.

    Only for display at the user's explicit request; {} for files that are not DICOM.
    """
    from trainer.api import UnreadableInputError, display_metadata, read_header

    try:
        ds = read_header(Path(path))  # the guarded reader: a hostile file is just "nothing"
    except UnreadableInputError:
        return {}
    everything = display_metadata(ds, include_identifiers=True)
    safe = display_metadata(ds, include_identifiers=False)
    return {k: v for k, v in everything.items() if k not in safe}


def read_identifiers(item_id: int, path: Path) -> Generator[None, None, tuple[int, dict[str, str]]]:
    """Worker body for :func:`identifiers_for` (header reads can be slow on network drives)."""
    yield None
    return item_id, identifiers_for(path)


def write_report(path: Path, **report: Any) -> Generator[None, None, Path]:
    """Worker body for :func:`trainer.report.write_pdf_report` (matplotlib takes a second)."""
    from trainer.api import write_pdf_report

    yield None
    return write_pdf_report(path, **report)
