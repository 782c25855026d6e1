"""Classify every loaded item into a table, and export the table as CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.models import QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.viewer.analysis import BatchRow, classify_all
from desktop_app.viewer.export_actions import export_csv
from desktop_app.viewer.state import QtViewerState
from desktop_app.workers import QtGeneratorWorker
from trainer import NOT_FOR_CLINICAL_USE

__all__ = ["QtBatchDialog"]


class QtBatchDialog(QDialog):
    """Runs :func:`classify_all` in a worker; rows appear as they are ready.

    Predictions also go into the viewer's cache, so the item list shows them afterwards.
    """

    completed = Signal()

    def __init__(
        self,
        state: QtViewerState,
        registry: QtModelRegistry,
        settings: AppSettings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Classify all loaded items")
        self.resize(900, 520)
        self.state = state
        self.registry = registry
        self.settings = settings
        self.rows: list[BatchRow] = []
        self.classes = list(registry.predictor.classes) if registry.predictor else []
        self.table = QTableWidget(0, 5 + len(self.classes))
        self.table.setHorizontalHeaderLabels(
            ["File", "Slice", "Predicted", *self.classes, "Not like an MRI", "Warnings / error"]
        )
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, max(1, self._total()))
        note = QLabel(NOT_FOR_CLINICAL_USE)
        note.setStyleSheet("QLabel { color: #f0c060; font-weight: bold; }")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setEnabled(False)
        self.buttons.addButton(self.export_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.progress)
        layout.addWidget(note)
        layout.addWidget(self.buttons)
        self.buttons.rejected.connect(self.reject)
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.worker: QtGeneratorWorker | None = None
        self.predictor: Any = None

    def _total(self) -> int:
        return sum(max(1, i.n_slices) for i in self.state.items)

    def start(self) -> None:
        predictor = self.registry.predictor
        if predictor is None:
            self.progress.setFormat("No model loaded")
            return
        self.predictor = predictor
        self.worker = QtGeneratorWorker(
            classify_all,
            predictor,
            list(self.state.items),
            dict(self.state.predictions),
            name="classify all",
            owner=self,
        )
        self.worker.yielded.connect(self._on_yielded)
        self.worker.finished.connect(self._on_finished)
        self.worker.errored.connect(self._on_errored)
        self.worker.start()

    def _on_yielded(self, rows: list[BatchRow]) -> None:
        """One batch's rows, added with the table's painting held (one repaint per batch)."""
        same_model = self.registry.predictor is self.predictor  # else the cache is another's
        self.table.setUpdatesEnabled(False)
        try:
            for row in rows:
                self.rows.append(row)
                if same_model and row.prediction is not None and row.position is not None:
                    key = (row.item_id, row.position)
                    if key not in self.state.predictions:
                        self.state.store_prediction(key, row.prediction)
                self._add_row(row)
        finally:
            self.table.setUpdatesEnabled(True)
        self.progress.setValue(len(self.rows))

    def _add_row(self, row: BatchRow) -> None:
        r = self.table.rowCount()
        self.table.insertRow(r)
        pred = row.prediction
        cells = [Path(row.path).name, "" if row.slice_index is None else str(row.slice_index)]
        if pred is not None:
            cells.append(pred.predicted_class)
            cells += [f"{pred.probabilities.get(c, 0.0):.1%}" for c in self.classes]
            cells.append("yes" if pred.ood else "")
            cells.append("; ".join(w.text for w in pred.warnings))
        else:
            cells += ["—", *[""] * len(self.classes), "", row.error or ""]
        for c, text in enumerate(cells):
            cell = QTableWidgetItem(text)
            cell.setToolTip(row.path if c == 0 else text)
            if pred is None and c == len(cells) - 1:
                cell.setForeground(Qt.GlobalColor.red)
            self.table.setItem(r, c, cell)

    def _on_finished(self) -> None:
        self.progress.setValue(self.progress.maximum())
        self.export_button.setEnabled(bool(self.rows))
        self.completed.emit()

    def _on_errored(self, exc: Exception) -> None:
        QMessageBox.warning(self, "Classification stopped", plain_message(exc))

    def export_csv(self, path: Path | None = None) -> Path | None:
        """Write the table (asking where when ``path`` is None); on failure say why (naming
        the file) and return None."""
        rows = [r.to_json() for r in self.rows]
        return export_csv(self, self.settings, rows, self.classes, path)

    def done(self, result: int) -> None:
        if self.worker is not None:
            self.worker.quit()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.worker is not None:
            self.worker.quit()
        super().closeEvent(event)
