"""A run's per-epoch history on disk: ``history.json``, ``history.csv`` and ``curves.png``.

Written after every epoch (so a stopped run shows its curves) and once more at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from trainer.atomic import write_json, write_text
from trainer.csv_cells import csv_table
from trainer.train.run_folder import RunFolder

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


def write_history(run_dir: str | Path | RunFolder, history: Sequence[dict[str, float]]) -> None:
    """Write the three files (read back by :meth:`RunFolder.history`)."""
    from trainer.train.plots import save_curves

    run = run_dir if isinstance(run_dir, RunFolder) else RunFolder(run_dir)
    hist = [dict(h) for h in history]
    write_json(run.history_path, hist)
    rows = [["" if h.get(k) is None else f"{h[k]:.6g}" for k in COLUMNS] for h in hist]
    write_text(run.history_csv_path, csv_table(COLUMNS, rows))
    save_curves(hist, run.curves_path)
