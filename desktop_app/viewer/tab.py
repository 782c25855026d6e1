"""The Viewer tab: drop scans, see the prediction and the Grad-CAM, export.

Layout and wiring only; each part of the work lives next to it:

* ``jobs.py``: **loading** (one worker per open/drop) and the **analysis** (one worker at a
  time), which runs what the Qt-free planner (``planner.py``) decides: what to classify next,
  and when a running job has gone stale;
* ``export_actions.py``: the **exports** (overlay PNG, PDF report, the batch table's CSV) and
  the **identifier reads**, small jobs that must not block either (the batch table itself
  is ``batch.py``);
* ``display.py``: what the canvas shows of the state (grey layer, corner texts); ``bars.py``:
  the toolbar above the canvas and the slice bar below it.

Every widget reads and changes ``QtViewerState`` (``state.py``), never another widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.models import ModelEntry, QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.viewer.bars import QtSliceBar, QtViewToolbar
from desktop_app.viewer.batch import QtBatchDialog
from desktop_app.viewer.canvas import QtImageCanvas
from desktop_app.viewer.display import GreyLayer, corner_text
from desktop_app.viewer.export_actions import QtViewerExports
from desktop_app.viewer.item_list import QtItemList
from desktop_app.viewer.jobs import SLICE_DEBOUNCE_MS, QtAnalysisRunner, QtLoads
from desktop_app.viewer.panels import QtCamControls, QtMetadataPanel, QtPredictionPanel
from desktop_app.viewer.state import QtViewerState, ViewerItem
from desktop_app.workers import QtGeneratorWorker

__all__ = ["IMAGE_FILTER", "QtViewerTab"]

IMAGE_FILTER = (
    "Scans (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.dcm *.dicom *.ima DICOMDIR);;"
    "DICOM files (*.dcm *.dicom *.ima DICOMDIR);;All files (*)"
)


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
        self.loads = QtLoads(self, self.state)
        self.analysis = QtAnalysisRunner(self, self.state, registry)
        self.planner = self.analysis.planner  # what it runs next (plain Python)
        self.grey_layer = GreyLayer(self.state.display)
        self.exports = QtViewerExports(self, self.state, registry, settings, self.grey_layer)
        self.batch_dialog: QtBatchDialog | None = None
        self._measured_on: tuple[int, int] | None = None  # the slice the canvas's line is on
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        if registry.predictor is not None:
            self.state.set_classes(registry.predictor.classes, registry.predictor.info)

    # ------------------------------------------------------------------------------------
    # Layout
    # ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.item_list = QtItemList(self.state)
        self.canvas = QtImageCanvas()
        self.prediction_panel = QtPredictionPanel(self.state)
        self.cam_controls = QtCamControls(self.state)
        self.metadata_panel = QtMetadataPanel(self.state)
        self.toolbar = QtViewToolbar(self.state, self.canvas)
        self.slice_bar = QtSliceBar(self.state)
        # the controls tests and the main window's menus reach for
        self.preset_box, self.invert_box = self.toolbar.preset_box, self.toolbar.invert_box
        self.measure_button = self.toolbar.measure_button
        self.clear_measure_button = self.toolbar.clear_measure_button
        self.slice_slider, self.cine_button = self.slice_bar.slider, self.slice_bar.cine_button
        self.strip = self.slice_bar.strip

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
        center_layout.addWidget(self.toolbar)
        center_layout.addWidget(self.canvas, 1)
        center_layout.addWidget(self.slice_bar)

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
        for index, (widget, stretch) in enumerate([(left, 0), (center, 1), (right, 0)]):
            splitter.addWidget(widget)
            splitter.setStretchFactor(index, stretch)
        splitter.setSizes([230, 760, 330])
        self.splitter = splitter
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    def _connect(self) -> None:
        s = self.state
        s.current_changed.connect(self._on_current_changed)
        s.view_changed.connect(self._on_view_changed)
        self.canvas.slice_stepped.connect(self.slice_bar.step)
        self.canvas.slice_jumped.connect(self.slice_bar.jump)
        self.canvas.cine_toggled.connect(self.slice_bar.toggle_cine)
        self.canvas.zoom_changed.connect(self._on_zoom_changed)
        self.slice_bar.moved.connect(lambda: self.analysis.schedule(SLICE_DEBOUNCE_MS))
        self.analysis.busy_changed.connect(self._on_busy_changed)
        self.analysis.idle.connect(self._check_completed)
        self.loads.all_done.connect(self._check_completed)
        self.loads.status_message.connect(self.status_message)
        self.toolbar.status_message.connect(self.status_message)
        self.exports.status_message.connect(self.status_message)
        self.exports.identifiers_read.connect(self.metadata_panel.refresh)
        self.metadata_panel.identifiers_requested.connect(self.exports.show_identifiers)
        self.registry.active_model_changed.connect(self._on_active_model_changed)
        self.registry.loading_started.connect(self._on_model_loading_started)
        self.registry.errored.connect(self._on_model_errored)

    def toggle_cine(self) -> None:
        """Play or pause the series (space over the image)."""
        self.slice_bar.toggle_cine()

    def reset_window(self) -> None:
        """Back to the file's own window/level (double-click, or R)."""
        self.toolbar.reset_window()

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
        self.loads.start(paths)

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
        self.analysis.cancel()
        self.grey_layer.clear()
        self.state.clear()

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
        self.analysis.cancel()  # what it computes is the old model's
        predictor = self.registry.predictor
        self.prediction_panel.set_model_problem(None)
        if predictor is not None:
            self.state.set_classes(predictor.classes, predictor.info)
        else:
            self.state.set_classes([])
        self.status_message.emit(f"Model ready: {entry.summary}")
        self.analysis.schedule(0)

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
        self.grey_layer.clear()
        if item is not None and self.state.display.show_identifiers:
            self.exports.fetch_identifiers(item)

    def _on_view_changed(self) -> None:
        item = self.state.current
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
        self.canvas.set_picture(self.grey_layer.shown_u8(item), heat, d.opacity, d.side_by_side)
        self._update_corners(item)
        if self.settings.opacity != d.opacity:
            self.settings.opacity = d.opacity
        if self.settings.cam_method != d.cam_method:
            self.settings.cam_method = d.cam_method

    def _update_corners(self, item: ViewerItem) -> None:
        geometry = item.current_slice.geometry if item.current_slice is not None else None
        self.canvas.set_reading_aids(
            geometry.markers() if geometry is not None else {},
            geometry.spacing if geometry is not None else None,  # (rows, columns) in mm
        )
        self.canvas.set_corner_text(**corner_text(self.state, item, self.canvas.zoom))

    def _on_zoom_changed(self, _zoom: float) -> None:
        if self.state.current is not None and self.state.current.current_slice is not None:
            self._update_corners(self.state.current)

    # completion (for --screenshot and tests) --------------------------------------------------
    def is_view_complete(self) -> bool:
        """True when nothing is loading and the item on screen shows all it will show."""
        if self.loads.workers or self.registry.is_loading:
            return False
        item = self.state.current
        if item is None:
            return bool(self.state.items) or self.registry.predictor is None
        if self.registry.predictor is None:
            return True  # no model: the picture is all there is
        if self.state.error() is not None:
            return True
        return self.planner.is_idle()

    def _on_busy_changed(self, predicting: bool, explaining: bool) -> None:
        self.prediction_panel.set_busy(predicting)
        self.cam_controls.set_busy(explaining)

    def _check_completed(self) -> None:
        if self.is_view_complete():
            self.view_completed.emit()

    # ------------------------------------------------------------------------------------
    # Keeping: PNG and PDF (export_actions.py), the batch table (batch.py)
    # ------------------------------------------------------------------------------------
    def overlay_image(self) -> np.ndarray | None:
        """The overlay as shown (window, invert, opacity, side by side), or None without one."""
        return self.exports.overlay_image()

    def save_overlay_png(self, path: str | Path | None = None) -> Path | None:
        return self.exports.save_overlay_png(path)

    def export_pdf(
        self, path: str | Path | None = None, include_identifiers: bool | None = None
    ) -> QtGeneratorWorker | None:
        """Write the one-page report in a worker; returns it (tests wait on ``finished``)."""
        return self.exports.export_pdf(path, include_identifiers)

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
        self.loads.shutdown()
        self.exports.shutdown()
        self.analysis.shutdown()
