"""A run's per-epoch history on disk: ``history.json``, ``history.csv`` and ``curves.png``.

Written after every epoch (so a stopped run shows its curves) and once more at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainer.atomic import write_json, write_text
from trainer.csv_cells import csv_table

COLUMNS = (
    "epoch",
    "loss",
    "accuracy",
    "val_loss",
    "val_accuracy",
    "reg_loss",
    "lr",
    "time_s",
    "images_per_s",
    "is_best",
)


def write_history(run_dir: Path, history: Sequence[dict[str, float]]) -> None:
    from trainer.plots import save_curves

    hist = [dict(h) for h in history]
    write_json(run_dir / "history.json", hist)
    rows = [["" if h.get(k) is None else f"{h[k]:.6g}" for k in COLUMNS] for h in hist]
    write_text(run_dir / "history.csv", csv_table(COLUMNS, rows))
    save_curves(hist, run_dir / "curves.png")
