"""Step 3, Training: live curves, batch progress, ETA, speed, learning rate, a log, one
augmented batch, and Stop / Resume."""

from __future__ import annotations

import html
import math
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QMouseEvent, QPixmap, QResizeEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.training.charts import QtCurvePlots
from desktop_app.training.state import (
    RunProgress,
    format_duration,
    loss_gap_note,
    out_of_memory_advice,
    smaller_batch,
)
from trainer.api import (
    BatchEnded,
    EpochEnded,
    EpochStarted,
    FitFailed,
    FitFinished,
    LogMessage,
    PhaseChanged,
    RunFolder,
    RunStarted,
)

# Banners in the app's dark theme (main.apply_dark_theme): dark fills, light text.
ERROR_STYLE = (
    "QLabel { background: #4a1f1f; color: #ffd9d3; border: 1px solid #c0392b; "
    "border-radius: 4px; padding: 6px; }"
)
WARNING_STYLE = (
    "QLabel { background: #41361a; color: #ffe7a8; border: 1px solid #b8952e; "
    "border-radius: 4px; padding: 6px; }"
)
DONE_STYLE = (
    "QLabel { background: #1e3a24; color: #d3f2d8; border: 1px solid #4c9a57; "
    "border-radius: 4px; padding: 6px; }"
)
LOG_LINES = 5000  # the log keeps the newest lines; the run folder keeps everything that matters


class _QtClickableLabel(QLabel):
    """The augmented batch: rescaled whenever its own size changes (the splitter moves it
    without resizing the page), enlarged on a click."""

    clicked = Signal()
    resized = Signal()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.resized.emit()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit()
        super().mousePressEvent(event)


