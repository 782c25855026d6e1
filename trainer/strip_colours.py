"""The colours of the per-slice strip, shared by the viewer and the PDF report.

One cell per slice: the hue says the class (a colour-blind-safe palette, Okabe and Ito 2008,
in the model's class order), the strength says the calibrated probability (faint at
:data:`~trainer.series_call.LOW_CONFIDENCE`, full at 1). An unsure slice is grey, a slice that
does not look like a brain MRI is near-black and crossed out by whoever draws it, a slice not
classified yet is the background. Qt-free, so the report draws exactly what the viewer does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trainer.series_call import CLASS, LOW_CONFIDENCE, NOT_MRI, SliceCall

__all__ = ["PENDING", "RGB", "SeriesStrip", "cell_colour", "class_colour"]

RGB = tuple[int, int, int]

_PALETTE: tuple[RGB, ...] = (
    (230, 159, 0),  # orange
    (86, 180, 233),  # sky blue
    (0, 158, 115),  # bluish green
    (204, 121, 167),  # reddish purple
    (0, 114, 178),  # blue
    (213, 94, 0),  # vermillion
    (240, 228, 66),  # yellow
)
UNSURE_GREY: RGB = (110, 114, 120)
NOT_MRI_DARK: RGB = (40, 40, 44)
PENDING: RGB = (29, 33, 39)  # the viewer's panel background: "not classified yet"
_FAINTEST = 0.45  # share of the class colour at LOW_CONFIDENCE


def class_colour(name: str, classes: Sequence[str]) -> RGB:
    """The hue of a class: by its place among the model's classes."""
    index = list(classes).index(name) if name in classes else len(classes)
    return _PALETTE[index % len(_PALETTE)]


def cell_colour(call: SliceCall | None, classes: Sequence[str]) -> RGB:
    """The colour of one slice's cell (``None``: not classified yet)."""
    if call is None:
        return PENDING
    if call.state == NOT_MRI:
        return NOT_MRI_DARK
    if call.state != CLASS or call.top_class is None or call.probability is None:
        return UNSURE_GREY
    share = (call.probability - LOW_CONFIDENCE) / (1.0 - LOW_CONFIDENCE)
    share = _FAINTEST + (1.0 - _FAINTEST) * min(1.0, max(0.0, share))
    colour = class_colour(call.top_class, classes)
    return tuple(round(PENDING[k] + (colour[k] - PENDING[k]) * share) for k in range(3))  # type: ignore[return-value]


@dataclass(frozen=True)
class SeriesStrip:
    """What a report shows of a series: its title, its summary and one cell per slice."""

    title: str  # the series title (trainer.io.series.series_title): no identifiers
    summary: str  # SeriesCall.summary, or how far classification got
    calls: tuple[SliceCall | None, ...]  # per slice, None: not classified
    classes: tuple[str, ...]
    current: int  # the slice the report's image is (0-based)

    def rgb(self) -> np.ndarray:
        """uint8 (1, N, 3): the cells in slice order, as the viewer paints them."""
        cells = [cell_colour(call, self.classes) for call in self.calls]
        return np.asarray([cells], dtype=np.uint8).reshape(1, len(cells), 3)

    def not_mri(self) -> list[int]:
        """Slices to cross out: they do not look like a brain MRI."""
        return [
            k for k, call in enumerate(self.calls) if call is not None and call.state == NOT_MRI
        ]
