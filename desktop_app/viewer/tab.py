"""The Viewer tab: drop scans, see the prediction and the Grad-CAM, export.

The tab is the only place that starts viewer workers. It owns three kinds of work:

* **loading** (one worker per open/drop): never cancelled by the selection, since the user
  wants every dropped file in the list;
* **analysis** of the slice on screen (one worker at a time): a new selection, slice, CAM method
  or target quits the old worker (it stops at its next yield) and starts what is still missing.
  Results are cached by what they depend on (see ``state.py``), so going back is instant;
* **exports** (PDF) and **identifier reads**, small jobs that must not block either.

Slice scrolling is debounced: the picture follows the wheel at once, the model runs on the
slice where the user stops.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSlider,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.models import ModelEntry, QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.viewer import windowing
from desktop_app.viewer.analysis import (
    AnalysisRequest,
    BatchResult,
    CamResult,
    ErrorResult,
    PredictionResult,
    analyse,
    compose,
    load_items,
)
from desktop_app.viewer.batch import QtBatchDialog
from desktop_app.viewer.canvas import QtImageCanvas
from desktop_app.viewer.export import read_identifiers, save_png, write_report
from desktop_app.viewer.item_list import QtItemList
from desktop_app.viewer.panels import QtCamControls, QtMetadataPanel, QtPredictionPanel
from desktop_app.viewer.state import CAM_LABELS, PREDICTED, QtViewerState, ViewerItem
from desktop_app.viewer.strip import QtSeriesStrip
from desktop_app.workers import QtGeneratorWorker
from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import CLASS, SeriesStrip, slice_call

__all__ = ["IMAGE_FILTER", "QtViewerTab"]

log = logging.getLogger(__name__)

IMAGE_FILTER = (
    "Scans (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.dcm *.dicom *.ima DICOMDIR);;"
    "DICOM files (*.dcm *.dicom *.ima DICOMDIR);;All files (*)"
)
SLICE_DEBOUNCE_MS = 120
STRIP_BATCH = 8  # slices per background job: one model batch, then a chance to stop
CINE_INTERVAL_MS = 125  # 8 slices a second, as a reader pages through a series


class QtViewerTab(QWidget):
    """Item list | canvas with slice bar | prediction, Grad-CAM and metadata panels."""

    status_message = Signal(str)  # a transient message for the status bar
    view_completed = Signal()  # the item on screen shows everything it will show
    paths_opened = Signal(list)  # paths the user opened (the recent-files menu listens)

    def __init__(
        self, registry: QtModelRegistry, settings: AppSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.registry = registry
        self.settings = settings
        self.state = QtViewerState(self)
        self.state.display.opacity = settings.opacity
        self.state.display.cam_method = settings.cam_method
        self._loads: list[QtGeneratorWorker] = []
        self._analysis: QtGeneratorWorker | None = None
        self._analysis_request: AnalysisRequest | None = None
        self._side_jobs: list[QtGeneratorWorker] = []
        self._grey_cache: tuple[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] | None = None
        self._analysis_timer = QTimer(self)
        self._analysis_timer.setSingleShot(True)
        self._analysis_timer.timeout.connect(self._start_analysis)
        self.batch_dialog: QtBatchDialog | None = None
        self._presets: dict[str, Any] = {}
        self._measured_on: tuple[int, int] | None = None  # the slice the canvas's line is on
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        if registry.predictor is not None:
            self.state.set_classes(registry.predictor.classes, registry.predictor.meta)

    # ------------------------------------------------------------------------------------
    # Layout
    # ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.item_list = QtItemList(self.state)
        self.canvas = QtImageCanvas()
        self.prediction_panel = QtPredictionPanel(self.state)
        self.cam_controls = QtCamControls(self.state)
        self.metadata_panel = QtMetadataPanel(self.state)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        open_button = QPushButton("Open…")
        open_button.setToolTip("Open image or DICOM files (or drop them anywhere here)")
        open_button.clicked.connect(lambda: self.open_files_dialog())
        clear_button = QPushButton("Clear")
        clear_button.setToolTip("Remove every scan from the list (the files are not touched)")
        clear_button.clicked.connect(self.clear_with_confirmation)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(clear_button)
        left_layout.addWidget(QLabel("Loaded scans"))
        left_layout.addWidget(self.item_list, 1)
        left_layout.addLayout(buttons)

        center = QWidget()
        center_layout = QVBoxLayout(center)
        center_layout.setContentsMargins(0, 0, 0, 0)
        center_layout.setSpacing(2)
        center_layout.addLayout(self._build_toolbar())
        center_layout.addWidget(self.canvas, 1)
        center_layout.addWidget(self._build_slice_bar())

        right_inner = QWidget()
        right_layout = QVBoxLayout(right_inner)
        right_layout.setContentsMargins(0, 0, 4, 0)
        right_layout.addWidget(self.prediction_panel)
        right_layout.addWidget(self.cam_controls)
        right_layout.addWidget(self.metadata_panel, 1)
        right = QScrollArea()
        right.setWidget(right_inner)
        right.setWidgetResizable(True)
        right.setMinimumWidth(300)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(center)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setStretchFactor(2, 0)
        splitter.setSizes([230, 760, 330])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    def _build_toolbar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        self.fit_button = self._tool("Fit", "Fit the image to the window (F)", self.canvas.fit)
        self.one_button = self._tool(
            "1:1", "One image pixel per screen pixel", self.canvas.actual_size
        )
        self.invert_box = QCheckBox("Invert")
        self.invert_box.setToolTip("Show the image inverted (white ↔ black)")
        self.preset_box = QComboBox()
        self.preset_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.preset_box.setMinimumContentsLength(20)
        self.preset_box.setToolTip(
            "Window/level presets; drag with the right mouse button to "
            "adjust, double-click to reset"
        )
        self.reset_button = self._tool(
            "Reset W/L", "Back to the file's own window (double-click)", self.reset_window
        )
        bar.addWidget(self.fit_button)
        bar.addWidget(self.one_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Window:"))
        bar.addWidget(self.preset_box)
        bar.addWidget(self.reset_button)
        bar.addWidget(self.invert_box)
        bar.addSpacing(12)
        # the measuring line (canvas.py): a left drag measures while "Measure" is on
        self.measure_button = self._tool(
            "Measure",
            "Measure a distance: drag across the image (or hold Shift and drag); "
            "in millimetres when the file gives the pixel size",
            self.canvas.set_measure_mode,
        )
        self.measure_button.setCheckable(True)
        self.clear_measure_button = self._tool(
            "Clear", "Remove the measured line (Esc)", self.canvas.clear_measurement
        )
        self.clear_measure_button.setEnabled(False)
        bar.addWidget(self.measure_button)
        bar.addWidget(self.clear_measure_button)
        bar.addStretch(1)
        return bar

    def _tool(self, text: str, tip: str, slot: Any) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    def _build_slice_bar(self) -> QWidget:
        self.slice_bar = QWidget()
        column = QVBoxLayout(self.slice_bar)
        column.setContentsMargins(4, 0, 4, 0)
        column.setSpacing(2)
        row = QHBoxLayout()
        self.slice_slider = QSlider(Qt.Orientation.Horizontal)
        self.slice_slider.setToolTip(
            "Slice (mouse wheel, arrow keys, Home and End over the image; space plays)"
        )
        self.slice_label = QLabel()
        self.slice_label.setMinimumWidth(110)
        self.cine_button = self._tool(
            "Play", "Play the slices as a movie (space)", self.toggle_cine
        )
        self.cine_button.setCheckable(True)
        row.addWidget(QLabel("Slice"))
        row.addWidget(self.slice_slider, 1)
        row.addWidget(self.slice_label)
        row.addWidget(self.cine_button)
        column.addLayout(row)
        # one cell per slice, coloured by its call, and the series summary (strip.py)
        self.strip = QtSeriesStrip(self.state)
        column.addWidget(self.strip)
        self._cine = QTimer(self)
        self._cine.setInterval(CINE_INTERVAL_MS)
        self._cine.timeout.connect(self._on_cine_timeout)
        self.slice_bar.hide()
        return self.slice_bar

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
        self.state.set_position((item.position + 1) % item.n_slices)
        self._schedule_analysis(SLICE_DEBOUNCE_MS)

    def _on_slice_jumped(self, where: int) -> None:
        item = self.state.current
        if item is not None and item.n_slices:
            self.state.set_position(0 if where == 0 else item.n_slices - 1)
            self._schedule_analysis(SLICE_DEBOUNCE_MS)

    def _connect(self) -> None:
        s = self.state
        s.current_changed.connect(self._on_current_changed)
        s.view_changed.connect(self._on_view_changed)
        s.results_changed.connect(self._on_results_changed)
        self.canvas.slice_stepped.connect(self._on_slice_stepped)
        self.canvas.slice_jumped.connect(self._on_slice_jumped)
        self.canvas.cine_toggled.connect(self.toggle_cine)
        self.canvas.window_dragged.connect(self._on_window_dragged)
        self.canvas.window_reset_requested.connect(self.reset_window)
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        self.canvas.measurement_changed.connect(self._on_measurement_changed)
        self.slice_slider.valueChanged.connect(self._on_slice_slider_value_changed)
        self.invert_box.toggled.connect(self._on_invert_toggled)
        self.preset_box.activated.connect(self._on_preset_activated)
        self.metadata_panel.identifiers_requested.connect(self._on_identifiers_requested)
        self.registry.active_model_changed.connect(self._on_active_model_changed)
        self.registry.loading_started.connect(self._on_model_loading_started)
        self.registry.errored.connect(self._on_model_errored)

    # ------------------------------------------------------------------------------------
    # Opening
    # ------------------------------------------------------------------------------------
    def open_paths(self, paths: Sequence[str | Path]) -> None:
        """Load files and folders in the background; each appears in the list when read."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        for p in paths:
            if p.exists():
                self.settings.add_recent(p)
        self.paths_opened.emit([str(p) for p in paths])
        self.status_message.emit(f"Reading {len(paths)} item{'s' * (len(paths) > 1)}…")
        worker = QtGeneratorWorker(load_items, paths, name="reading scans", owner=self)
        worker.yielded.connect(self._on_items_loaded)
        worker.errored.connect(partial(self._on_load_errored, paths))
        worker.finished.connect(partial(self._on_load_finished, worker))
        self._loads.append(worker)
        worker.start()

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open scans", self.settings.last_folder, IMAGE_FILTER
        )
        if files:
            self.settings.last_folder = str(Path(files[0]).parent)
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder (images or a DICOM series)", self.settings.last_folder
        )
        if folder:
            self.settings.last_folder = str(Path(folder).parent)
            self.open_paths([folder])

    def clear_with_confirmation(self) -> bool:
        """Clear the list after asking (there is no undo: the predictions are recomputed only
        by opening the files again). True when cleared."""
        n = len(self.state.items)
        if n == 0:
            return False
        answer = QMessageBox.question(
            self,
            "Clear the list",
            f"Remove all {n} scan{'s' * (n != 1)} from the list? Their predictions are "
            "forgotten; the files themselves are not touched.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.clear()
        return True

    def clear(self) -> None:
        if self._analysis is not None:
            self._analysis.quit()
        self._analysis, self._analysis_request = None, None
        self._grey_cache = None
        self.state.clear()

    def _on_items_loaded(self, items: list[ViewerItem]) -> None:
        self.state.add_items(items)
        self._schedule_analysis(0)  # new items are classified in the background
        for item in items:
            if item.error:
                log.info("could not read %s: %s", item.source, item.error)
                self.status_message.emit(f"Could not read {item.name}: {item.error}")

    def _on_load_errored(self, paths: list[Path], exc: Exception) -> None:
        names = ", ".join(p.name for p in paths)
        QMessageBox.warning(self, "Could not read", f"{names}: {plain_message(exc)}")

    def _on_load_finished(self, worker: QtGeneratorWorker) -> None:
        if worker in self._loads:
            self._loads.remove(worker)
        if not self._loads:
            ok = sum(1 for i in self.state.items if i.scan is not None)
            bad = len(self.state.items) - ok
            self.status_message.emit(
                f"{ok} scan{'s' * (ok != 1)} loaded" + (f", {bad} unreadable" if bad else "")
            )
            self._check_completed()

    # drag and drop -------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)

    # ------------------------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------------------------
    def _on_active_model_changed(self, entry: ModelEntry) -> None:
        if self._analysis is not None:
            self._analysis.quit()
            self._analysis, self._analysis_request = None, None
        predictor = self.registry.predictor
        self.prediction_panel.set_model_problem(None)
        if predictor is not None:
            self.state.set_classes(predictor.classes, predictor.meta)
        else:
            self.state.set_classes([])
        self.status_message.emit(f"Model ready: {entry.summary}")
        self._schedule_analysis(0)

    def _on_model_loading_started(self, entry: ModelEntry) -> None:
        self.status_message.emit(f"Loading model {entry.path.name}…")

    def _on_model_errored(self, entry: ModelEntry | None, message: str) -> None:
        if self.registry.predictor is None:  # else the previous model carries on
            self.prediction_panel.set_model_problem(message)
        self._check_completed()

    # ------------------------------------------------------------------------------------
    # Showing
    # ------------------------------------------------------------------------------------
    def _on_current_changed(self, item: ViewerItem | None) -> None:
        self._grey_cache = None
        self._fill_presets(item)
        if item is not None and self.state.display.show_identifiers:
            self._fetch_identifiers(item)
        self._schedule_analysis(0)

    def _on_view_changed(self) -> None:
        item = self.state.current
        self._update_slice_bar(item)
        with QSignalBlocker(self.invert_box):
            self.invert_box.setChecked(self.state.display.invert)
        slc = item.current_slice if item is not None else None
        if item is None or slc is None:
            self.canvas.set_picture(None)
            self.canvas.set_corner_text()
            return
        if (item.id, item.position) != self._measured_on:
            self.canvas.clear_measurement()  # a line measures the slice it was drawn on
            self._measured_on = (item.id, item.position)
        d = self.state.display
        heat = self.state.heat() if d.overlay and not self.state.map_withheld() else None
        if heat is not None:
            self.cam_controls.fill_legend()
        self.canvas.set_picture(self._grey_u8(item), heat, d.opacity, d.side_by_side)
        self._update_corners(item)
        if self.settings.opacity != d.opacity:
            self.settings.opacity = d.opacity
        if self.settings.cam_method != d.cam_method:
            self.settings.cam_method = d.cam_method

    def _grey(self, item: ViewerItem) -> np.ndarray:
        """The slice rendered with the user's window, float in [0, 1], before any inversion."""
        return self._grey_entry(item)[0]

    def _grey_u8(self, item: ViewerItem) -> np.ndarray:
        """What the grey layer shows (window and inversion applied), as uint8."""
        return self._grey_entry(item)[1]

    def _grey_entry(self, item: ViewerItem) -> tuple[np.ndarray, np.ndarray]:
        # Cached, and the same array object is returned while nothing changed, so that the
        # canvas skips converting it again (opacity and CAM changes are frequent).
        key = (item.id, item.position, item.window, self.state.display.invert)
        if self._grey_cache is None or self._grey_cache[0] != key:
            slc = item.current_slice
            assert slc is not None
            grey = slc.render(item.window)
            shown = 1.0 - grey if self.state.display.invert else grey
            u8 = np.clip(np.rint(shown * 255.0), 0, 255).astype(np.uint8)
            self._grey_cache = (key, (grey, u8))
        return self._grey_cache[1]

    def _update_corners(self, item: ViewerItem) -> None:
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
        self.canvas.set_reading_aids(
            geometry.markers() if geometry is not None else {},
            geometry.spacing if geometry is not None else None,  # (rows, columns) in mm
        )
        d = self.state.display
        pred = self.state.prediction()
        top_right = []
        if pred is not None:  # the state first, as the panel says it (trainer.series_call)
            call = slice_call(pred)
            top_right.append(("⚠ " if call.state != CLASS else "") + call.headline())
        if d.overlay and self.state.cam() is not None and not self.state.map_withheld():
            target = d.target or "predicted class"
            top_right.append(f"{CAM_LABELS[d.cam_method]} · {target} · {d.opacity:.0%}")
        window = item.window or (windowing.effective_window(slc) if slc.voi_lut is None else None)
        bottom_left = [
            f"W {window.width:.0f}  L {window.center:.0f}" if window else "W/L: VOI LUT",
            f"Zoom {self.canvas.zoom:.0%}" + ("  ·  inverted" if d.invert else ""),
        ]
        self.canvas.set_corner_text(
            top_left="\n".join(top_left),
            top_right="\n".join(top_right),
            bottom_left="\n".join(bottom_left),
            bottom_right=NOT_FOR_CLINICAL_USE,
        )

    def _on_measurement_changed(self) -> None:
        text = self.canvas.measurement_text()
        self.clear_measure_button.setEnabled(bool(text))
        if text:
            self.status_message.emit(f"Measured: {text}")

    def _on_zoom_changed(self, _zoom: float) -> None:
        if self.state.current is not None and self.state.current.current_slice is not None:
            self._update_corners(self.state.current)

    def _update_slice_bar(self, item: ViewerItem | None) -> None:
        series = item is not None and item.is_series
        self.slice_bar.setVisible(series)
        if not series or item is None:
            return
        with QSignalBlocker(self.slice_slider):
            self.slice_slider.setRange(0, item.n_slices - 1)
            self.slice_slider.setValue(item.position)
        self.slice_label.setText(f"{item.position + 1} / {item.n_slices}")

    def _on_slice_stepped(self, delta: int) -> None:
        self.state.step(delta)
        self._schedule_analysis(SLICE_DEBOUNCE_MS)

    def _on_slice_slider_value_changed(self, value: int) -> None:
        self.state.set_position(value)
        self._schedule_analysis(SLICE_DEBOUNCE_MS)

    # window / level ---------------------------------------------------------------------
    def _fill_presets(self, item: ViewerItem | None) -> None:
        self.preset_box.clear()
        slc = item.current_slice if item is not None else None
        if slc is None:
            return
        self._presets = windowing.presets(slc)
        self.preset_box.addItems(list(self._presets))
        if item is not None and item.window is not None:
            self._show_custom_preset()

    def _show_custom_preset(self) -> None:
        """The box names what is on screen: after a drag, no preset is."""
        index = self.preset_box.findText(windowing.CUSTOM_PRESET)
        if index < 0:
            self.preset_box.addItem(windowing.CUSTOM_PRESET)
            index = self.preset_box.count() - 1
        self.preset_box.setCurrentIndex(index)

    def _on_preset_activated(self, index: int) -> None:
        name = self.preset_box.itemText(index)
        make = self._presets.get(name)
        if make is not None:
            self.state.set_window(make())
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
        custom = self.preset_box.findText(windowing.CUSTOM_PRESET)
        if custom >= 0:
            self.preset_box.removeItem(custom)
        self.preset_box.setCurrentIndex(0)

    def _on_invert_toggled(self, on: bool) -> None:
        self.state.set_display(invert=on)

    # ------------------------------------------------------------------------------------
    # Analysis of the slice on screen
    # ------------------------------------------------------------------------------------
    def _on_results_changed(self) -> None:
        self._schedule_analysis(0)

    def _schedule_analysis(self, delay_ms: int) -> None:
        if delay_ms <= 0 and not self._analysis_timer.isActive():
            self._analysis_timer.start(0)
        elif delay_ms > 0:
            self._analysis_timer.start(delay_ms)

    def _pending_request(self) -> AnalysisRequest | None:
        """What the slice on screen still lacks; else the other slices of the series on
        screen, nearest to it first (the strip fills around where the reader is); else the
        prediction of the next loaded item that has none (so the list shows every item's
        class, not "not classified yet"); else the other series' slices (so the list shows
        each series' summary); else None."""
        if self.registry.predictor is None:
            return None
        current = [self.state.current] if self.state.current is not None else []
        return (
            self._request_for_current()
            or self._next_slices(current)
            or self._next_unclassified()
            or self._next_slices(self.state.items)
        )

    def _next_slices(self, items: Sequence[ViewerItem]) -> AnalysisRequest | None:
        """A batch of unclassified slices of the first series among ``items`` that has any,
        nearest to its slice on screen first."""
        for item in items:
            if item.scan is None or not item.is_series:
                continue
            known = self.state.predictions.keys() | self.state.errors.keys()
            todo = [p for p in range(item.n_slices) if (item.id, p) not in known]
            if not todo:
                continue
            todo.sort(key=lambda p: (abs(p - item.position), p))
            batch = tuple(((item.id, p), item.scan.slices[p]) for p in todo[:STRIP_BATCH])
            first_key, first_slice = batch[0]
            return AnalysisRequest(first_key, first_slice, item.name, False, None, batch)
        return None

    def _next_unclassified(self) -> AnalysisRequest | None:
        for item in self.state.items:
            skey = self.state.slice_key(item)
            if skey is None or item.current_slice is None:
                continue
            if skey not in self.state.predictions and skey not in self.state.errors:
                return AnalysisRequest(skey, item.current_slice, item.name, True, None)
        return None

    def _request_for_current(self) -> AnalysisRequest | None:
        item = self.state.current
        if item is None or item.current_slice is None:
            return None
        skey = self.state.slice_key()
        if skey is None or skey in self.state.errors:
            return None
        want_prediction = skey not in self.state.predictions
        cam_key = self.state.cam_key() if self.state.display.overlay else None
        if cam_key is not None and (cam_key in self.state.cams or cam_key in self.state.cam_errors):
            cam_key = None
        if not want_prediction and cam_key is None:
            return None
        return AnalysisRequest(skey, item.current_slice, item.name, want_prediction, cam_key)

    def _start_analysis(self) -> None:
        request = self._pending_request()
        if request is not None and _covers(self._analysis_request, request):
            return  # the running worker is already computing it
        if self._analysis is not None:
            self._analysis.quit()  # stale: stops at its next yield, its results are dropped
            self._analysis, self._analysis_request = None, None
        if request is None:
            self._set_busy(None)
            self._check_completed()
            return
        predictor = self.registry.predictor
        worker = QtGeneratorWorker(
            analyse, predictor, request, name=f"analysis of {request.name}", owner=self
        )
        worker.yielded.connect(partial(self._on_analysis_yielded, worker, predictor))
        worker.errored.connect(partial(self._on_analysis_errored, worker, request))
        worker.finished.connect(partial(self._on_analysis_finished, worker))
        self._analysis, self._analysis_request = worker, request
        self._set_busy(request)
        worker.start()

    def _set_busy(self, request: AnalysisRequest | None) -> None:
        if request is not None and request.slice_key != self.state.slice_key():
            request = None  # another item is being classified in the background
        self.prediction_panel.set_busy(request is not None and request.want_prediction)
        self.cam_controls.set_busy(request is not None and request.cam_key is not None)

    def _on_analysis_yielded(self, worker: QtGeneratorWorker, predictor: Any, result: Any) -> None:
        if predictor is not self.registry.predictor:
            return  # computed with a model that is no longer active
        if isinstance(result, BatchResult):  # the strip's background work: one update
            self.state.store_predictions([(r.key, r.prediction) for r in result.results])
        elif isinstance(result, PredictionResult):
            self.state.store_prediction(result.key, result.prediction)
        elif isinstance(result, CamResult):
            self.state.store_cam(result.key, result.cam, result.heat)
        elif isinstance(result, ErrorResult):
            log.info("analysis failed: %s", result.message)
            self.state.store_error(result.key, result.message)

    def _on_analysis_errored(
        self, worker: QtGeneratorWorker, request: AnalysisRequest, exc: Exception
    ) -> None:
        if worker is self._analysis:
            log.warning("analysis of %s failed", request.name, exc_info=exc)
            self.state.store_error(request.slice_key, f"{request.name}: {plain_message(exc)}")

    def _on_analysis_finished(self, worker: QtGeneratorWorker) -> None:
        if worker is not self._analysis:
            return
        self._analysis, self._analysis_request = None, None
        self._set_busy(None)
        self._schedule_analysis(0)  # anything still missing (e.g. the user changed the method)

    # completion (for --screenshot and tests) --------------------------------------------------
    def is_view_complete(self) -> bool:
        """True when nothing is loading and the item on screen shows all it will show."""
        if self._loads or self.registry.is_loading:
            return False
        item = self.state.current
        if item is None:
            return bool(self.state.items) or self.registry.predictor is None
        if self.registry.predictor is None:
            return True  # no model: the picture is all there is
        if self.state.error() is not None:
            return True
        return self._analysis is None and self._pending_request() is None

    def _check_completed(self) -> None:
        if self.is_view_complete():
            self.view_completed.emit()

    # ------------------------------------------------------------------------------------
    # Identifiers (only on request)
    # ------------------------------------------------------------------------------------
    def _on_identifiers_requested(self, on: bool) -> None:
        self.state.identifiers.clear()
        self.state.set_display(show_identifiers=on)
        if on and self.state.current is not None:
            self._fetch_identifiers(self.state.current)

    def _fetch_identifiers(self, item: ViewerItem) -> None:
        slc = item.current_slice
        if not item.is_dicom or slc is None:
            return
        worker = QtGeneratorWorker(
            read_identifiers, item.id, Path(slc.source), name="reading identifiers", owner=self
        )
        worker.returned.connect(self._on_identifiers_read)
        self._run_side_job(worker)

    def _on_identifiers_read(self, result: tuple[int, dict[str, str]]) -> None:
        item_id, identifiers = result
        if self.state.display.show_identifiers:
            self.state.identifiers[item_id] = identifiers
            self.metadata_panel.refresh()

    def _run_side_job(self, worker: QtGeneratorWorker) -> None:
        self._side_jobs.append(worker)
        worker.finished.connect(lambda: self._side_jobs.remove(worker))
        worker.start()

    # ------------------------------------------------------------------------------------
    # Keeping: PNG, PDF, batch CSV
    # ------------------------------------------------------------------------------------
    def overlay_image(self) -> np.ndarray | None:
        """The overlay as shown (window, invert, opacity, side by side), or None without one."""
        item = self.state.current
        cam = self.state.cam()
        if item is None or cam is None or item.current_slice is None or self.state.map_withheld():
            return None
        d = self.state.display
        return compose(self._grey(item), cam, d.opacity, d.invert, d.side_by_side)

    def _default_name(self, suffix: str) -> str:
        item = self.state.current
        stem = Path(item.name).stem if item is not None else "scan"
        if item is not None and item.is_series:
            stem += f"_slice{item.position + 1:03d}"
        return str(Path(self.settings.last_folder) / f"{stem}{suffix}")

    def save_overlay_png(self, path: str | Path | None = None) -> Path | None:
        image = self.overlay_image()
        if image is None:
            QMessageBox.information(
                self,
                "No overlay",
                "There is no heat map to save: open a scan and wait for its map (none is drawn "
                "for a \u201cno tumour\u201d answer unless you choose a class to explain).",
            )
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save overlay", self._default_name("_gradcam.png"), "PNG images (*.png)"
            )
            if not chosen:
                return None
            path = chosen
        path = Path(path)
        try:
            save_png(path, image)
        except OSError as exc:
            QMessageBox.warning(self, "Save failed", f"{path}: {exc.strerror or exc}")
            return None
        self.settings.last_folder = str(path.parent)
        self.status_message.emit(f"Overlay saved to {path}")
        return path

    def export_pdf(
        self, path: str | Path | None = None, include_identifiers: bool | None = None
    ) -> QtGeneratorWorker | None:
        """Write the one-page report in a worker; returns it (tests wait on ``finished``)."""
        item, pred = self.state.current, self.state.prediction()
        predictor = self.registry.predictor
        if item is None or pred is None or predictor is None or item.current_slice is None:
            QMessageBox.information(
                self, "Nothing to report", "Open a scan and wait for its prediction first."
            )
            return None
        if path is None:
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Export PDF report", self._default_name("_report.pdf"), "PDF (*.pdf)"
            )
            if not chosen:
                return None
            path = chosen
        identifiers = self.state.identifiers.get(item.id) or {}
        if include_identifiers is None:
            include_identifiers = False
            if self.state.display.show_identifiers and identifiers:
                answer = QMessageBox.question(
                    self,
                    "Patient identifiers",
                    "Include the patient identifiers shown in the viewer in the report?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No,
                )
                include_identifiers = answer == QMessageBox.StandardButton.Yes
        report = self._report_contents(
            item, pred, predictor, include_identifiers and bool(identifiers), identifiers
        )
        worker = QtGeneratorWorker(
            write_report, Path(path), name="writing the PDF report", owner=self, **report
        )
        worker.returned.connect(self._on_report_written)
        worker.errored.connect(partial(self._on_report_errored, Path(path)))
        self._run_side_job(worker)
        return worker

    def _report_contents(
        self,
        item: ViewerItem,
        pred: Any,
        predictor: Any,
        include: bool,
        identifiers: dict[str, str],
    ) -> dict[str, Any]:
        """Everything the report shows, captured now on the GUI thread (the worker writes it)."""
        d = self.state.display
        grey = self._grey(item)
        grey = 1.0 - grey if d.invert else grey
        cam = None if self.state.map_withheld() else self.state.cam()
        overlay = None
        if cam is not None:
            from trainer.api import render_overlay  # matplotlib's colour map: on first use

            overlay = render_overlay(grey, cam, opacity=d.opacity)
        source = _report_source(item, include)
        window = item.window
        method = CAM_LABELS[d.cam_method] if d.cam_method else f"default ({predictor.map_spec})"
        extra = [
            f"Heat map: {method}; target class: "
            f"{d.target if d.target != PREDICTED else 'predicted class'}; opacity {d.opacity:.0%}"
            if cam is not None
            else "Heat map: not drawn (a \u201cno tumour\u201d answer has no lesion to point at)",
            f"Display window: C {window.center:g} / W {window.width:g}"
            if window
            else "Display window: the file's own",
        ]
        if d.invert:
            extra.append("Display inverted")
        return {
            "grey01": grey,
            "overlay_rgb": overlay,
            "prediction_dict": pred.to_json(),
            "model_meta": dict(predictor.meta),
            "source_label": source,
            "extra_lines": extra,
            "include_identifiers": include,
            "identifiers": identifiers if include else None,
            "series": self._series_strip(item),
        }

    def _series_strip(self, item: ViewerItem) -> SeriesStrip | None:
        """The strip and summary for the report of a series slice, as the viewer shows them."""
        if not item.is_series or item.scan is None:
            return None
        series = item.scan.series
        return SeriesStrip(
            title=series.title if series is not None else item.scan.description,
            summary=self.state.series_summary(item),
            calls=tuple(self.state.slice_calls(item)),
            classes=tuple(self.state.classes),
            current=item.position,
        )

    def _on_report_written(self, path: Path) -> None:
        self.settings.last_folder = str(Path(path).parent)
        self.status_message.emit(f"Report saved to {path}")

    def _on_report_errored(self, path: Path, exc: Exception) -> None:
        QMessageBox.warning(self, "Report failed", f"{path}: {plain_message(exc)}")

    def classify_all(self) -> QtBatchDialog | None:
        if self.registry.predictor is None:
            QMessageBox.information(self, "No model", "No model is loaded yet.")
            return None
        if not self.state.items:
            QMessageBox.information(self, "Nothing loaded", "Open or drop some scans first.")
            return None
        self.batch_dialog = QtBatchDialog(self.state, self.registry, self.settings, self)
        self.batch_dialog.show()
        self.batch_dialog.start()
        return self.batch_dialog

    # ------------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Ask every worker of this tab to stop (the app waits for them at exit)."""
        self._analysis_timer.stop()
        for worker in [
            *self._loads,
            *self._side_jobs,
            *([self._analysis] if self._analysis else []),
        ]:
            worker.quit()


def _covers(running: AnalysisRequest | None, pending: AnalysisRequest) -> bool:
    """Does the running job already compute everything ``pending`` asks for?"""
    return (
        running is not None
        and running.slice_key == pending.slice_key
        and (running.want_prediction or not pending.want_prediction)
        and (pending.cam_key is None or pending.cam_key == running.cam_key)
    )


def _report_source(item: ViewerItem, include_identifiers: bool) -> str:
    """How the report names the image. DICOM folders and files are often named after the
    patient, so a DICOM scan is named by its (scrubbed) series description unless the user
    asked for identifiers; an image file by its file name."""
    where = f", slice {item.position + 1} of {item.n_slices}" if item.is_series else ""
    if item.is_dicom and not include_identifiers and item.scan is not None:
        return f"{item.scan.description or 'DICOM image'}{where}"
    return f"{item.name}{where}"
