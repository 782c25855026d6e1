"""One slice at a time: the student answers first (buttons or keys 1–4), then sees the truth,
the model's answer with its confidence, and the model's heat map.

Before the answer nothing on this page names the slice: file and folder names in labelled
sets often carry the class (``Te-gl_0265.jpg``), and a reader must not be told the answer by
a caption.
"""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop_app.practice.jobs import ModelAnswer
from desktop_app.viewer.canvas import to_qimage
from trainer import NOT_FOR_CLINICAL_USE

IMAGE_PX = 420
CLASS_WORDS = {"notumor": "no tumour", "pituitary": "pituitary tumour"}


def class_words(name: str) -> str:
    """A class as a reader says it (the data set's folder names are not all words)."""
    return CLASS_WORDS.get(name, name)


def _pixmap(pixels: np.ndarray, size: int = IMAGE_PX) -> QPixmap:
    pix = QPixmap.fromImage(to_qimage(pixels))
    return pix.scaled(
        size,
        size,
        Qt.AspectRatioMode.KeepAspectRatio,
        Qt.TransformationMode.SmoothTransformation,
    )


class QtQuestionPage(QWidget):
    """Shows a slice, takes the answer, then shows what was right."""

    answered = Signal(str)  # the class the student chose
    next_requested = Signal()
    summary_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.classes: tuple[str, ...] = ()
        self.answer_buttons: list[QPushButton] = []
        self.revealed = False
        self._build()

    def _build(self) -> None:
        self.progress_label = QLabel()
        self.image_label = QLabel("Reading the slice…")
        self.image_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image_label.setMinimumSize(IMAGE_PX, IMAGE_PX)
        self.image_label.setStyleSheet("QLabel { background: #08080a; color: #c9d1db; }")
        self.map_label = QLabel()
        self.map_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.map_label.setMinimumSize(IMAGE_PX, IMAGE_PX)
        self.map_label.setStyleSheet("QLabel { background: #08080a; color: #c9d1db; }")
        self.map_label.setWordWrap(True)
        images = QHBoxLayout()
        images.addWidget(self.image_label, 1)
        images.addWidget(self.map_label, 1)

        self.question_label = QLabel("What do you see? Answer with a button or the keys 1–4.")
        self.buttons_row = QGridLayout()
        self.result_label = QLabel()
        self.result_label.setWordWrap(True)
        self.result_label.setTextFormat(Qt.TextFormat.RichText)
        self.result_label.setSizePolicy(
            QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding
        )
        self.next_button = QPushButton("Next slice (Enter)")
        self.next_button.clicked.connect(self.next_requested)
        self.summary_button = QPushButton("Summary so far")
        self.summary_button.clicked.connect(self.summary_requested)
        nav = QHBoxLayout()
        nav.addWidget(QLabel(f"<i>{html.escape(NOT_FOR_CLINICAL_USE)}</i>"), 1)
        nav.addWidget(self.summary_button)
        nav.addWidget(self.next_button)

        layout = QVBoxLayout(self)
        layout.addWidget(self.progress_label)
        layout.addLayout(images, 1)
        layout.addWidget(self.question_label)
        layout.addLayout(self.buttons_row)
        layout.addWidget(self.result_label)
        layout.addLayout(nav)

    def set_classes(self, classes: tuple[str, ...]) -> None:
        """One button per class, numbered for the keyboard (keys 1–9)."""
        for b in self.answer_buttons:
            self.buttons_row.removeWidget(b)
            b.deleteLater()
        self.answer_buttons = []
        self.classes = classes
        for i, name in enumerate(classes):
            key = f"{i + 1}  " if i < 9 else ""
            button = QPushButton(f"{key}{class_words(name).capitalize()}")
            button.clicked.connect(lambda _=False, n=name: self._choose(n))
            self.buttons_row.addWidget(button, 0, i)
            self.answer_buttons.append(button)
        keys = f"1–{min(len(classes), 9)}"
        self.question_label.setText(f"What do you see? Answer with a button or the keys {keys}.")

    # ------------------------------------------------------------------ states
    def show_progress(
        self, position: int, total: int, answered: int, revealed: bool = False
    ) -> None:
        after = (
            "Your answer and the model's are below."
            if revealed
            else "The model's answer is hidden until you have given yours."
        )
        self.progress_label.setText(f"Slice {position} of {total} ({answered} answered). {after}")

    def ask(self) -> None:
        """A new slice is coming: answers open, nothing revealed."""
        self.revealed = False
        self.image_label.setPixmap(QPixmap())
        self.image_label.setText("Reading the slice…")
        self.map_label.setPixmap(QPixmap())
        self.map_label.setText("The model's heat map appears after your answer.")
        self.result_label.setText("")
        self.next_button.setEnabled(False)
        for b in self.answer_buttons:
            b.setEnabled(True)
        self.setFocus()

    def show_image(self, pixels: np.ndarray) -> None:
        self.image_label.setText("")
        self.image_label.setPixmap(_pixmap(pixels))

    def show_unreadable(self, message: str) -> None:
        self.image_label.setText(f"This slice could not be read: {message}")
        for b in self.answer_buttons:
            b.setEnabled(False)
        self.next_button.setEnabled(True)

    def show_reveal(
        self,
        name: str,
        truth: str,
        student: str,
        model: ModelAnswer | None,
        model_note: str = "",
    ) -> None:
        """The truth, the student's answer, then the model's (or why there is none)."""
        self.revealed = True
        for b in self.answer_buttons:
            b.setEnabled(False)
        right = student == truth
        verdict = (
            "<b style='color:#3fb950'>Right.</b>"
            if right
            else f"<b style='color:#f85149'>Not this time:</b> you answered "
            f"<b>{html.escape(class_words(student))}</b>."
        )
        lines = [
            f"{verdict} The truth: <b>{html.escape(class_words(truth))}</b> "
            f"(slice {html.escape(name)})."
        ]
        if model is not None:
            agrees = "right" if model.predicted == truth else "wrong"
            lines.append(
                f"The model: <b>{html.escape(class_words(model.predicted))}</b>, confidence "
                f"{model.confidence:.0%} ({agrees})."
            )
            if model.overlay is not None:
                self.map_label.setText("")
                self.map_label.setPixmap(_pixmap(model.overlay))
                lines.append(
                    "Coloured on the right: the parts of the slice that most raised the model's "
                    "score for its answer. It is not an outline of a tumour."
                )
            else:
                self.map_label.setPixmap(QPixmap())
                self.map_label.setText(
                    "No heat map for a \u201cno tumour\u201d answer: there is no lesion to "
                    "point at."
                )
        else:
            self.map_label.setPixmap(QPixmap())
            self.map_label.setText("")
            lines.append(html.escape(model_note or "The model's answer is not available."))
        self.result_label.setText("<br>".join(lines))
        self.next_button.setEnabled(True)
        self.next_button.setDefault(True)
        self.setFocus()

    def show_model_pending(self) -> None:
        self.map_label.setText("The model is still looking at this slice…")

    # ------------------------------------------------------------------ input
    def _choose(self, name: str) -> None:
        if not self.revealed and any(b.isEnabled() for b in self.answer_buttons):
            self.answered.emit(name)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        text = event.text()
        if text.isdigit() and 1 <= int(text) <= min(len(self.classes), 9):
            self._choose(self.classes[int(text) - 1])
            return
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)
        if enter and self.next_button.isEnabled():
            self.next_requested.emit()
            return
        super().keyPressEvent(event)
