"""What a model file says about its own heat map: which map, and how well it was measured.

``benchmarks/cam_localization.py --record`` writes two metadata fields into a model file:

* ``cam``: the map chosen for the model (a :class:`trainer.cam.spec.MapSpec` as JSON), which
  the viewer, the PDF report and ``brainmri predict --cam-dir`` draw by default;
* ``cam_localization``: that map's measured scores on lesion boxes, per class: how many of
  the boxed slices had the map's peak on the lesion (``hits`` of ``n``), the lift, and on
  what (``boxes``: e.g. "60 validation slices").

The caption under the overlay, the PDF and Help quote these numbers as one sentence per
class (:func:`localization_sentence`), so what the product says about its map is a
measurement tied to the model shown, never an impression; a model without them says so.

Pure Python (no torch): the GUI and the report read it from metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = ["ClassLocalization", "localization_sentence", "read_localization"]


@dataclass(frozen=True)
class ClassLocalization:
    hits: int
    n: int
    lift: float | None
    boxes: str  # what the boxes were, e.g. "validation slices with hand-marked lesion boxes"


def read_localization(meta: dict[str, Any]) -> dict[str, ClassLocalization]:
    """The per-class scores recorded in a model's metadata; {} when absent or malformed."""
    raw = meta.get("cam_localization")
    if not isinstance(raw, dict) or not isinstance(raw.get("classes"), dict):
        return {}
    boxes = raw.get("boxes") if isinstance(raw.get("boxes"), str) else "marked lesions"
    out = {}
    for name, entry in raw["classes"].items():
        if not isinstance(entry, dict):
            continue
        hits, n, lift = entry.get("hits"), entry.get("n"), entry.get("lift")
        if not (_count(hits) and _count(n)) or hits > n or n == 0:
            continue
        lift = float(lift) if isinstance(lift, (int, float)) and lift == lift else None
        out[str(name)] = ClassLocalization(int(hits), int(n), lift, str(boxes)[:200])
    return out


def localization_sentence(meta: dict[str, Any], class_name: str) -> str:
    """One measured sentence about the map for ``class_name``, in plain words."""
    scores = read_localization(meta)
    entry = scores.get(class_name)
    if entry is None:
        if scores:
            return (
                f"This model's map was not measured against marked \u201c{class_name}\u201d "
                "lesions."
            )
        return "This model's map has not been measured against marked lesions."
    return (
        f"Measured on {entry.boxes}: the map's strongest point fell on the lesion in "
        f"{entry.hits} of {entry.n} \u201c{class_name}\u201d slices."
    )


def _count(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
