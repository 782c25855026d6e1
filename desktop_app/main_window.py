"""The main window: Viewer and Training tabs, menus, and a status bar that never hides that
this is not a clinical device."""

from __future__ import annotations

import html
import logging
from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QDesktopServices, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop_app.gc_guard import install_gc_guard
from desktop_app.models import ModelEntry, QtModelRegistry
from desktop_app.practice import QtPracticeTab
from desktop_app.settings import AppSettings
from desktop_app.skipped import QtSkippedButton
from desktop_app.training import QtTrainingTab
from desktop_app.viewer import QtViewerTab
from trainer import NOT_FOR_CLINICAL_USE, __version__
from trainer.api import ModelFileError, assets_dir, user_models_dir

__all__ = ["QtMainWindow", "app_icon"]

log = logging.getLogger(__name__)

NOT_CLINICAL_STATUS = "Research and education only — not for clinical use"
WINDOW_TITLE = "Brain MRI viewer — research and education only"


def app_icon() -> QIcon:
    """The app icon from ``assets/icons`` (every size there), or an empty icon."""
    icon = QIcon()
    folder = assets_dir() / "icons"
    for size in (16, 24, 32, 48, 64, 128, 256):
        png = folder / f"brainmri-{size}.png"
        if png.is_file():
            icon.addFile(str(png))
    return icon


