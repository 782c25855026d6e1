"""Window/level arithmetic for the viewer (Qt-free): the starting window, presets, dragging.

The window is in the slice's own units (``ScanSlice.data``: Hounsfield units, MR signal or
8-bit grey), so a preset or a drag means the same thing as in any DICOM viewer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from trainer.api import Window

__all__ = ["CUSTOM_PRESET", "DEFAULT_PRESET", "drag", "effective_window", "presets"]

DEFAULT_PRESET = "Default (from the file)"
CUSTOM_PRESET = "Adjusted by hand"  # shown after a right-button drag
# Drag sensitivity: moving the mouse by this many pixels changes the width by the whole
# starting width (and the level by half of it), about what common viewers do.
DRAG_PIXELS_PER_WIDTH = 300.0
_MIN_WIDTH_FRACTION = 1e-3

# Hounsfield presets for CT, offered only when the slice is CT (the model is MR-only, but a
# CT opened by mistake should still look right).
CT_PRESETS = {
    "CT brain (40/80)": Window(40, 80),
    "CT subdural (75/215)": Window(75, 215),
    "CT stroke (40/40)": Window(40, 40),
    "CT bone (600/2800)": Window(600, 2800),
}


def _bounds(data: np.ndarray, low_pct: float = 0.0, high_pct: float = 100.0) -> tuple[float, float]:
    finite = data[np.isfinite(data)] if not np.isfinite(data).all() else data
    if finite.size == 0:
        return 0.0, 1.0
    if low_pct <= 0.0 and high_pct >= 100.0:
        low, high = float(finite.min()), float(finite.max())
    else:
        sample = finite.ravel()[:: max(1, finite.size // 200_000)]  # fast on big slices
        low, high = (float(v) for v in np.percentile(sample, [low_pct, high_pct]))
    if high <= low:
        high = low + 1.0
    return low, high


def _from_bounds(low: float, high: float) -> Window:
    return Window((low + high) / 2.0, max(high - low, 1e-6))


def effective_window(slc: Any) -> Window:
    """The linear window equivalent to how the slice renders by default (drags start here)."""
    if slc.default_window is not None:
        return slc.default_window
    if slc.value_range is not None:
        return _from_bounds(*slc.value_range)
    return _from_bounds(*_bounds(slc.data))


def presets(slc: Any) -> dict[str, Callable[[], Window | None]]:
    """Preset name -> function giving its window (None = the file's default rendering)."""
    out: dict[str, Callable[[], Window | None]] = {
        DEFAULT_PRESET: lambda: None,
        "Full dynamic range": lambda: _from_bounds(*_bounds(slc.data)),
        "Auto contrast (1–99 %)": lambda: _from_bounds(*_bounds(slc.data, 1.0, 99.0)),
        "High contrast (5–95 %)": lambda: _from_bounds(*_bounds(slc.data, 5.0, 95.0)),
    }
    if slc.meta.get("Modality") == "CT":
        out.update({name: (lambda w=w: w) for name, w in CT_PRESETS.items()})
    return out


def drag(window: Window, dx: float, dy: float, reference_width: float) -> Window:
    """Right-drag: right widens the window (less contrast), down raises the level (darker)."""
    step = max(reference_width, 1e-6) / DRAG_PIXELS_PER_WIDTH
    width = max(window.width + dx * step, reference_width * _MIN_WIDTH_FRACTION, 1e-6)
    return Window(window.center + dy * step / 2.0, width)