class QtTrainingPage(QWidget):
    """Renders the controller's :class:`RunProgress`; owns no training logic itself."""

    stop_requested = Signal()
    resume_requested = Signal()
    results_requested = Signal()
    retry_smaller_batch_requested = Signal(int)  # the batch size to retry with

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.progress = RunProgress()
        self._augmented_shown = False
        self._augmented_pixmap: QPixmap | None = None
        self._build()
        self.set_running(False)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        # Buttons first, the banner under them: a banner that appears must never move a
        # button from under the pointer (a click meant for Stop landed elsewhere).
        layout = QVBoxLayout(self)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setVisible(False)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        status = QGridLayout()
        self.phase_label = QLabel("Not started.")
        self.epoch_bar = QProgressBar()
        self.epoch_bar.setFormat("epoch %v of %m")
        self.batch_bar = QProgressBar()
        self.batch_bar.setFormat("batch %v of %m")
        self.eta_label = QLabel("ETA –")
        self.speed_label = QLabel("– images/s")
        self.lr_label = QLabel("learning rate –")
        self.running_label = QLabel("")
        for w in (self.eta_label, self.speed_label, self.lr_label, self.running_label):
            w.setMinimumWidth(120)
        status.addWidget(self.phase_label, 0, 0, 1, 4)
        status.addWidget(self.epoch_bar, 1, 0, 1, 2)
        status.addWidget(self.batch_bar, 1, 2, 1, 2)
        status.addWidget(self.eta_label, 2, 0)
        status.addWidget(self.speed_label, 2, 1)
        status.addWidget(self.lr_label, 2, 2)
        status.addWidget(self.running_label, 2, 3)
        layout.addLayout(status)

        buttons = QHBoxLayout()
        self.stop_button = QPushButton("Stop (resumable)")
        self.stop_button.setToolTip("Finish the current batch, save a resumable state, stop")
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self.resume_requested)
        self.retry_button = QPushButton()
        self.retry_button.setVisible(False)
        self.retry_button.clicked.connect(self._on_retry_button_clicked)
        self.save_plots_button = QPushButton("Save plots as PNG…")
        self.save_plots_button.clicked.connect(self._on_save_plots_button_clicked)
        self.open_folder_button = QPushButton("Open run folder")
        self.open_folder_button.clicked.connect(self._on_open_folder_button_clicked)
        self.results_button = QPushButton("See the results →")
        self.results_button.setVisible(False)
        self.results_button.clicked.connect(self.results_requested)
        for b in (
            self.stop_button,
            self.resume_button,
            self.retry_button,
            self.save_plots_button,
            self.open_folder_button,
        ):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.results_button)
        layout.addLayout(buttons)
        layout.addWidget(self.banner)

        self.plots = QtCurvePlots()
        self.plots.setMinimumHeight(240)
        self.loss_note = QLabel()  # plain text: made from the recipe, see loss_gap_note
        self.loss_note.setWordWrap(True)
        self.loss_note.setTextFormat(Qt.TextFormat.PlainText)
        self.loss_note.setStyleSheet("QLabel { color: #8b949e; }")

        side = QGroupBox("One augmented training batch (click to enlarge)")
        sl = QVBoxLayout(side)
        sl.setContentsMargins(4, 4, 4, 4)
        self.augmented_label = _QtClickableLabel("shown when training starts")
        self.augmented_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.augmented_label.setMinimumSize(QSize(280, 280))
        self.augmented_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.augmented_label.clicked.connect(self._on_augmented_label_clicked)
        self.augmented_label.resized.connect(self._fit_augmented)
        sl.addWidget(self.augmented_label)

        curves = QWidget()
        cl = QVBoxLayout(curves)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.addWidget(self.plots, 1)
        cl.addWidget(self.loss_note)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(curves)
        top.addWidget(side)
        top.setStretchFactor(0, 2)
        top.setStretchFactor(1, 1)
        top.setSizes([700, 360])

        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(LOG_LINES)
        self.log_view.setPlaceholderText("log")
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.log_view)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 160])
        layout.addWidget(split, 1)

    # ------------------------------------------------------------------ state
    def set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
        self.resume_button.setVisible(not running and self._resumable())
        if running:
            self.retry_button.setVisible(False)
            self.results_button.setVisible(False)

    def _resumable(self) -> bool:
        p = self.progress
        if not p.run_dir or (p.finished is not None and not p.finished.cancelled):
            return False
        return RunFolder(p.run_dir).has_state()

    def begin(self, progress: RunProgress) -> None:
        """A run (new or resumed) starts: show its history so far and clear the rest."""
        self.progress = progress
        self._augmented_shown = False
        self.banner.setVisible(False)
        self.augmented_label.setText("shown when training starts")
        self.augmented_label.setPixmap(QPixmap())
        if not progress.resuming:
            self.log_view.clear()  # a new run, a new log (the last one ended on its traceback)
        else:
            self.log("—" * 40)
        self.log(f"{'Resuming' if progress.resuming else 'Starting'} run {progress.run_dir}")
        self.phase_label.setText("Preparing…")
        self.batch_bar.setValue(0)
        self.eta_label.setText("ETA –")
        self.speed_label.setText("– images/s")
        self.lr_label.setText("learning rate –")
        self.running_label.setText("")
        self.loss_note.setText(loss_gap_note(progress.config))
        self._render()
        self.set_running(True)

    # ------------------------------------------------------------------ events
    def handle_event(self, event: object) -> None:
        """One trainer event (the controller has already folded it into ``progress``)."""
        if isinstance(event, RunStarted):
            what = (
                f"resumed at epoch {event.resumed_from_epoch}"
                if event.resumed_from_epoch
                else "started"
            )
            self.log(f"Run {what}: {event.run_dir}")
            self.log(event.parameter_table)
            counts = ", ".join(f"{k} {sum(v.values())}" for k, v in event.counts.items())
            self.log(f"Images: {counts}")
        elif isinstance(event, PhaseChanged):
            self.phase_label.setText(
                f"{event.phase.capitalize()}" + (f": {event.message}" if event.message else "")
            )
            if event.message:
                self.log(f"[{event.phase}] {event.message}")
        elif isinstance(event, LogMessage):
            self.log(event.message, event.level)
            if event.level == "warning":
                text = html.escape(event.message)
                if self.progress.batch_lowered:
                    text = (
                        "<b>The GPU ran out of memory; training goes on with batch size "
                        f"{self.progress.batch_size}.</b><br>{text}"
                    )
                self._show_banner(text, WARNING_STYLE)
        elif isinstance(event, EpochStarted):
            self.batch_bar.setRange(0, max(event.batches, 1))
            self.batch_bar.setValue(0)
            self.lr_label.setText(f"learning rate {event.lr:.3g}")
        elif isinstance(event, BatchEnded):
            self.batch_bar.setRange(0, max(event.batches, 1))
            self.batch_bar.setValue(event.batch)
            self.eta_label.setText(f"ETA {format_duration(event.eta_s)}")
            self.speed_label.setText(f"{event.images_per_s:.1f} images/s")
            self.lr_label.setText(f"learning rate {event.lr:.3g}")
            self.running_label.setText(f"loss {event.loss:.3f}, acc {event.accuracy:.1%}")
        elif isinstance(event, EpochEnded):
            self._log_epoch(event.epoch, event.epochs, event.metrics, event.is_best)
        elif isinstance(event, FitFinished):
            self._on_fit_finished(event)
        elif isinstance(event, FitFailed):
            self._on_fit_failed(event)
        self._maybe_show_augmented_batch()
        self._render()

    def end(self, progress: RunProgress) -> None:
        """The worker has ended (after FitFinished or FitFailed)."""
        self.progress = progress
        self.set_running(False)
        # nothing is running: no time left to announce, and no "–" left waiting for a value
        # that will not come (the last measured speed and rate stay: they say how it went)
        self.eta_label.setText("")
        if not math.isfinite(progress.images_per_s):
            self.speed_label.setText("")
        if not math.isfinite(progress.lr):
            self.lr_label.setText("")
        self._maybe_show_augmented_batch()
        if not self._augmented_shown:
            self.augmented_label.setText("")  # the run ended before its first batch

    def show_run(self, progress: RunProgress) -> None:
        """Show a finished run read from its folder (:meth:`RunProgress.from_run_dir`)."""
        self.progress = progress
        self._augmented_shown = False
        self.log_view.clear()
        self.log(f"Run {progress.run_dir}")
        for h in progress.history:
            self._log_epoch(int(h.get("epoch", 0)), progress.epochs, h, h.get("is_best") == 1.0)
        self.batch_bar.setRange(0, 1)
        self.batch_bar.setValue(1)
        self.lr_label.setText("learning rate –")
        self.loss_note.setText(loss_gap_note(progress.config))
        if progress.finished is not None:
            self._on_fit_finished(progress.finished)
        self._render()
        self.end(progress)

    def _render(self) -> None:
        p = self.progress
        self.plots.render_progress(p)
        self.epoch_bar.setRange(0, max(p.epochs, 1))
        # the epoch in progress (as the phase line says "validation after epoch 2"), or the
        # epochs done once the run is over or between epochs
        self.epoch_bar.setValue(min(max(p.epoch, len(p.history)), max(p.epochs, 1)))

    def _log_epoch(self, epoch: int, epochs: int, m: dict[str, float], best: bool) -> None:
        self.log(
            f"epoch {epoch}/{epochs}: loss {m.get('loss', math.nan):.4f}, "
            f"accuracy {m.get('accuracy', math.nan):.4f}, val_loss "
            f"{m.get('val_loss', math.nan):.4f}, val_accuracy "
            f"{m.get('val_accuracy', math.nan):.4f}, {m.get('time_s', math.nan):.1f} s"
            + ("  (best so far)" if best else "")
        )

    def _on_fit_finished(self, event: FitFinished) -> None:
        if event.cancelled:
            self.phase_label.setText("Stopped.")
            self._show_banner(
                "Stopped. The run's state is saved: <b>Resume</b> continues it to the same "
                "end, now or after a restart of the app (step 1 lists it).",
                WARNING_STYLE,
            )
            return
        acc = (event.test_metrics or {}).get("accuracy")
        shown = f" Test accuracy {acc:.1%}." if isinstance(acc, float) else ""
        self.phase_label.setText("Finished.")
        if self.progress.batch_lowered:
            shown += (
                f" The GPU ran out of memory, so training went on with batch size "
                f"{self.progress.batch_size} (the log says from when)."
            )
        self._show_banner(f"Training finished.{shown}", DONE_STYLE)
        self.results_button.setVisible(True)
        self.log(f"Finished. Model: {event.model_path}")

    def _on_fit_failed(self, event: FitFailed) -> None:
        self.phase_label.setText("Failed.")
        self.log(event.traceback or event.error, "error")
        text = f"<b>Training failed:</b> {html.escape(plain_message(event.error))}"
        if self.progress.out_of_memory:
            batch = self.progress.batch_size
            text += "<br>" + html.escape(out_of_memory_advice(batch, self.progress.img_size))
            smaller = smaller_batch(batch)
            if smaller:
                self.retry_button.setText(f"Start again with batch size {smaller}")
                self.retry_button.setProperty("batch_size", smaller)
                self.retry_button.setVisible(True)
        elif event.kind == "run_exists":  # a run folder chosen by hand, not a new one
            text += "<br>Each new training run needs a folder of its own."
        else:
            text += "<br>The log below keeps the details."
        if self.progress.run_dir and RunFolder(self.progress.run_dir).has_state():
            text += " The last finished epoch is saved: <b>Resume</b> continues from it."
        self._show_banner(text, ERROR_STYLE)

    def _show_banner(self, text: str, style: str) -> None:
        self.banner.setStyleSheet(style)
        self.banner.setText(text)
        self.banner.setVisible(True)

    def _maybe_show_augmented_batch(self) -> None:
        """The trainer writes the figure just after RunStarted; show it once it exists."""
        if self._augmented_shown or not self.progress.run_dir:
            return
        path = RunFolder(self.progress.run_dir).augmented_batch_path
        if not path.is_file():
            return
        pixmap = QPixmap(str(path))
        if pixmap.isNull():
            return  # still being written: try again with the next event
        self._augmented_shown = True
        self.augmented_label.setToolTip(str(path))
        self._augmented_pixmap = pixmap
        self._fit_augmented()

    def _fit_augmented(self) -> None:
        pixmap = self._augmented_pixmap
        if pixmap is None or not self._augmented_shown:
            return
        size = self.augmented_label.size()
        self.augmented_label.setPixmap(
            pixmap.scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
        )

    def _on_augmented_label_clicked(self) -> None:
        """The figure at a readable size (16 images do not fit the side panel legibly)."""
        if self._augmented_pixmap is None:
            return
        dialog = QDialog(self)
        dialog.setWindowTitle("One augmented training batch")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        label = QLabel()
        screen = self.screen().availableGeometry() if self.screen() else None
        pixmap = self._augmented_pixmap
        if screen is not None and (
            pixmap.width() > screen.width() * 0.9 or pixmap.height() > screen.height() * 0.9
        ):
            pixmap = pixmap.scaled(
                int(screen.width() * 0.9),
                int(screen.height() * 0.9),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        label.setPixmap(pixmap)
        QVBoxLayout(dialog).addWidget(label)
        dialog.show()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_augmented()

    @property
    def augmented_batch_shown(self) -> bool:
        return self._augmented_shown

    # ------------------------------------------------------------------ log
    def log(self, message: str, level: str = "info") -> None:
        prefix = {"warning": "WARNING: ", "error": "ERROR: "}.get(level, "")
        bar = self.log_view.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 2
        self.log_view.appendPlainText(prefix + message)
        if at_end:  # follow the run unless the user scrolled up to read something
            bar.setValue(bar.maximum())

    def log_text(self) -> str:
        return self.log_view.toPlainText()

    # ------------------------------------------------------------------ slots
    def _on_stop_button_clicked(self) -> None:
        self.stop_button.setEnabled(False)
        self.phase_label.setText("Stopping after this batch…")
        self.stop_requested.emit()

    def _on_retry_button_clicked(self) -> None:
        size = self.retry_button.property("batch_size")
        if size:
            self.retry_smaller_batch_requested.emit(int(size))

    def _on_save_plots_button_clicked(self) -> None:
        start = (
            str(RunFolder(self.progress.run_dir).live_curves_path)
            if self.progress.run_dir
            else "curves.png"
        )
        path, _ = QFileDialog.getSaveFileName(self, "Save plots as PNG", start, "PNG (*.png)")
        if path:
            self.save_plots(path)

    def save_plots(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix.lower() != ".png":
            path = path.with_suffix(".png")
        self.plots.save_png(path)
        self.log(f"Plots saved to {path}")
        return path

    def _on_open_folder_button_clicked(self) -> None:
        if self.progress.run_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.progress.run_dir))
