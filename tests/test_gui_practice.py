"""The Practice tab, offscreen: answer, reveal, summary, export, clear, on a tiny labelled folder
with the tiny model file (its answers are untrained: what matters is the flow)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.gui

WAIT_MS = 60_000


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BRAINMRI_HOME", str(home))
    return home


@pytest.fixture
def tab(qtbot, tiny_model_file: Path):  # type: ignore[no-untyped-def]
    from desktop_app.practice import QtPracticeTab
    from trainer.api import Predictor

    registry = SimpleNamespace(predictor=Predictor(tiny_model_file, device="cpu"))
    widget = QtPracticeTab(registry)
    qtbot.addWidget(widget)
    yield widget
    assert widget.shutdown(30)


def _wait_for_model(qtbot, tab) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: tab._model_answer is not None or bool(tab._model_note), timeout=WAIT_MS)


def test_practice_flow_answer_reveal_summary_export_clear(
    qtbot, tab, mini_data, tmp_path, user_home
):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    from desktop_app.practice.tab import QUESTION, SUMMARY

    assert tab.open_folder(mini_data / "Testing")
    session = tab.session
    assert session is not None and session.total == 16
    assert tab.pages.currentIndex() == QUESTION
    _wait_for_model(qtbot, tab)
    first = tab.item
    # nothing on the page names the slice (its file and folder names carry the class)
    page_text = " ".join(w.text() for w in (tab.question.progress_label, tab.question.result_label))
    assert first.rel not in page_text and first.truth not in page_text
    assert tab.question.image_label.pixmap() is not None
    assert not tab.question.image_label.pixmap().isNull()

    qtbot.keyClick(tab.question, Qt.Key.Key_1)  # the first class, by key
    answer = session.answers[first.rel]
    assert answer.student == session.classes[0]
    assert answer.model is not None and 0 < answer.model_confidence <= 1
    shown = tab.question.result_label.text()
    assert "The truth" in shown and "confidence" in shown and first.rel in shown
    assert tab.question.next_button.isEnabled()
    assert not any(b.isEnabled() for b in tab.question.answer_buttons)
    qtbot.keyClick(tab.question, Qt.Key.Key_1)  # a second answer to the same slice: ignored
    assert session.answered == 1

    qtbot.keyClick(tab.question, Qt.Key.Key_Return)
    assert tab.item is not None and tab.item != first
    for _ in range(session.total - 1):
        _wait_for_model(qtbot, tab)
        tab.question.answer_buttons[1].click()
        tab.next_slice()
    assert tab.pages.currentIndex() == SUMMARY and session.done

    summary = session.summary()
    assert summary.n == 16 and len(summary.with_model) == 16
    assert "You:" in tab.summary.headline.text()
    total = sum(tab.summary.student_matrix.count(i, j) for i in range(4) for j in range(4))
    assert total == 16
    assert tab.summary.missed_list.count() == len(summary.missed)

    rows = list(csv.reader(io.StringIO(tab.export_csv(tmp_path / "a.csv").read_text())))
    assert len(rows) == 17 and rows[0][0] == "order"
    assert tab.export_pdf(tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")

    kept = list((user_home / "practice").glob("*.json"))
    assert len(kept) == 1
    assert tab.clear_answers(confirmed=True) == 1
    assert not list((user_home / "practice").glob("*.json"))
    assert session.answered == 0 and tab.pages.currentIndex() == QUESTION


def test_a_folder_without_classes_is_refused_in_words(qtbot, tab, tmp_path):  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not tab.open_folder(empty)
    assert "Cannot practise" in tab.session_label.text()
    assert "Error" not in tab.session_label.text()


def test_the_practice_set_opens_and_answers_wait_for_no_model(qtbot, tmp_path):  # type: ignore[no-untyped-def]
    from desktop_app.practice import QtPracticeTab

    widget = QtPracticeTab(SimpleNamespace(predictor=None))
    qtbot.addWidget(widget)
    assert widget.open_practice_set()
    assert widget.session.total == 20
    qtbot.waitUntil(lambda: widget._worker is not None and not widget._worker.is_running)
    widget.answer(widget.session.classes[2])
    assert "No model is loaded" in widget.question.result_label.text()
    assert widget.shutdown(30)
