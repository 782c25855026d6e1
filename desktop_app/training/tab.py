"""The Training tab: a five-step wizard (Data, Recipe, Training, Results, Keep).

A list of steps beside a stack of pages rather than a ``QWizard``: a wizard is modal in spirit
(one way forward, Cancel ends it), while a user here goes back to the curves from the results,
or to the data while a run trains. Steps become available as what they show exists.

This class only wires pages to the :class:`~.controller.QtTrainingController`; the pages
render, the controller works, the trainer decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.training.controller import QtTrainingController
from desktop_app.training.data_page import QtDataPage
from desktop_app.training.jobs import SplitPreview
from desktop_app.training.keep_page import QtKeepPage
from desktop_app.training.recipe_page import QtRecipePage
from desktop_app.training.results_page import QtResultsPage
from desktop_app.training.runs import load_results, new_run_dir, resumable_info
from desktop_app.training.state import RunProgress
from desktop_app.training.training_page import QtTrainingPage
from trainer.api import ProbeResult

DATA, RECIPE, TRAINING, RESULTS, KEEP = range(5)
STEP_NAMES = ("1  Data", "2  Recipe", "3  Training", "4  Results", "5  Keep")


class QtTrainingTab(QWidget):
    """Retrain the classifier without a terminal. ``registry`` is the app's model registry
    (:class:`desktop_app.models.QtModelRegistry`): "Use in viewer" calls its ``add_model``."""

    open_in_viewer_requested = Signal(list)  # list[str]: image paths for the viewer
    training_state_changed = Signal(bool)  # True while a run trains (window title, tab icon)

    def __init__(self, registry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.controller = QtTrainingController(self)
        self._start_after_probe = False
        self._probe_failed_key: tuple[Any, ...] | None = None

        self.data_page = QtDataPage()
        self.recipe_page = QtRecipePage()
        self.training_page = QtTrainingPage()
        self.results_page = QtResultsPage()
        self.keep_page = QtKeepPage(registry)
        self._build()
        self._connect()
        self._update_steps()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        self.steps = QListWidget()
        self.steps.setMaximumWidth(150)
        for name in STEP_NAMES:
            self.steps.addItem(QListWidgetItem(name))
        self.steps.currentRowChanged.connect(self._on_steps_current_row_changed)
        self.pages = QStackedWidget()
        for page in (
            self.data_page,
            self.recipe_page,
            self.training_page,
            self.results_page,
            self.keep_page,
        ):
            # The results page (numbers, comparison, matrix, report, gallery) is taller than a
            # 1280 × 800 screen leaves: it scrolls instead of growing the window.
            self.pages.addWidget(_scrolling(page) if page is self.results_page else page)
        self.back_button = QPushButton("← Back")
        self.back_button.clicked.connect(self._on_back_button_clicked)
        self.next_button = QPushButton("Next →")
        self.next_button.clicked.connect(self._on_next_button_clicked)
        nav = QHBoxLayout()
        nav.addStretch(1)
        nav.addWidget(self.back_button)
        nav.addWidget(self.next_button)
        right = QVBoxLayout()
        right.addWidget(self.pages, 1)
        right.addLayout(nav)
        layout = QHBoxLayout(self)
        layout.addWidget(self.steps)
        layout.addLayout(right, 1)
        self.steps.setCurrentRow(DATA)

    def _connect(self) -> None:
        c = self.controller
        self.data_page.data_changed.connect(self._on_data_page_data_changed)
        self.data_page.resume_requested.connect(self._on_resume_requested)
        c.scan_previewed.connect(self._on_controller_scan_previewed)
        c.scan_progressed.connect(self.data_page.show_scan_progress)
        c.scan_finished.connect(self._on_controller_scan_finished)
        c.scan_failed.connect(self._on_controller_scan_failed)

        self.recipe_page.start_requested.connect(self._on_recipe_page_start_requested)
        self.recipe_page.probe_requested.connect(self._on_recipe_page_probe_requested)
        c.probe_progressed.connect(self.recipe_page.show_probe_message)
        c.probe_finished.connect(self._on_controller_probe_finished)
        c.probe_failed.connect(self._on_controller_probe_failed)
        c.weights_unavailable.connect(self._on_controller_weights_unavailable)

        c.event_received.connect(self.training_page.handle_event)
        c.training_ended.connect(self._on_controller_training_ended)
        c.busy_changed.connect(self._on_controller_busy_changed)
        self.training_page.stop_requested.connect(c.stop)
        self.training_page.resume_requested.connect(self._on_training_page_resume_requested)
        self.training_page.results_requested.connect(self._on_training_page_results_requested)
        self.training_page.retry_smaller_batch_requested.connect(self._on_retry_smaller_batch)

        c.misclassified_found.connect(self.results_page.add_misclassified)
        c.misclassified_done.connect(self.results_page.gallery_done)
        c.misclassified_failed.connect(self.results_page.gallery_failed)
        self.results_page.open_in_viewer_requested.connect(self.open_in_viewer_requested)
        self.results_page.keep_requested.connect(self._on_results_page_keep_requested)

    # ------------------------------------------------------------------ the main window's API
    def is_training(self) -> bool:
        return self.controller.is_training()

    def request_stop_and_wait(self, timeout_ms: int) -> bool:
        """Stop a run safely (resumable state saved) and wait up to ``timeout_ms``; True when
        nothing runs any more. The main window calls this from its close event after asking."""
        return self.controller.request_stop_and_wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop every background job of the tab and wait for them (exit, tests)."""
        stopped = self.controller.shutdown(timeout_ms)
        previewed = self.data_page.pictures.shutdown(timeout_s=timeout_ms / 1000)
        return self.keep_page.shutdown(timeout_ms / 1000) and previewed and stopped

    # ------------------------------------------------------------------ navigation
    def go_to(self, step: int) -> None:
        item = self.steps.item(step)
        if item is not None and item.flags() & Qt.ItemFlag.ItemIsEnabled:
            self.steps.setCurrentRow(step)

    def current_step(self) -> int:
        return self.pages.currentIndex()

    def _available(self) -> list[bool]:
        progress = self.controller.progress
        has_run = bool(progress.run_dir)
        has_results = self.results_page.results is not None
        return [True, self.data_page.is_ready(), has_run, has_results, has_results]

    def _update_steps(self) -> None:
        for i, ok in enumerate(self._available()):
            item = self.steps.item(i)
            flags = item.flags()
            item.setFlags(
                flags | Qt.ItemFlag.ItemIsEnabled if ok else flags & ~Qt.ItemFlag.ItemIsEnabled
            )
        self._update_nav()

    def _update_nav(self) -> None:
        avail = self._available()
        i = self.current_step()
        self.back_button.setEnabled(i > 0)
        self.next_button.setEnabled(i + 1 < len(avail) and avail[i + 1])

    def _on_steps_current_row_changed(self, row: int) -> None:
        if row >= 0:
            self.pages.setCurrentIndex(row)
        self._update_nav()

    def _on_training_page_results_requested(self) -> None:
        self.go_to(RESULTS)

    def _on_results_page_keep_requested(self) -> None:
        self.go_to(KEEP)

    def _on_back_button_clicked(self) -> None:
        self.go_to(self.current_step() - 1)

    def _on_next_button_clicked(self) -> None:
        self.go_to(self.current_step() + 1)

    # ------------------------------------------------------------------ data
    def _on_data_page_data_changed(self) -> None:
        request = self.data_page.scan_requested_for
        if request is not None:
            folder, split = request
            self.controller.scan(folder, split)
        self._update_steps()

    def _on_controller_scan_previewed(self, preview: SplitPreview) -> None:
        self.data_page.show_preview(preview)
        self._update_steps()

    def _on_controller_scan_finished(self, report: object) -> None:
        self.data_page.show_report(report)
        self._update_steps()

    def _on_controller_scan_failed(self, message: str) -> None:
        self.data_page.show_scan_error(message)
        self._update_steps()

    # ------------------------------------------------------------------ recipe and start
    def current_config(self) -> Any:
        return self.recipe_page.config(self.data_page.folder(), self.data_page.split_spec())

    def _on_recipe_page_probe_requested(self) -> None:
        if not self._check_data_ready():
            return
        self._start_after_probe = False
        self.controller.probe(self.current_config())

    def _on_recipe_page_start_requested(self) -> None:
        """Start training; measure the speed first unless these settings were measured."""
        if self.controller.is_busy() or not self._check_data_ready():
            return
        from trainer.api import probe_key

        cfg = self.current_config()
        cached = self.controller.cached_probe(cfg)
        if cached is not None or self._probe_failed_key == probe_key(cfg):
            from trainer.api import weights_available

            reason = weights_available(cfg.backbone, cfg.pretrained)  # the probe checked too
            if reason is not None:
                self.recipe_page.show_weights_unavailable(reason)
                return
            if cached is not None:
                self.recipe_page.show_estimate(cached, cfg.epochs)
            self._start(cfg)
            return
        self._start_after_probe = True
        self.controller.probe(cfg)

    def _on_controller_probe_finished(self, result: ProbeResult) -> None:
        cfg = self.current_config()
        self.recipe_page.show_estimate(result, cfg.epochs)
        start, self._start_after_probe = self._start_after_probe, False
        if start and not result.out_of_memory:
            self._start(cfg)

    def _on_controller_probe_failed(self, message: str) -> None:
        from trainer.api import probe_key

        self.recipe_page.show_probe_error(
            message + " — press Start training again to train without an estimate."
        )
        self._start_after_probe = False
        self._probe_failed_key = probe_key(self.current_config())

    def _on_controller_weights_unavailable(self, reason: str) -> None:
        self._start_after_probe = False
        self.recipe_page.show_weights_unavailable(reason)

    def _check_data_ready(self) -> bool:
        if self.data_page.is_ready():
            return True
        QMessageBox.information(self, "Training", "Choose a data set folder first (step 1).")
        self.go_to(DATA)
        return False

    def _start(self, cfg: Any) -> None:
        run_dir = new_run_dir(cfg.backbone)
        self.controller.start(cfg, run_dir)
        self._begin_run()

    def _begin_run(self) -> None:
        self.training_page.begin(self.controller.progress)
        self.results_page.results = None
        self.keep_page.set_results(None)
        self._update_steps()
        self.go_to(TRAINING)
        self.training_state_changed.emit(True)

    def _on_retry_smaller_batch(self, batch_size: int) -> None:
        self.recipe_page.set_value("batch_size", batch_size)
        self.go_to(RECIPE)
        self._on_recipe_page_start_requested()

    # ------------------------------------------------------------------ resume
    def _on_resume_requested(self, run_dir: str) -> None:
        if self.controller.is_busy():
            return
        info = resumable_info(run_dir)
        if info is None or not info.can_resume:
            why = (
                f"its settings cannot be read ({info.problem})"
                if info is not None and info.problem
                else "it has no saved state, or it already finished"
            )
            QMessageBox.warning(self, "Resume", f"{run_dir} cannot be resumed: {why}.")
            return
        self.controller.resume(run_dir)
        self._begin_run()

    def _on_training_page_resume_requested(self) -> None:
        run_dir = self.controller.progress.run_dir
        if run_dir:
            self._on_resume_requested(run_dir)

    # ------------------------------------------------------------------ the end of a run
    def _on_controller_training_ended(self, progress: RunProgress) -> None:
        self.training_page.end(progress)
        self.data_page.refresh_resumable()
        self.training_state_changed.emit(False)
        done = progress.finished is not None and not progress.finished.cancelled
        if done and progress.failed is None:
            try:
                results = load_results(progress.run_dir)
            except FileNotFoundError as exc:
                self.training_page.log(f"Results missing: {exc}", "error")
            else:
                self.results_page.show_results(results)
                self.keep_page.set_results(results)
                self.controller.load_misclassified(Path(progress.run_dir))
        self._update_steps()

    def open_finished_run(self, run_dir: str | Path) -> None:
        """Show a finished run folder (as ``brainmri train`` or this tab wrote it) in the
        Training, Results and Keep steps, as if it had just ended here."""
        if self.controller.is_busy():
            return
        progress = RunProgress.from_run_dir(run_dir)
        self.controller.progress = progress
        self.training_page.show_run(progress)
        results = load_results(run_dir)  # FileNotFoundError names what is missing
        self.results_page.show_results(results)
        self.keep_page.set_results(results)
        self.controller.load_misclassified(Path(run_dir))
        self._update_steps()

    def _on_controller_busy_changed(self, busy: bool) -> None:
        self.recipe_page.set_busy(busy)
        self.data_page.resume_button.setEnabled(
            not busy and bool(self.data_page.resume_combo.currentData())
        )
        self.data_page.resume_other_button.setEnabled(not busy)


def _scrolling(page: QWidget) -> QScrollArea:
    area = QScrollArea()
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setWidget(page)
    return area
