"""What the canvas shows of the viewer's state, as plain data: the grey layer and the corners.

Qt-free: the tab hands these to the canvas (``QtImageCanvas.set_picture`` and
``set_corner_text``), and the exports (``export_actions.py``) use the same grey layer, so the
PNG and the PDF show exactly what the screen shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from desktop_app.viewer import windowing
from desktop_app.viewer.items import CAM_LABELS, ViewerItem
from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import CLASS, slice_call

if TYPE_CHECKING:
    from desktop_app.viewer.state import DisplaySettings, QtViewerState

__all__ = ["GreyLayer", "corner_text"]


class GreyLayer:
    """The slice on screen rendered with the user's window, cached.

    The same array objects come back while the item, slice, window and inversion stay the
    same, so that the canvas skips converting them again (opacity and CAM changes are
    frequent and leave the grey layer alone).
    """

    def __init__(self, display: DisplaySettings) -> None:
        self.display = display  # the state's settings (the object lives as long as the state)
        self._cached: tuple[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] | None = None

    def clear(self) -> None:
        self._cached = None

    def grey01(self, item: ViewerItem) -> np.ndarray:
        """Float in [0, 1], before any inversion."""
        return self._entry(item)[0]

    def shown_u8(self, item: ViewerItem) -> np.ndarray:
        """What the grey layer shows (window and inversion applied), uint8."""
        return self._entry(item)[1]

    def _entry(self, item: ViewerItem) -> tuple[np.ndarray, np.ndarray]:
        invert = self.display.invert
        key = (item.id, item.position, item.window, invert)
        if self._cached is None or self._cached[0] != key:
            from trainer.api import quantise  # trainer.io: loaded with the first scan anyway

            slc = item.current_slice
            assert slc is not None
            grey = slc.render(item.window)
            u8 = quantise(1.0 - grey if invert else grey)
            self._cached = (key, (grey, u8))
        return self._cached[1]


def corner_text(state: QtViewerState, item: ViewerItem, zoom: float) -> dict[str, str]:
    """The four corners over the slice on screen (``QtImageCanvas.set_corner_text``)."""
    slc = item.current_slice
    assert slc is not None
    series = item.scan.series if item.scan is not None else None
    # a series by its title (folders are often named after the patient), a file by name
    top_left = [series.title if series is not None else item.name]
    if item.is_series:
        top_left.append(f"Slice {item.position + 1} / {item.n_slices}")
    if series is None and (desc := slc.meta.get("Series description")):
        top_left.append(desc)
    geometry = slc.geometry
    if geometry is not None and (where := geometry.describe()):
        top_left.append(where)  # slice position and thickness
    d = state.display
    pred = state.prediction()
    top_right = []
    if pred is not None:  # the state first, as the panel says it (trainer.series_call)
        call = slice_call(pred)
        top_right.append(("⚠ " if call.state != CLASS else "") + call.headline())
    if d.overlay and state.cam() is not None and not state.map_withheld():
        target = d.target or "predicted class"
        top_right.append(f"{CAM_LABELS[d.cam_method]} · {target} · {d.opacity:.0%}")
    window = item.window or (windowing.effective_window(slc) if slc.voi_lut is None else None)
    bottom_left = [
        f"W {window.width:.0f}  L {window.center:.0f}" if window else "W/L: VOI LUT",
        f"Zoom {zoom:.0%}" + ("  ·  inverted" if d.invert else ""),
    ]
    return {
        "top_left": "\n".join(top_left),
        "top_right": "\n".join(top_right),
        "bottom_left": "\n".join(bottom_left),
        "bottom_right": NOT_FOR_CLINICAL_USE,
    }
