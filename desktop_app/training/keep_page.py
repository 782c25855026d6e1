"""Step 5, Keep: name the model, write notes into it, save it in the user's models folder with
its run's reports, make it the viewer's active model, and export it as ONNX for use outside
the app (inference only)."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.training.runs import RunResults, keep_model, model_folder_for
from desktop_app.workers import QtGeneratorWorker
from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import export_onnx, os_error_text, user_models_dir

NOTES_MAX_LINES, NOTE_MAX_CHARS = 20, 500


def note_lines(text: str) -> list[str]:
    """The notes box as the model file keeps them: one string per non-empty line."""
    lines = [line.strip()[:NOTE_MAX_CHARS] for line in text.splitlines()]
    return [line for line in lines if line][:NOTES_MAX_LINES]


def onnx_job(model: Path, dest: Path) -> Iterator[str]:
    """Worker body: the ONNX export takes seconds (the graph is traced once)."""
    yield "exporting"
    return export_onnx(model, dest)


# Below this test accuracy a model is never made the viewer's model without asking (a "Quick
# check" run scores about 33 %: four classes, near chance).
LOW_ACCURACY = 0.80


class QtKeepPage(QWidget):
    """Saves a finished run as a named model and hands it to the model registry."""

    model_kept = Signal(str)  # path of the kept model file
    model_activated = Signal(str)
    onnx_exported = Signal(str)  # path of the ONNX file

    def __init__(self, registry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.results: RunResults | None = None
        self.kept_path: Path | None = None
        layout = QVBoxLayout(self)
        box = QGroupBox("Keep this model")
        form = QFormLayout(box)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. B3 paper recipe, my hospital's data")
        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        form.addRow("Name:", self.name_edit)
        self.where_label = QLabel()
        self.where_label.setWordWrap(True)
        self.where_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.where_label.setTextFormat(Qt.TextFormat.RichText)
        self.notes_edit = QPlainTextEdit()
        self.notes_edit.setPlaceholderText(
            "Notes kept inside the model file, one per line: what it was trained for, on "
            "which data, what to watch for."
        )
        self.notes_edit.setMaximumHeight(90)
        form.addRow("Notes:", self.notes_edit)
        self.where_caption = QLabel("Will be saved to:")
        form.addRow(self.where_caption, self.where_label)
        buttons = QHBoxLayout()
        self.save_button = QPushButton("Save model")
        self.save_button.clicked.connect(self._on_save_button_clicked)
        self.use_button = QPushButton("Use in viewer")
        self.use_button.setToolTip("Save the model (if not yet saved) and make it the active model")
        self.use_button.clicked.connect(self._on_use_button_clicked)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.onnx_button = QPushButton("Export as ONNX…")
        self.onnx_button.setToolTip(
            "Save the model (if not yet saved) and write a copy for other programs (ONNX, "
            "inference only), with a description of its input beside it"
        )
        self.onnx_button.clicked.connect(self._on_onnx_button_clicked)
        self._onnx_worker: QtGeneratorWorker | None = None
        for b in (self.save_button, self.use_button, self.open_button, self.onnx_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        form.addRow(buttons)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        form.addRow(self.status_label)
        layout.addWidget(box)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(self.summary_label)
        layout.addStretch(1)
        self.set_results(None)

    def set_results(self, results: RunResults | None) -> None:
        self.results = results
        self.kept_path = None
        self.where_caption.setText("Will be saved to:")
        enabled = results is not None and results.model_path.is_file()
        for w in (self.name_edit, self.notes_edit, self.save_button, self.use_button):
            w.setEnabled(enabled)
        self.onnx_button.setEnabled(enabled)
        self.notes_edit.setPlainText("")
        self.open_button.setEnabled(False)
        self.status_label.setText("" if enabled else "Finish a training run first.")
        if results is not None:
            self.name_edit.setText(results.run_dir.name)
            acc = results.test.get("accuracy")
            text = f"Run folder: {results.run_dir}"
            if isinstance(acc, float):
                text += f"\nTest accuracy: {acc:.2%} on {results.test.get('n', '?')} images"
            self.summary_label.setText(text)
        self._on_name_edit_text_changed(self.name_edit.text())

    def _on_name_edit_text_changed(self, text: str) -> None:
        try:
            folder = model_folder_for(text)
        except ValueError:
            self.where_label.setText("(give the model a name)")
            return
        taken = (
            " — <b>a model with this name exists</b>"
            if folder.exists() and self.kept_path is None
            else ""
        )
        self.where_label.setText(f"{html.escape(str(folder))}{taken}")

    def save(self) -> Path | None:
        """Save under the chosen name; returns the model file, or None (message shown)."""
        if self.kept_path is not None:
            return self.kept_path
        if self.results is None:
            return None
        try:
            path = keep_model(
                self.results.run_dir,
                self.name_edit.text(),
                user_models_dir(),
                notes=note_lines(self.notes_edit.toPlainText()),
            )
        except (ValueError, OSError) as exc:
            # an OSError in words ("…/model.safetensors: the disk is full"), not "[Errno 28] …";
            # keep_model's own ("a model named … already exists") reads as it is
            why = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            self.status_label.setText(f"<b>Not saved:</b> {html.escape(why)}")
            return None
        self.kept_path = path
        self.where_caption.setText("Saved to:")
        self.name_edit.setEnabled(False)
        self.notes_edit.setEnabled(False)
        self.save_button.setEnabled(False)
        self.open_button.setEnabled(True)
        self.status_label.setText(f"Saved: {html.escape(str(path))}")
        self.model_kept.emit(str(path))
        return path

    def accuracy_concern(self) -> str | None:
        """Why this model should not silently replace the viewer's model, or None."""
        if self.results is None:
            return None
        acc = self.results.test.get("accuracy")
        active = getattr(self.registry, "active", None)
        active_acc = getattr(active, "test_accuracy", None)
        if not isinstance(acc, (int, float)):
            return "Its test accuracy is unknown."
        if acc < LOW_ACCURACY:
            return (
                f"Its test accuracy is {acc:.1%}: it is wrong on more than one test image "
                f"in {round(1 / max(1 - acc, 1e-9))}."
            )
        if isinstance(active_acc, (int, float)) and acc < active_acc:
            return (
                f"Its test accuracy, {acc:.1%}, is lower than that of the model the viewer "
                f"uses now ({active_acc:.1%})."
            )
        return None

    def confirm_use(self, concern: str) -> bool:
        """Ask before a weak model becomes the viewer's (and the next start's) model."""
        answer = QMessageBox.question(
            self,
            "Use this model in the viewer?",
            f"{concern}\n\nUse it in the viewer anyway? It then stays the viewer's model, "
            "also after a restart, until you choose another one in the Model menu.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def use_in_viewer(self, confirmed: bool = False) -> bool:
        """Save the model and make it the viewer's; a model with a low test accuracy only
        after the user confirmed (``confirmed`` says that a caller already asked)."""
        concern = self.accuracy_concern()
        if concern is not None and not confirmed and not self.confirm_use(concern):
            self.status_label.setText("Not used in the viewer: the viewer keeps its model.")
            return False
        path = self.save()
        if path is None:
            return False
        try:
            self.registry.add_model(path, activate=True)
        except Exception as exc:  # ModelFileError and anything the registry raises: say it
            self.status_label.setText(
                f"<b>Saved, but the viewer could not use it:</b> {html.escape(str(exc))}"
            )
            return False
        self.status_label.setText(f"Saved and active in the viewer: {html.escape(str(path))}")
        self.model_activated.emit(str(path))
        return True

    def _on_save_button_clicked(self) -> None:
        self.save()

    def _on_use_button_clicked(self) -> None:
        self.use_in_viewer()

    def _on_open_button_clicked(self) -> None:
        if self.kept_path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.kept_path.parent)))

    # ------------------------------------------------------------------ ONNX
    def export_onnx(self, dest: str | Path) -> bool:
        """Save the model, then export it to ``dest`` in a worker; False when not started."""
        if self._onnx_worker is not None and self._onnx_worker.is_running:
            return False
        path = self.save()
        if path is None:
            return False
        dest = Path(dest).with_suffix(".onnx")
        worker = QtGeneratorWorker(onnx_job, path, dest, name="ONNX export", owner=self)
        worker.returned.connect(self._on_onnx_returned)
        worker.errored.connect(self._on_onnx_errored)
        self._onnx_worker = worker
        self.onnx_button.setEnabled(False)
        self.status_label.setText("Exporting for other programs…")
        worker.start()
        return True

    def _on_onnx_returned(self, dest: object) -> None:
        self.onnx_button.setEnabled(True)
        side = Path(str(dest)).with_suffix(".json")
        self.status_label.setText(
            f"Exported: {html.escape(str(dest))} (inference only; how to feed it is in "
            f"{html.escape(side.name)} beside it). {html.escape(NOT_FOR_CLINICAL_USE)}"
        )
        self.onnx_exported.emit(str(dest))

    def _on_onnx_errored(self, exc: BaseException) -> None:
        self.onnx_button.setEnabled(True)
        self.status_label.setText(f"<b>Not exported:</b> {html.escape(plain_message(exc))}")

    def _on_onnx_button_clicked(self) -> None:
        start = self.kept_path.with_suffix(".onnx") if self.kept_path else Path("model.onnx")
        dest, _ = QFileDialog.getSaveFileName(self, "Export as ONNX", str(start), "ONNX (*.onnx)")
        if dest:
            self.export_onnx(dest)

    def shutdown(self, timeout_s: float = 30.0) -> bool:
        """Wait for an ONNX export still running (exit, tests)."""
        worker = self._onnx_worker
        return worker is None or not worker.is_running or worker.wait(timeout_s)
