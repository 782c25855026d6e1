"""The new model's numbers beside the shipped model's, on the same three lists.

Why: a student who chose "Reproduce the default model" wants to know whether the run got what
the model card reports; anyone else wants to know whether their model is better than the one
the app already has. The shipped model's numbers are read from its own file's metadata (what
its run measured: the float32 weights, one test image better than the shipped float16 copy,
as the model card explains), never typed in here.
"""

from __future__ import annotations

import math
from typing import Any

from desktop_app.training.runs import RunResults
from trainer.api import ModelFileError, default_model_path, read_metadata

# (label, key in the new run's results, key in the shipped model's metadata "metrics")
LISTS = (
    ("test half", "test", "test"),
    ("de-duplicated test list", "dedup", "test_dedup"),
    ("validation (chose the epoch)", "val", "val"),
)


def shipped_metrics() -> dict[str, Any]:
    """The shipped model's recorded metrics; empty when it is absent or unreadable."""
    try:
        metrics = read_metadata(default_model_path()).get("metrics")
    except (ModelFileError, OSError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def accuracy_text(m: dict[str, Any] | None) -> str:
    """``0.994 (95 % interval 0.984–0.998, 656 images)``, three decimals; ``–`` when absent."""
    if not isinstance(m, dict) or not isinstance(m.get("accuracy"), (int, float)):
        return "–"
    text = f"{m['accuracy']:.3f}"
    ci = m.get("accuracy_ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(math.isfinite(v) for v in ci):
        text += f" (95 % interval {ci[0]:.3f}–{ci[1]:.3f}"
        text += f", {m['n']} images)" if m.get("n") else ")"
    elif m.get("n"):
        text += f" ({m['n']} images)"
    return text


def new_metrics(results: RunResults) -> dict[str, dict[str, Any] | None]:
    """The run's test, de-duplicated and validation metrics."""
    return {"test": results.test, "dedup": results.dedup, "val": results.val}


def comparison_rows(results: RunResults, shipped: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(list, this model's accuracy, the shipped model's accuracy), one row per list."""
    ours = new_metrics(results)
    return [
        (label, accuracy_text(ours.get(key)), accuracy_text(shipped.get(shipped_key)))
        for label, key, shipped_key in LISTS
    ]
