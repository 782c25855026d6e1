"""Predictions as a CSV table: one definition of its columns for every face that writes one.

``brainmri predict --csv`` and the viewer's "Export table" write the same columns, so a table
from either opens in the same spreadsheet or script. Rows are the dicts of
``brainmri predict --json`` (:meth:`trainer.predict.BatchRow.to_json` in the viewer); a key a
face does not have (the viewer makes no Grad-CAM files) is left empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any


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
    ]


def prediction_csv(
    rows: Iterable[dict[str, Any]], classes: list[str], *, note: str | None = None
) -> str:
    """The table as text; ``note`` becomes a first ``# ...`` line (the viewer's export says
    there that the numbers are not for clinical use; the CLI's table stays header-first for
    scripts)."""
    buf = io.StringIO()
    if note:
        buf.write(f"# {note}\n")
    writer = csv.writer(buf)
    writer.writerow(prediction_columns(classes))
    for r in rows:
        probs = r.get("probabilities") or {}
        score = r.get("ood_score")
        writer.writerow(
            [
                r["path"],
                "" if r.get("slice") is None else r["slice"],
                r.get("predicted_class") or "",
                *[probs.get(c, "") for c in classes],
                "" if r.get("ood") is None else r["ood"],
                "" if score is None else f"{score:.4f}",
                "; ".join(r.get("warnings") or []),
                r.get("error") or "",
                r.get("cam") or "",
            ]
        )
    return buf.getvalue()
