"""The bars above and below the canvas: the view toolbar and the slice bar.

* :class:`QtViewToolbar`: Fit, 1:1, the window/level presets, Invert and the measuring line;
* :class:`QtSliceBar`: the slice slider, Play (cine) and the per-slice strip (``strip.py``),
  shown for a series only.

Both read :class:`QtViewerState` and change it through its setters, like every viewer widget.
The slice bar says when the user moved the slice (:attr:`QtSliceBar.moved`), so that the tab
waits for the reader to stop before the model runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.viewer import windowing
from desktop_app.viewer.canvas import QtImageCanvas
from desktop_app.viewer.state import QtViewerState
from desktop_app.viewer.strip import QtSeriesStrip

__all__ = ["CINE_INTERVAL_MS", "QtSliceBar", "QtViewToolbar"]

CINE_INTERVAL_MS = 125  # 8 slices a second, as a reader pages through a series


def _tool(text: str, tip: str, slot: Callable[..., Any]) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button


class QtViewToolbar(QWidget):
    """Above the canvas: zoom, window/level, inversion and measuring."""

    status_message = Signal(str)

    def __init__(
        self, state: QtViewerState, canvas: QtImageCanvas, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.canvas = canvas
        self._presets: dict[str, Any] = {}
        self.fit_button = _tool("Fit", "Fit the image to the window (F)", canvas.fit)
        self.one_button = _tool("1:1", "One image pixel per screen pixel", canvas.actual_size)
        self.invert_box = QCheckBox("Invert")
        self.invert_box.setToolTip("Show the image inverted (white ↔ black)")
        self.preset_box = QComboBox()
        self.preset_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset_box.setMinimumContentsLength(20)
        self.preset_box.setToolTip(
            "Window/level presets; drag with the right mouse button to "
            "adjust, double-click to reset"
        )
        self.reset_button = _tool(
            "Reset W/L", "Back to the file's own window (double-click)", self.reset_window
        )
        # the measuring line (canvas.py): a left drag measures while "Measure" is on
        self.measure_button = _tool(
            "Measure",
            "Measure a distance: drag across the image (or hold Shift and drag); "
            "in millimetres when the file gives the pixel size",
            canvas.set_measure_mode,
        )
        self.measure_button.setCheckable(True)
        self.clear_measure_button = _tool(
            "Clear", "Remove the measured line (Esc)", canvas.clear_measurement
        )
        self.clear_measure_button.setEnabled(False)
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.fit_button)
        bar.addWidget(self.one_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Window:"))
        bar.addWidget(self.preset_box)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.invert_box)
        bar.addSpacing(12)
        bar.addWidget(self.measure_button)
        bar.addWidget(self.clear_measure_button)
        bar.addStretch(1)
        self.invert_box.toggled.connect(lambda on: state.set_display(invert=on))
        self.preset_box.activated.connect(self._on_preset_activated)
        canvas.window_dragged.connect(self._on_window_dragged)
        canvas.window_reset_requested.connect(self.reset_window)
        canvas.measurement_changed.connect(self._on_measurement_changed)
        state.current_changed.connect(self._fill_presets)
        state.view_changed.connect(self._on_view_changed)

    def _on_view_changed(self) -> None:
        with QSignalBlocker(self.invert_box):
            self.invert_box.setChecked(self.state.display.invert)

    def _on_measurement_changed(self) -> None:
        text = self.canvas.measurement_text()
        self.clear_measure_button.setEnabled(bool(text))
        if text:
            self.status_message.emit(f"Measured: {text}")

    # window / level -----------------------------------------------------------------------
    def _fill_presets(self, item: Any) -> None:
        self.preset_box.clear()
        slc = item.current_slice if item is not None else None
        if slc is None:
            return
        self._presets = windowing.presets(slc)
        self.preset_box.addItems(list(self._presets))
        if item.window is not None:
            self._show_custom_preset()

    def _show_custom_preset(self) -> None:
        """The box names what is on screen: after a drag, no preset is."""
        index = self.preset_box.findText(windowing.CUSTOM_PRESET)
        if index < 0:
            self.preset_box.addItem(windowing.CUSTOM_PRESET)
            index = self.preset_box.count() - 1
        self.preset_box.setCurrentIndex(index)

    def _on_preset_activated(self, index: int) -> None:
        make = self._presets.get(self.preset_box.itemText(index))
        if make is not None:
            self.state.set_window(make())
            self._remove_custom_preset()

    def _remove_custom_preset(self) -> None:
        custom = self.preset_box.findText(windowing.CUSTOM_PRESET)
        if custom >= 0:
            self.preset_box.removeItem(custom)

    def _on_window_dragged(self, dx: float, dy: float) -> None:
        item = self.state.current
        slc = item.current_slice if item is not None else None
        if item is None or slc is None:
            return
        reference = windowing.effective_window(slc)
        start = item.window or reference
        self.state.set_window(windowing.drag(start, dx, dy, reference.width))
        self._show_custom_preset()

    def reset_window(self) -> None:
        self.state.set_window(None)
        self._remove_custom_preset()
        self.preset_box.setCurrentIndex(0)


class QtSliceBar(QWidget):
    """Below the canvas, for a series: the slider, Play, and the per-slice strip."""

    moved = Signal()  # the user moved the slice (slider, cine, keys over the image)

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 0, 4, 0)
        column.setSpacing(2)
        row = QHBoxLayout()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip(
            "Slice (mouse wheel, arrow keys, Home and End over the image; space plays)"
        )
        self.label = QLabel()
        self.label.setMinimumWidth(110)
        self.cine_button = _tool("Play", "Play the slices as a movie (space)", self.toggle_cine)
        self.cine_button.setCheckable(True)
        row.addWidget(QLabel("Slice"))
        row.addWidget(self.slider, 1)
        row.addWidget(self.label)
        row.addWidget(self.cine_button)
        column.addLayout(row)
        # one cell per slice, coloured by its call, and the series summary (strip.py)
        self.strip = QtSeriesStrip(state)
        column.addWidget(self.strip)
        self._cine = QTimer(self)
        self._cine.setInterval(CINE_INTERVAL_MS)
        self._cine.timeout.connect(self._on_cine_timeout)
        self.slider.valueChanged.connect(self._move_to)
        state.view_changed.connect(self._on_view_changed)
        self.hide()

    def _on_view_changed(self) -> None:
        item = self.state.current
        series = item is not None and item.is_series
        self.setVisible(series)
        if not series or item is None:
            return
        with QSignalBlocker(self.slider):
            self.slider.setRange(0, item.n_slices - 1)
            self.slider.setValue(item.position)
        self.label.setText(f"{item.position + 1} / {item.n_slices}")

    def _move_to(self, position: int) -> None:
        self.state.set_position(position)
        self.moved.emit()

    def step(self, delta: int) -> None:
        """Move by ``delta`` slices (the wheel and the arrow keys over the image)."""
        self.state.step(delta)
        self.moved.emit()

    def jump(self, where: int) -> None:
        """To the first slice (``where`` 0) or the last (Home and End over the image)."""
        item = self.state.current
        if item is not None and item.n_slices:
            self._move_to(0 if where == 0 else item.n_slices - 1)

    # cine -------------------------------------------------------------------------------------
    def toggle_cine(self) -> None:
        """Play or pause the series, looping; stops by itself when the item has one slice."""
        item = self.state.current
        playing = not self._cine.isActive() and item is not None and item.is_series
        if playing:
            self._cine.start()
        else:
            self._cine.stop()
        with QSignalBlocker(self.cine_button):
            self.cine_button.setChecked(playing)
        self.cine_button.setText("Pause" if playing else "Play")

    def _on_cine_timeout(self) -> None:
        item = self.state.current
        if item is None or not item.is_series:
            self.toggle_cine()
            return
        self._move_to((item.position + 1) % item.n_slices)
