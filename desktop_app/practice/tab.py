"""The Practice tab: read labelled slices yourself, then compare with the truth and the model.

This class wires the pages to a :class:`trainer.practice.PracticeSession` (which decides the
order, scores and keeps the answers) and to the app's active model (``registry.predictor``).
Each slice is read and shown to the model in a worker (:mod:`.jobs`) while the student looks
at it; the answer is revealed only after the student's own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.practice.jobs import ModelAnswer, SliceImage, read_and_ask
from desktop_app.practice.question_page import QtQuestionPage
from desktop_app.practice.summary_page import QtSummaryPage
from desktop_app.workers import QtGeneratorWorker
from trainer.api import (
    BrainMRIError,
    PracticeItem,
    PracticeSession,
    clear_saved_answers,
    practice_set_dir,
    write_summary_pdf,
    write_text,
)

INTRO, QUESTION, SUMMARY = range(3)

INTRO_TEXT = """\
<h3>Practise reading, then compare yourself with the model</h3>
<p>Open a folder of labelled slices (one sub-folder per class, such as the data set's
<i>Testing</i> folder), or the practice set that comes with the app (20 slices). The slices
come one at a time, in a shuffled order that is the same each time for the same folder. Answer
first, with a button or the keys 1–4; then the truth, the model's answer with its confidence
and its heat map appear.</p>
<p>The summary sets your accuracy and your confusion matrix beside the model's on the same
slices, lists the slices you missed, and exports as CSV and PDF. Your answers are kept on this
computer only, in your own folder, so you can stop and go on later; "Clear my answers" removes
them.</p>
<p><i>Research and education only — not for clinical use.</i></p>
"""


class QtPracticeTab(QWidget):
    """The third tab. ``registry`` is the app's :class:`desktop_app.models.QtModelRegistry`."""

    def __init__(self, registry: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.session: PracticeSession | None = None
        self.item: PracticeItem | None = None
        self._model_answer: ModelAnswer | None = None
        self._model_note = ""
        self._waiting_reveal = False
        self._shown = False  # the current slice's pixels are on screen
        self._worker: QtGeneratorWorker | None = None
        self._build()

    def _build(self) -> None:
        self.open_button = QPushButton("Open a labelled folder…")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.set_button = QPushButton("Practice set")
        self.set_button.setToolTip("The 20 labelled slices that come with the app")
        self.set_button.clicked.connect(self._on_set_button_clicked)
        self.summary_button = QPushButton("Summary")
        self.summary_button.clicked.connect(self.show_summary)
        self.clear_button = QPushButton("Clear my answers…")
        self.clear_button.setToolTip("Delete every practice answer kept on this computer")
        self.clear_button.clicked.connect(self._on_clear_button_clicked)
        self.session_label = QLabel("No folder open.")
        top = QHBoxLayout()
        for w in (self.open_button, self.set_button):
            top.addWidget(w)
        top.addWidget(self.session_label, 1)
        top.addWidget(self.summary_button)
        top.addWidget(self.clear_button)

        self.intro = QLabel(INTRO_TEXT)
        self.intro.setWordWrap(True)
        self.intro.setTextFormat(Qt.TextFormat.RichText)
        self.intro.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.question = QtQuestionPage()
        self.question.answered.connect(self.answer)
        self.question.next_requested.connect(self.next_slice)
        self.question.summary_requested.connect(self.show_summary)
        self.summary = QtSummaryPage()
        self.summary.csv_requested.connect(self._on_csv_requested)
        self.summary.pdf_requested.connect(self._on_pdf_requested)
        self.summary.again_requested.connect(self.practise_again)
        self.summary.back_requested.connect(self._on_back_requested)
        self.pages = QStackedWidget()
        for page in (self.intro, self.question, self.summary):
            self.pages.addWidget(page)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pages, 1)
        self._update_buttons()

    # ------------------------------------------------------------------ opening
    def open_folder(self, folder: str | Path) -> bool:
        """Start (or go on with) practising on a labelled folder; False with a message shown
        when it holds no labelled slices."""
        try:
            session = PracticeSession.open(folder)
        except (BrainMRIError, OSError) as exc:
            self.session_label.setText(f"Cannot practise on this folder: {plain_message(exc)}")
            return False
        if session.total == 0:
            self.session_label.setText("Cannot practise on this folder: it holds no slices.")
            return False
        self.session = session
        self.item = None
        self.question.set_classes(session.classes)
        name = "the practice set" if Path(folder) == practice_set_dir() else Path(folder).name
        self.session_label.setText(
            f"Practising on {name}: {session.total} slices, {len(session.classes)} classes"
            + (f"; {session.answered} answered before" if session.answered else "")
            + "."
        )
        self.next_slice()
        return True

    def open_practice_set(self) -> bool:
        return self.open_folder(practice_set_dir())

    # ------------------------------------------------------------------ one slice
    def next_slice(self) -> None:
        """Show the next unanswered slice, or the summary when there is none."""
        if self.session is None:
            return
        if self.item is not None and self.item.rel not in self.session.answers:
            self.session.skip(self.item.rel)  # unreadable: "Next" moves past it
        self.item = self.session.current()
        self._model_answer, self._model_note, self._waiting_reveal = None, "", False
        self._shown = False
        if self._worker is not None and self._worker.is_running:
            self._worker.quit()
        if self.item is None:
            self.show_summary()
            return
        self.pages.setCurrentIndex(QUESTION)
        s = self.session
        self.question.show_progress(s.position(self.item), s.total, s.answered)
        self.question.ask()
        predictor = getattr(self.registry, "predictor", None)
        if predictor is None:
            self._model_note = "No model is loaded yet, so there is no model answer here."
        elif list(predictor.classes) != list(s.classes):
            self._model_note = (
                "The model in use knows other classes than this folder's, so its answers are "
                "not compared here."
            )
            predictor = None
        worker = QtGeneratorWorker(
            read_and_ask, self.item.path, predictor, name="practice slice", owner=self
        )
        worker.yielded.connect(self._on_worker_yielded)
        worker.returned.connect(self._on_worker_returned)
        worker.errored.connect(self._on_worker_errored)
        self._worker = worker
        worker.start()
        self._update_buttons()

    def _on_worker_yielded(self, value: object) -> None:
        if self.sender() is self._worker and isinstance(value, SliceImage):
            self._shown = True
            self.question.show_image(value.pixels)

    def _on_worker_returned(self, answer: object) -> None:
        if self.sender() is not self._worker:
            return
        if isinstance(answer, ModelAnswer):
            self._model_answer = answer
        elif not self._model_note:
            self._model_note = "The model's answer is not available."
        if self._waiting_reveal:
            self._reveal()

    def _on_worker_errored(self, exc: BaseException) -> None:
        if self.sender() is not self._worker:
            return
        message = plain_message(exc)
        if self._shown:  # the slice is there; only the model failed
            self._model_note = f"The model could not answer: {message}"
            if self._waiting_reveal:
                self._reveal()
            return
        self.question.show_unreadable(message)

    def answer(self, student: str) -> None:
        """The student's answer to the current slice; the reveal follows (at once when the
        model has answered, else when it does)."""
        if self.session is None or self.item is None or self.item.rel in self.session.answers:
            return
        self.session.answer(self.item.rel, student)
        running = self._worker is not None and self._worker.is_running
        if self._model_answer is None and running:
            self._waiting_reveal = True
            for b in self.question.answer_buttons:
                b.setEnabled(False)
            self.question.show_model_pending()
            return
        self._reveal()

    def _reveal(self) -> None:
        self._waiting_reveal = False
        if self.session is None or self.item is None:
            return
        recorded = self.session.answers.get(self.item.rel)
        if recorded is None:
            return
        model = self._model_answer
        if model is not None:
            self.session.reveal(self.item.rel, model.predicted, model.confidence, model.model_name)
        self.question.show_reveal(
            self.item.rel, self.item.truth, recorded.student, model, self._model_note
        )
        s = self.session
        self.question.show_progress(s.position(self.item), s.total, s.answered, revealed=True)
        self._update_buttons()

    # ------------------------------------------------------------------ summary and exports
    def show_summary(self) -> None:
        if self.session is None:
            return
        self.summary.show_summary(self.session.summary(), finished=self.session.done)
        self.pages.setCurrentIndex(SUMMARY)

    def _on_back_requested(self) -> None:
        if self.item is not None:
            self.pages.setCurrentIndex(QUESTION)
        else:
            self.next_slice()

    def export_csv(self, path: str | Path) -> Path | None:
        if self.session is None:
            return None
        try:
            write_text(path, self.session.csv_text())
        except OSError as exc:
            self.summary.status_label.setText(f"Not saved: {plain_message(exc)}")
            return None
        self.summary.status_label.setText(f"Saved: {path}")
        return Path(path)

    def export_pdf(self, path: str | Path) -> Path | None:
        if self.session is None:
            return None
        predictor = getattr(self.registry, "predictor", None)
        name = (predictor.info.name or "") if predictor is not None else ""
        try:
            write_summary_pdf(path, self.session.summary(), model_name=name)
        except OSError as exc:
            self.summary.status_label.setText(f"Not saved: {plain_message(exc)}")
            return None
        self.summary.status_label.setText(f"Saved: {path}")
        return Path(path)

    def _on_csv_requested(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export answers", "practice.csv", "CSV (*.csv)")
        if path:
            self.export_csv(Path(path).with_suffix(".csv"))

    def _on_pdf_requested(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export summary", "practice.pdf", "PDF (*.pdf)")
        if path:
            self.export_pdf(Path(path).with_suffix(".pdf"))

    def practise_again(self) -> None:
        """Forget this folder's answers and start again at its first slice."""
        if self.session is None:
            return
        self.session.restart()
        self.item = None
        self.next_slice()

    # ------------------------------------------------------------------ clearing
    def clear_answers(self, confirmed: bool = False) -> int:
        """Delete every practice answer kept on this computer (after asking)."""
        if not confirmed:
            answer = QMessageBox.question(
                self,
                "Clear my answers",
                "Delete every practice answer kept on this computer? This cannot be undone.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return 0
        removed = clear_saved_answers()
        if self.session is not None:
            self.session.restart()
            self.item = None
            self.next_slice()
        self.session_label.setText(
            f"Your answers were deleted from this computer ({removed} practice "
            f"session{'s' * (removed != 1)})."
        )
        return removed

    def _on_clear_button_clicked(self) -> None:
        self.clear_answers()

    def _on_open_button_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A folder with one sub-folder per class")
        if folder:
            self.open_folder(folder)

    def _on_set_button_clicked(self) -> None:
        self.open_practice_set()

    def _update_buttons(self) -> None:
        self.summary_button.setEnabled(self.session is not None)

    def shutdown(self, timeout_s: float = 10.0) -> bool:
        """Stop the slice worker and wait for it (exit, tests)."""
        worker = self._worker
        if worker is not None and worker.is_running:
            worker.quit()
            return worker.wait(timeout_s)
        return True
