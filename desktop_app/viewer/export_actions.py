"""The viewer's exports as the user asks for them: the overlay PNG, the PDF report, the batch
table's CSV; and the identifier reads that a report may include.

This is the Qt side (where to save, what to say when it fails, workers for the slow parts);
the files themselves are written by ``export.py`` (Qt-free, atomic). Everything a report
shows is captured on the GUI thread when the user asks, so that the worker writes exactly
what the screen showed then.

Privacy: identifiers are read only while the user asks to see them ("Show patient
identifiers"), and a report holds them only when the user says yes once more at export time.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from desktop_app.messages import plain_message
from desktop_app.models import QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.viewer.analysis import compose
from desktop_app.viewer.display import GreyLayer
from desktop_app.viewer.export import read_identifiers, save_png, write_csv, write_report
from desktop_app.viewer.state import CAM_LABELS, PREDICTED, QtViewerState, ViewerItem
from desktop_app.workers import QtGeneratorWorker
from trainer.api import SeriesStrip

if TYPE_CHECKING:
    from trainer.api import Prediction, Predictor

__all__ = ["QtViewerExports", "export_csv", "report_source"]


class QtViewerExports(QObject):
    """The viewer's overlay PNG and PDF report, and the identifier reads, in side jobs."""

    status_message = Signal(str)  # "Report saved to ...": for the status bar
    identifiers_read = Signal()  # the metadata panel shows them now

    def __init__(
        self,
        widget: QWidget,
        state: QtViewerState,
        registry: QtModelRegistry,
        settings: AppSettings,
        grey_layer: GreyLayer,
    ) -> None:
        super().__init__(widget)
        self.widget = widget  # parent of the dialogs, owner of the workers
        self.state = state
        self.registry = registry
        self.settings = settings
        self.grey_layer = grey_layer
        self._side_jobs: list[QtGeneratorWorker] = []

    # -- PNG ---------------------------------------------------------------------------------
    def overlay_image(self) -> np.ndarray | None:
        """The overlay as shown (window, invert, opacity, side by side), or None without one."""
        item = self.state.current
        cam = self.state.cam()
        if item is None or cam is None or item.current_slice is None or self.state.map_withheld():
            return None
        d = self.state.display
        return compose(self.grey_layer.grey01(item), cam, d.opacity, d.invert, d.side_by_side)

    def default_name(self, suffix: str) -> str:
        item = self.state.current
        stem = Path(item.name).stem if item is not None else "scan"
        if item is not None and item.is_series:
            stem += f"_slice{item.position + 1:03d}"
        return str(Path(self.settings.last_folder) / f"{stem}{suffix}")

    def save_overlay_png(self, path: str | Path | None = None) -> Path | None:
        image = self.overlay_image()
        if image is None:
            QMessageBox.information(
                self.widget,
                "No overlay",
                "There is no heat map to save: open a scan and wait for its map (none is drawn "
                "for a \u201cno tumour\u201d answer unless you choose a class to explain).",
            )
            return None
        if path is None:
            path = _ask_save_path(
                self.widget, "Save overlay", self.default_name("_gradcam.png"), "PNG images (*.png)"
            )
            if path is None:
                return None
        path = Path(path)
        try:
            save_png(path, image)
        except OSError as exc:
            QMessageBox.warning(self.widget, "Save failed", f"{path}: {exc.strerror or exc}")
            return None
        self.settings.last_folder = str(path.parent)
        self.status_message.emit(f"Overlay saved to {path}")
        return path

    # -- PDF ---------------------------------------------------------------------------------
    def export_pdf(
        self, path: str | Path | None = None, include_identifiers: bool | None = None
    ) -> QtGeneratorWorker | None:
        """Write the one-page report in a worker; returns it (tests wait on ``finished``)."""
        item, pred = self.state.current, self.state.prediction()
        predictor = self.registry.predictor
        if item is None or pred is None or predictor is None or item.current_slice is None:
            QMessageBox.information(
                self.widget, "Nothing to report", "Open a scan and wait for its prediction first."
            )
            return None
        if path is None:
            path = _ask_save_path(
                self.widget, "Export PDF report", self.default_name("_report.pdf"), "PDF (*.pdf)"
            )
            if path is None:
                return None
        identifiers = self.state.identifiers.get(item.id) or {}
        if include_identifiers is None:
            include_identifiers = False
            if self.state.display.show_identifiers and identifiers:
                answer = QMessageBox.question(
                    self.widget,
                    "Patient identifiers",
                    "Include the patient identifiers shown in the viewer in the report?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                    QMessageBox.StandardButton.No,
                )
                include_identifiers = answer == QMessageBox.StandardButton.Yes
        report = self.report_contents(
            item, pred, predictor, include_identifiers and bool(identifiers), identifiers
        )
        worker = QtGeneratorWorker(
            write_report, Path(path), name="writing the PDF report", owner=self.widget, **report
        )
        worker.returned.connect(self._on_report_written)
        worker.errored.connect(partial(self._on_report_errored, Path(path)))
        self._run_side_job(worker)
        return worker

    def report_contents(
        self,
        item: ViewerItem,
        pred: Prediction,
        predictor: Predictor,
        include: bool,
        identifiers: dict[str, str],
    ) -> dict[str, Any]:
        """Everything the report shows, captured now on the GUI thread (the worker writes it)."""
        d = self.state.display
        grey = self.grey_layer.grey01(item)
        grey = 1.0 - grey if d.invert else grey
        cam = None if self.state.map_withheld() else self.state.cam()
        overlay = None
        if cam is not None:
            from trainer.api import render_overlay  # matplotlib's colour map: on first use

            overlay = render_overlay(grey, cam, opacity=d.opacity)
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
            "prediction": pred,
            "model": predictor.info,
            "source_label": report_source(item, include),
            "extra_lines": extra,
            "include_identifiers": include,
            "identifiers": identifiers if include else None,
            "series": self.series_strip(item),
        }

    def series_strip(self, item: ViewerItem) -> SeriesStrip | None:
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
        QMessageBox.warning(self.widget, "Report failed", f"{path}: {plain_message(exc)}")

    # -- identifiers (only on request) -----------------------------------------------------------
    def show_identifiers(self, on: bool) -> None:
        self.state.identifiers.clear()
        self.state.set_display(show_identifiers=on)
        if on and self.state.current is not None:
            self.fetch_identifiers(self.state.current)

    def fetch_identifiers(self, item: ViewerItem) -> None:
        slc = item.current_slice
        if not item.is_dicom or slc is None:
            return
        worker = QtGeneratorWorker(
            read_identifiers,
            item.id,
            Path(slc.source),
            name="reading identifiers",
            owner=self.widget,
        )
        worker.returned.connect(self._on_identifiers_read)
        self._run_side_job(worker)

    def _on_identifiers_read(self, result: tuple[int, dict[str, str]]) -> None:
        item_id, identifiers = result
        if self.state.display.show_identifiers:
            self.state.identifiers[item_id] = identifiers
            self.identifiers_read.emit()

    # -- side jobs -------------------------------------------------------------------------------
    def _run_side_job(self, worker: QtGeneratorWorker) -> None:
        self._side_jobs.append(worker)
        worker.finished.connect(lambda: self._side_jobs.remove(worker))
        worker.start()

    def shutdown(self) -> None:
        """Ask the side jobs to stop (the app waits for them at exit)."""
        for worker in list(self._side_jobs):
            worker.quit()