class QtMainWindow(QMainWindow):
    """Two tabs, File / Model / Help menus, and the status bar.

    Args:
        registry: the shared model registry (its model loads in the background).
        settings: where geometry, last folder, opacity and CAM method persist.
    """

    def __init__(
        self, registry: QtModelRegistry, settings: AppSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        install_gc_guard()  # Qt objects are never collected off the GUI thread (gc_guard.py)
        self.registry = registry
        self.settings = settings
        self._help_dialog: QDialog | None = None
        self.setWindowTitle(WINDOW_TITLE)
        self.setWindowIcon(app_icon())
        self.tabs = QTabWidget()
        self.viewer = QtViewerTab(registry, settings)
        self.tabs.addTab(self.viewer, "Viewer")
        self.training = QtTrainingTab(registry, self)
        self.tabs.addTab(self.training, "Training")
        self.practice = QtPracticeTab(registry, self)
        self.tabs.addTab(self.practice, "Practice")
        self._connect_training_tab()
        self.setCentralWidget(self.tabs)
        self._fell_back_notice: str | None = None
        self._build_status_bar()
        self._build_menus()
        self.viewer.status_message.connect(self._on_status_message)
        self.viewer.paths_opened.connect(self._on_paths_opened)
        registry.models_changed.connect(self._on_models_changed)
        registry.loading_started.connect(self._on_model_loading_started)
        registry.active_model_changed.connect(self._on_active_model_changed)
        registry.errored.connect(self._on_model_errored)
        registry.fell_back.connect(self._on_model_fell_back)
        # a first start on a small screen (1280×800 laptops) must not open past its edges
        avail = self.screen().availableGeometry() if self.screen() is not None else None
        self.resize(
            min(1360, avail.width()) if avail else 1360, min(860, avail.height()) if avail else 860
        )
        if settings.geometry is not None:
            self.restoreGeometry(settings.geometry)
        if settings.window_state is not None:
            self.restoreState(settings.window_state)
        self._update_skipped()  # after every setting has been read once

    def _connect_training_tab(self) -> None:
        self.training.open_in_viewer_requested.connect(self._on_open_in_viewer_requested)
        self.training.training_state_changed.connect(self._on_training_state_changed)

    def _on_open_in_viewer_requested(self, paths: list[str]) -> None:
        self.tabs.setCurrentWidget(self.viewer)
        self.viewer.open_paths(paths)

    def _on_training_state_changed(self, training: bool) -> None:
        self.setWindowTitle(f"{WINDOW_TITLE} — training…" if training else WINDOW_TITLE)

    # -- status bar ---------------------------------------------------------------------------
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel("Device: —")
        self.model_label = QLabel("Model: loading…")
        self.clinical_label = QLabel(NOT_CLINICAL_STATUS)
        self.clinical_label.setObjectName("notClinical")
        self.clinical_label.setStyleSheet(
            "QLabel#notClinical { color: #ffcf66; font-weight: bold; padding: 0 6px; }"
        )
        for label in (self.device_label, self.model_label):
            label.setStyleSheet("QLabel { padding: 0 6px; }")
        self.skipped_button = QtSkippedButton()  # "2 items skipped — show", when any are
        bar.addPermanentWidget(self.skipped_button)
        bar.addPermanentWidget(self.device_label)
        bar.addPermanentWidget(self.model_label, 1)
        bar.addPermanentWidget(self.clinical_label)

    def _update_skipped(self) -> None:
        """The settings and model files the app could not use, in the status bar's notice."""
        self.skipped_button.set_items([*self.settings.skipped(), *self.registry.skipped])

    def _on_status_message(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _on_model_loading_started(self, entry: ModelEntry) -> None:
        self.model_label.setText(f"Model: loading {entry.summary}…")

    def _on_active_model_changed(self, entry: ModelEntry) -> None:
        predictor = self.registry.predictor
        if predictor is not None:
            self.device_label.setText(predictor.describe_device())
        self.model_label.setText(f"Model: {entry.summary}")
        self.model_label.setToolTip(str(entry.path))
        self._check_active_model_action(entry)
        notice, self._fell_back_notice = self._fell_back_notice, None
        if notice:  # after the viewer's "Model ready", which would otherwise replace it
            self.statusBar().showMessage(notice, 30000)

    def _on_model_fell_back(self, entry: ModelEntry, message: str) -> None:
        self._fell_back_notice = message  # shown once the default has loaded (below)

    def _on_model_errored(self, entry: ModelEntry | None, message: str) -> None:
        active = self.registry.active
        self.model_label.setText(f"Model: {active.summary}" if active else "Model: none")
        self.notify("Model not loaded", message)

    def notify(self, title: str, text: str) -> QMessageBox:
        """A non-modal warning: it can arrive at any time (a model failing to load in the
        background), so it must not stop the event loop, a screenshot run or a test."""
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self
        )
        box.setTextFormat(Qt.TextFormat.PlainText)  # file names and reasons, never HTML
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()
        return box

    # -- menus --------------------------------------------------------------------------------
    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        self._action(file_menu, "&Open files…", self.viewer.open_files_dialog, QKeySequence.Open)
        self._action(file_menu, "Open &folder…", self.viewer.open_folder_dialog, "Ctrl+Shift+O")
        self.recent_menu = file_menu.addMenu("Open &recent")
        self._rebuild_recent()
        file_menu.addSeparator()
        self._action(
            file_menu,
            "&Save overlay as PNG…",
            lambda: self.viewer.save_overlay_png(),
            QKeySequence.Save,
        )
        self._action(file_menu, "Export PDF &report…", lambda: self.viewer.export_pdf(), "Ctrl+P")
        self._action(
            file_menu, "&Classify all loaded items…", self.viewer.classify_all, "Ctrl+Shift+C"
        )
        file_menu.addSeparator()
        self._action(file_menu, "C&lear list…", self.viewer.clear_with_confirmation)
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)

        # Single-key shortcuts as in DICOM viewers, but only while the Viewer tab has the
        # focus, so that typing in the Training tab never triggers them.
        view_menu = menu.addMenu("&View")
        for text, slot, key in (
            ("&Fit to window", self.viewer.canvas.fit, "F"),
            ("&Actual size (1:1)", self.viewer.canvas.actual_size, "1"),
            ("Zoom &in", lambda: self.viewer.canvas.zoom_by(1.25), QKeySequence.ZoomIn),
            ("Zoom &out", lambda: self.viewer.canvas.zoom_by(0.8), QKeySequence.ZoomOut),
            ("&Reset window/level", self.viewer.reset_window, "R"),
            ("&Invert", self.viewer.invert_box.toggle, "I"),
        ):
            action = self._action(view_menu, text, slot, key)
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.viewer.addAction(action)

        self.model_menu = menu.addMenu("&Model")
        self._model_group = QActionGroup(self)
        self._model_group.setExclusive(True)
        self._rebuild_model_menu()

        help_menu = menu.addMenu("&Help")
        self._action(
            help_menu, "&Reading the screen", self.show_reading_help, QKeySequence.HelpContents
        )
        self._action(help_menu, "&About", self.show_about)

    def _action(self, menu: QMenu, text: str, slot: object, shortcut: object = None) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.recent_files
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.viewer.open_paths([p]))
        if recent:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear recent", self._on_clear_recent_triggered)
        self.recent_menu.setEnabled(bool(recent))

    def _on_clear_recent_triggered(self) -> None:
        self.settings.clear_recent()
        self._rebuild_recent()

    def _on_paths_opened(self, _paths: list[str]) -> None:
        self._rebuild_recent()

    def _on_models_changed(self) -> None:
        self._rebuild_model_menu()
        self._update_skipped()

    def _rebuild_model_menu(self) -> None:
        menu = self.model_menu
        menu.clear()
        for action in self._model_group.actions():
            self._model_group.removeAction(action)
        entries = self.registry.models()
        if not any(e.origin == "bundled" for e in entries):
            missing = menu.addAction("Default model (not installed)")
            missing.setEnabled(False)
        for entry in entries:
            action = QAction(entry.label, self, checkable=True)
            action.setData(str(entry.path))
            action.setToolTip(f"{entry.summary}\n{entry.path}")
            action.triggered.connect(lambda _=False, e=entry: self.registry.activate(e))
            self._model_group.addAction(action)
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction("&Open model file…", self.open_model_dialog)
        menu.addAction("Show &models folder", self._on_show_models_folder_triggered)
        if self.registry.active is not None:
            self._check_active_model_action(self.registry.active)

    def _check_active_model_action(self, entry: ModelEntry) -> None:
        for action in self._model_group.actions():
            action.setChecked(Path(action.data()) == entry.path)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a model file", self.settings.last_folder, "Model files (*.safetensors)"
        )
        if path:
            self.open_model(path)

    def open_model(self, path: str | Path) -> ModelEntry | None:
        """Add and activate a model file; a bad file is reported (naming it), nothing breaks."""
        try:
            return self.registry.add_model(path, activate=True)
        except ModelFileError as exc:
            self.notify("Not a model file", str(exc))
            return None

    def _on_show_models_folder_triggered(self) -> None:
        folder = user_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    # -- about --------------------------------------------------------------------------------
    def about_text(self) -> str:
        entry = self.registry.active
        model = entry.summary if entry else "none loaded"
        return (
            f"<h3>Brain MRI viewer {__version__}</h3>"
            "<p>Classifies brain MRI slices into glioma, meningioma, pituitary tumour or no "
            "tumour with a fine-tuned EfficientNet, and shows where the model looked "
            "(Grad-CAM).</p>"
            f"<p><b style='color:#c0392b'>{NOT_FOR_CLINICAL_USE}</b> It is not a medical "
            "device, has not been clinically validated, and must not be used to diagnose, "
            "treat or triage anyone.</p>"
            f"<p>Active model: {html.escape(model)}</p>"
            "<p>Trained on the public Brain Tumor MRI Dataset (M. Nickparvar, CC0; from "
            "Cheng et al. 2015, SARTAJ and Br35H). Open source, MIT licence.</p>"
        )

    def show_reading_help(self) -> QDialog:
        """What the probabilities, the overlay and the warnings mean (non-modal: it can stay
        open beside the image it explains)."""
        from desktop_app.help import (
            PRACTICE,
            PRACTICE_TITLE,
            READING_THE_SCREEN,
            READING_THE_SCREEN_TITLE,
        )

        if self._help_dialog is None:
            dialog = QDialog(self)
            dialog.setWindowTitle(READING_THE_SCREEN_TITLE)
            browser = QTextBrowser()
            browser.setOpenExternalLinks(True)
            browser.setMarkdown(f"{READING_THE_SCREEN}\n## {PRACTICE_TITLE}\n\n{PRACTICE}")
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
            buttons.rejected.connect(dialog.close)
            layout = QVBoxLayout(dialog)
            layout.addWidget(browser)
            layout.addWidget(buttons)
            dialog.resize(640, 620)
            self._help_dialog = dialog
        self._help_dialog.show()
        self._help_dialog.raise_()
        return self._help_dialog

    def show_about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Brain MRI viewer")
        box.setIconPixmap(app_icon().pixmap(64, 64))
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.about_text())
        box.exec()

    # -- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.training.is_training():
            answer = QMessageBox.question(
                self,
                "Training is running",
                "A model is training. Stop it (a resumable state is saved) and quit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.training.shutdown()
        self.practice.shutdown()
        self.settings.geometry = self.saveGeometry()
        self.settings.window_state = self.saveState()
        self.settings.sync()
        self.viewer.shutdown()
        super().closeEvent(event)
