"""What a slice says and what a series says: the one reading of the model's output.

A clinician reads a series, not a slice, and a model's answer has three states that every face
(the viewer's panel, the image corner, the item list, the slice strip, the PDF report, the
CSV table and ``brainmri predict``) must show alike:

* **not like a brain MRI** — the out-of-distribution check fired: the class probabilities mean
  nothing for this image, so no class is named first;
* **unsure** — the top calibrated probability is below :data:`LOW_CONFIDENCE` (0.6): the class
  is shown only as "at most";
* **a class** — otherwise, with its calibrated probability.

The series rule (:func:`series_call`), from the calls of its slices:

1. If most slices (more than half) do not look like a brain MRI, or none does, the series is
   **not like a brain MRI**.
2. A class is *found* when at least :data:`MIN_SLICES` slices (one when the series has at most
   two slices that look like a brain MRI) are confidently called that class. Tumours are seen
   on some slices only, so a tumour class found on 3 of 24 slices outweighs "no tumour" on the
   other 21: the "no finding" class (:data:`NO_FINDING`, when the model has it) is considered
   only when no other class is found.
3. Of the found classes, the one on the most slices is the call — unless the runner-up is on
   at least half as many slices: then the slices **disagree** and the series is **unsure**
   (e.g. glioma on 5 slices, meningioma on 4).
4. With no tumour class found, the series is "no finding" when that class is called on more
   than half of the slices that look like a brain MRI; otherwise **unsure**.

The strongest slice of each class is the slice, among those that look like a brain MRI, with the
highest probability of that class. This is a reading aid for research and teaching, not a
diagnostic rule, and it has not been validated on clinical series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CLASS",
    "LOW_CONFIDENCE",
    "MIN_SLICES",
    "NOT_MRI",
    "NOT_MRI_TEXT",
    "NO_FINDING",
    "UNSURE",
    "SeriesCall",
    "SliceCall",
    "Strongest",
    "series_call",
    "slice_call",
]

#: Below this top probability a slice is "unsure" (the predictor's "low confidence" warning).
LOW_CONFIDENCE = 0.6
#: Slices a class needs to be found in a series of three or more slices.
MIN_SLICES = 2
#: The class that means "nothing found", when a model has it.
NO_FINDING = "notumor"

CLASS = "class"
UNSURE = "unsure"
NOT_MRI = "not_mri"
NOT_MRI_TEXT = "not like a brain MRI"


@dataclass(frozen=True)
class SliceCall:
    """One slice's state (:data:`CLASS`, :data:`UNSURE` or :data:`NOT_MRI`) and its top class."""

    state: str
    top_class: str | None
    probability: float | None

    @property
    def predicted_class(self) -> str | None:
        """The class to name first: only when the state is :data:`CLASS`."""
        return self.top_class if self.state == CLASS else None

    @property
    def label(self) -> str:
        """ "glioma", "unsure" or "not like a brain MRI": the state in one word or phrase."""
        if self.state == NOT_MRI:
            return NOT_MRI_TEXT
        return UNSURE if self.state == UNSURE else str(self.top_class)

    def headline(self) -> str:
        """ "glioma 97.3 %", "Unsure (glioma 48.0 % at most)", "Not like a brain MRI"."""
        if self.state == NOT_MRI:
            return NOT_MRI_TEXT[0].upper() + NOT_MRI_TEXT[1:]
        shown = f"{self.top_class} {self.probability:.1%}"
        return shown if self.state == CLASS else f"Unsure ({shown} at most)"

    def short(self) -> str:
        """ "glioma 97 %", "unsure", "not like a brain MRI": a table cell, a list row."""
        if self.state != CLASS:
            return self.label
        return f"{self.top_class} {self.probability:.0%}"


def slice_call(prediction: Any) -> SliceCall:
    """The call of a :class:`~trainer.predict.Prediction` or of its JSON row."""
    probabilities = dict(_field(prediction, "probabilities") or {})
    if not probabilities:
        return SliceCall(UNSURE, None, None)
    top = max(probabilities, key=lambda name: probabilities[name])
    p = float(probabilities[top])
    if _field(prediction, "ood"):
        return SliceCall(NOT_MRI, top, p)
    return SliceCall(CLASS if p >= LOW_CONFIDENCE else UNSURE, top, p)


