"""Predictions as a CSV table: one definition of its columns for every face that writes one.

``brainmri predict --csv`` and the viewer's "Export table" write the same columns, so a table
from either opens in the same spreadsheet or script. Rows are the dicts of
``brainmri predict --json`` (:meth:`trainer.prediction_row.PredictionRow.to_json`, which the
viewer's table builds too); a key a face does not have (the viewer makes no Grad-CAM files)
is left empty.

Series rows (``"kind": "series"``, after the slice rows of each DICOM series) fill the columns
after ``cam``: the call (a class, "unsure" or "not like a brain MRI", the words of
:mod:`trainer.series_call`), its summary, the series title, the slice count, the unsure and
not-MRI counts, and per class the slices called it and its strongest slice. A slice row has
its own call in ``call``, so that a table says "unsure" where the viewer does. Cells that a
spreadsheet would run as a formula are neutralised (:mod:`trainer.csv_cells`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from trainer.csv_cells import csv_table
from trainer.series_call import NOT_MRI, NOT_MRI_TEXT, slice_call


def prediction_columns(classes: Iterable[str]) -> list[str]:
    """The header row: one probability column per class, in the model's order."""
    return [
        "path",
        "slice",
        "predicted_class",
        *[f"p_{c}" for c in classes],
        "ood",
        "ood_score",
        "warnings",
        "error",
        "cam",
        "kind",
        "call",
        "summary",
        "series",
        "slices",
        "unsure",
        "not_mri",
        *[f"n_{c}" for c in classes],
        *[f"strongest_{c}" for c in classes],
    ]


def prediction_csv(
    rows: Iterable[dict[str, Any]], classes: list[str], *, note: str | None = None
) -> str:
    """The table as text; ``note`` becomes a first ``# ...`` line (the viewer's export says
    there that the numbers are not for clinical use; the CLI's table stays header-first for
    scripts)."""
    rows_out = []
    for r in rows:
        probs = r.get("probabilities") or {}
        score = r.get("ood_score")
        rows_out.append(
            [
                r["path"],
                "" if r.get("slice") is None else r["slice"],
                r.get("predicted_class") or "",
                *["" if probs.get(c) is None else probs[c] for c in classes],
                "" if r.get("ood") is None else r["ood"],
                "" if score is None else f"{score:.4f}",
                "; ".join(r.get("warnings") or []),
                r.get("error") or "",
                r.get("cam") or "",
                *_reading(r, classes),
            ]
        )
    # every text cell through the formula rule: paths and class names are not ours to trust
    table = csv_table(prediction_columns(classes), rows_out)
    return f"# {note}\n{table}" if note else table


def _reading(r: dict[str, Any], classes: list[str]) -> list[Any]:
    """The cells after ``cam``: the call of a slice row, the whole summary of a series row."""
    kind = r.get("kind") or ("error" if r.get("error") else "slice")
    if kind != "series":
        call = slice_call(r).label if r.get("probabilities") else ""
        return [kind, call, *[""] * (5 + 2 * len(classes))]
    verdict = r.get("call") or {}
    state = verdict.get("state")
    call = verdict.get("predicted_class") or (NOT_MRI_TEXT if state == NOT_MRI else state) or ""
    counts = r.get("counts") or {}
    strongest = r.get("strongest") or {}
    return [
        kind,
        call,
        verdict.get("summary") or "",
        r.get("series") or "",
        r.get("slices", ""),
        r.get("unsure", ""),
        r.get("not_mri", ""),
        *[counts.get(c, "") for c in classes],
        *[(strongest.get(c) or {}).get("slice", "") for c in classes],
    ]
