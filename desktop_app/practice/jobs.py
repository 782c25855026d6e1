"""The Practice tab's work off the GUI thread: read one slice, then ask the model about it.

One generator per slice (run by :class:`desktop_app.workers.QtGeneratorWorker`): it yields the
slice's pixels first, so the student sees the image at once, and returns the model's answer
and heat map, which the tab keeps hidden until the student has answered. Asking the model while
the student reads means the reveal needs no wait.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.viewer.state import NO_TUMOUR
from trainer.api import quantise, read_grey


@dataclass(frozen=True)
class SliceImage:
    """The slice as shown: uint8 (H, W)."""

    pixels: np.ndarray


@dataclass(frozen=True)
class ModelAnswer:
    """What the model said about one slice. ``overlay`` is the slice with the model's default
    heat map (uint8 RGB), None for a "no tumour" answer: there is no lesion to point at, and a
    coloured patch on a healthy brain is the first thing a reader takes for one (as in the
    viewer)."""

    predicted: str
    confidence: float
    probabilities: dict[str, float]
    overlay: np.ndarray | None
    model_name: str


def read_and_ask(
    path: Path, predictor: Any | None
) -> Generator[SliceImage | str, None, ModelAnswer | None]:
    """Yield the slice, then return the model's answer (None without a model)."""
    grey = read_grey(path)
    yield SliceImage(quantise(grey))
    if predictor is None:
        return None
    probs, _ = predictor.predict_arrays([grey])
    yield "classified"
    p = probs[0]
    k = int(np.argmax(p))
    predicted = predictor.classes[k]
    overlay = None
    if predicted != NO_TUMOUR:
        from trainer.api import render_overlay  # matplotlib's colour map: on first use

        overlay = render_overlay(grey, predictor.explain(grey))
    return ModelAnswer(
        predicted,
        float(p[k]),
        {c: float(v) for c, v in zip(predictor.classes, p, strict=True)},
        overlay,
        predictor.info.name or "",
    )