@dataclass(frozen=True)
class Strongest:
    slice: int  # the slice's number in its rows (``slice`` of the JSON row; 0-based)
    probability: float


@dataclass(frozen=True)
class SeriesCall:
    """A series' summary and call (see the module docstring for the rule)."""

    slices: int
    counts: dict[str, int]  # slices confidently called each class
    unsure: int
    not_mri: int
    strongest: dict[str, Strongest]
    state: str  # CLASS, UNSURE or NOT_MRI
    predicted_class: str | None
    summary: str  # "glioma on 14 of 24 slices, strongest at slice 12 (98 %)"

    def to_json(self) -> dict[str, Any]:
        """The fields of a ``"kind": "series"`` row of ``brainmri predict --json``."""
        return {
            "slices": self.slices,
            "counts": dict(self.counts),
            "unsure": self.unsure,
            "not_mri": self.not_mri,
            "strongest": {
                name: {"slice": best.slice, "probability": round(best.probability, 6)}
                for name, best in self.strongest.items()
            },
            "call": {
                "state": self.state,
                "predicted_class": self.predicted_class,
                "summary": self.summary,
            },
        }


def series_call(
    predictions: Sequence[Any], classes: Sequence[str], numbers: Sequence[int] | None = None
) -> SeriesCall:
    """The call of a series from its slices' predictions (Prediction objects or JSON rows), in
    slice order; ``numbers`` are the slices' numbers (default 0, 1, 2...), as in their rows."""
    numbers = list(numbers) if numbers is not None else list(range(len(predictions)))
    calls = [slice_call(p) for p in predictions]
    n = len(calls)
    counts = {name: 0 for name in classes}
    strongest: dict[str, Strongest] = {}
    for number, call, prediction in zip(numbers, calls, predictions, strict=True):
        if call.state == CLASS and call.top_class in counts:
            counts[call.top_class] += 1
        if call.state == NOT_MRI:
            continue
        for name, p in (_field(prediction, "probabilities") or {}).items():
            best = strongest.get(name)
            if best is None or float(p) > best.probability:
                strongest[name] = Strongest(number, float(p))
    unsure = sum(call.state == UNSURE for call in calls)
    not_mri = sum(call.state == NOT_MRI for call in calls)
    state, chosen, summary = _rule(n, counts, not_mri, strongest)
    strongest = {name: strongest[name] for name in classes if name in strongest}
    return SeriesCall(n, counts, unsure, not_mri, strongest, state, chosen, summary)


def _rule(
    n: int, counts: dict[str, int], not_mri: int, strongest: dict[str, Strongest]
) -> tuple[str, str | None, str]:
    readable = n - not_mri
    if n == 0 or readable == 0 or not_mri * 2 > n:
        return NOT_MRI, None, f"Not like a brain MRI on {not_mri} of {n} slices"
    need = 1 if readable <= 2 else MIN_SLICES
    found = sorted(
        (name for name in counts if name != NO_FINDING and counts[name] >= need),
        key=lambda name: (-counts[name], -strongest[name].probability),
    )
    extra = f"; {not_mri} not like a brain MRI" if not_mri else ""
    if found:
        top = found[0]
        if len(found) > 1 and counts[found[1]] * 2 >= counts[top]:
            runner = found[1]
            return (
                UNSURE,
                None,
                f"Unsure: slices disagree ({top} on {counts[top]}, {runner} on "
                f"{counts[runner]} of {n} slices){extra}",
            )
        best = strongest[top]
        return (
            CLASS,
            top,
            f"{top} on {counts[top]} of {n} slices, strongest at slice {best.slice + 1} "
            f"({best.probability:.0%}){extra}",
        )
    if NO_FINDING in counts and counts[NO_FINDING] * 2 > readable:
        return CLASS, NO_FINDING, f"{NO_FINDING} on {counts[NO_FINDING]} of {n} slices{extra}"
    return UNSURE, None, f"Unsure: no class on most slices ({n} slices){extra}"


def _field(prediction: Any, name: str) -> Any:
    if isinstance(prediction, Mapping):
        return prediction.get(name)
    return getattr(prediction, name, None)
