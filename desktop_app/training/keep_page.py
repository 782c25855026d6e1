"""Step 5, Keep: name the model, save it in the user's models folder with its run's reports,
and make it the viewer's active model."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.training.runs import RunResults, keep_model, model_folder_for
from trainer.api import user_models_dir

# Below this test accuracy a model is never made the viewer's model without asking (a "Quick
# check" run scores about 33 %: four classes, near chance).
LOW_ACCURACY = 0.80


class QtKeepPage(QWidget):
    """Saves a finished run as a named model and hands it to the model registry."""

    model_kept = Signal(str)  # path of the kept model file
    model_activated = Signal(str)

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
        for b in (self.save_button, self.use_button, self.open_button):
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
        for w in (self.name_edit, self.save_button, self.use_button):
            w.setEnabled(enabled)
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
            path = keep_model(self.results.run_dir, self.name_edit.text(), user_models_dir())
        except (ValueError, OSError) as exc:
            self.status_label.setText(f"<b>Not saved:</b> {html.escape(str(exc))}")
            return None
        self.kept_path = path
        self.where_caption.setText("Saved to:")
        self.name_edit.setEnabled(False)
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