def report_source(item: ViewerItem, include_identifiers: bool) -> str:
    """How the report names the image. DICOM folders and files are often named after the
    patient, so a DICOM scan is named by its (scrubbed) series description unless the user
    asked for identifiers; an image file by its file name."""
    where = f", slice {item.position + 1} of {item.n_slices}" if item.is_series else ""
    if item.is_dicom and not include_identifiers and item.scan is not None:
        return f"{item.scan.description or 'DICOM image'}{where}"
    return f"{item.name}{where}"


def export_csv(
    parent: QWidget,
    settings: AppSettings,
    rows: list[dict[str, Any]],
    classes: list[str],
    path: str | Path | None = None,
) -> Path | None:
    """The batch table (``BatchRow.to_json()`` rows) as CSV, asking where when ``path`` is
    None; on failure say why (naming the file) and return None."""
    if path is None:
        start = str(Path(settings.last_folder) / "predictions.csv")
        path = _ask_save_path(parent, "Export CSV", start, "CSV files (*.csv)")
        if path is None:
            return None
    path = Path(path)
    try:
        write_csv(path, rows, classes)
    except OSError as exc:
        QMessageBox.warning(parent, "Export failed", f"{path}: {exc.strerror or exc}")
        return None
    settings.last_folder = str(path.parent)
    return path


def _ask_save_path(parent: QWidget, title: str, start: str, filters: str) -> Path | None:
    chosen, _ = QFileDialog.getSaveFileName(parent, title, start, filters)
    return Path(chosen) if chosen else None
