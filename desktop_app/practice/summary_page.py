"""The practice summary: the student beside the model on the same slices, the slices missed,
and exports (CSV, PDF). It renders a :class:`trainer.practice.PracticeSummary`; the numbers
and sentences are made there."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_app.practice.question_page import class_words
from desktop_app.training.charts import QtConfusionMatrix
from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import PracticeSummary, summary_lines


class QtSummaryPage(QWidget):
    """Headline, two confusion matrices, the missed slices, export and restart buttons."""

    csv_requested = Signal()
    pdf_requested = Signal()
    again_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.headline = QLabel()
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.RichText)
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid = QGridLayout()
        self.student_matrix = QtConfusionMatrix()
        self.model_matrix = QtConfusionMatrix()
        for col, (title, matrix) in enumerate(
            (("You", self.student_matrix), ("The model, on the same slices", self.model_matrix))
        ):
            box = QGroupBox(title)
            bl = QVBoxLayout(box)
            matrix.setMinimumSize(260, 200)
            matrix.setToolTip("Rows: the truth. Columns: the answer given.")
            bl.addWidget(matrix)
            grid.addWidget(box, 0, col)
        missed_box = QGroupBox("Slices you missed (your answer → the truth; the model's answer)")
        ml = QVBoxLayout(missed_box)
        self.missed_list = QListWidget()
        ml.addWidget(self.missed_list)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel(f"<i>{html.escape(NOT_FOR_CLINICAL_USE)}</i>"), 1)
        self.back_button = QPushButton("← Back to the slices")
        self.back_button.clicked.connect(self.back_requested)
        self.csv_button = QPushButton("Export CSV…")
        self.csv_button.clicked.connect(self.csv_requested)
        self.pdf_button = QPushButton("Export PDF…")
        self.pdf_button.clicked.connect(self.pdf_requested)
        self.again_button = QPushButton("Practise again")
        self.again_button.setToolTip("Forget these answers and start at the first slice again")
        self.again_button.clicked.connect(self.again_requested)
        for b in (self.back_button, self.csv_button, self.pdf_button, self.again_button):
            buttons.addWidget(b)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addLayout(grid, 2)
        layout.addWidget(missed_box, 1)
        layout.addWidget(self.status_label)
        layout.addLayout(buttons)

    def show_summary(self, summary: PracticeSummary, finished: bool) -> None:
        lines = [html.escape(line) for line in summary_lines(summary)]
        lines[1] = f"<b>{lines[1]}</b>"
        lines[2] = f"<b>{lines[2]}</b>"
        head = "All slices answered." if finished else "Summary so far."
        self.headline.setText(f"<b>{head}</b><br>" + "<br>".join(lines))
        words = [class_words(c) for c in summary.classes]
        for matrix, values in (
            (self.student_matrix, summary.student_confusion),
            (self.model_matrix, summary.model_confusion),
        ):
            matrix.set_matrix(values, words)
            matrix.setHorizontalHeaderLabels([f"answered\n{w}" for w in words])
        self.missed_list.clear()
        for a in summary.missed:
            model = (
                f"model {class_words(a.model)} ({a.model_confidence:.0%})"
                if a.model is not None and a.model_confidence is not None
                else "model not shown"
            )
            self.missed_list.addItem(
                f"{a.rel}: {class_words(a.student)} → {class_words(a.truth)}; {model}"
            )
        if not summary.missed:
            self.missed_list.addItem("None: every answer was right.")
        self.back_button.setEnabled(not finished)
        self.status_label.setText("")
