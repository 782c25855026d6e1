"""Practice mode's rules without Qt: order, answers, what is kept, the summary and exports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from trainer.assets import practice_set_dir
from trainer.practice import (
    CSV_HEADER,
    PracticeSession,
    clear_saved_answers,
    practice_items,
    shuffled,
    summary_lines,
    write_summary_pdf,
)

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BRAINMRI_HOME", str(home))
    return home


def test_a_data_set_root_practises_on_its_testing_folder(mini_data: Path) -> None:
    classes, items = practice_items(mini_data)
    assert classes == CLASSES and len(items) == 16
    assert all(not i.rel.startswith("Testing/") and i.rel.split("/")[0] == i.truth for i in items)
    flat_classes, flat = practice_items(mini_data / "Testing")
    assert flat_classes == CLASSES and {i.rel for i in flat} == {i.rel for i in items}


def test_the_shipped_practice_set_has_every_class() -> None:
    classes, items = practice_items(practice_set_dir())
    assert classes == CLASSES and len(items) == 20
    assert all(sum(i.truth == c for i in items) == 5 for c in CLASSES)


def test_the_order_is_shuffled_and_reproducible(mini_data: Path) -> None:
    _, items = practice_items(mini_data)
    a, b = shuffled(items, 1), shuffled(list(reversed(items)), 1)
    assert [i.rel for i in a] == [i.rel for i in b]  # the seed decides, not the listing order
    assert [i.rel for i in a] != sorted(i.rel for i in items)
    assert [i.rel for i in shuffled(items, 2)] != [i.rel for i in a]


def test_answers_score_persist_and_clear(mini_data: Path, user_home: Path) -> None:
    session = PracticeSession.open(mini_data)
    first = session.current()
    assert first is not None and session.position(first) == 1
    wrong = next(c for c in CLASSES if c != first.truth)
    session.answer(first.rel, wrong)
    session.reveal(first.rel, first.truth, 0.91, "tiny")
    second = session.current()
    assert second is not None and second != first
    session.answer(second.rel, second.truth)  # the model's answer never shown for this one
    with pytest.raises(ValueError):
        session.answer(session.current().rel, "not-a-class")

    # kept in the user's folder, named without the folder's name
    saved = list((user_home / "practice").glob("session-*.json"))
    assert len(saved) == 1 and "mini" not in saved[0].name
    assert len(json.loads(saved[0].read_text())["answers"]) == 2

    again = PracticeSession.open(mini_data)  # resumes where it stopped
    assert again.answered == 2 and again.current() == session.current()
    s = again.summary()
    assert (s.n, s.student_correct, s.model_correct, len(s.with_model)) == (2, 1, 1, 1)
    assert s.student_accuracy == 0.5 and s.model_accuracy == 1.0
    t, w = CLASSES.index(first.truth), CLASSES.index(wrong)
    assert s.student_confusion[t][w] == 1 and sum(map(sum, s.student_confusion)) == 2
    assert s.model_confusion[t][t] == 1 and sum(map(sum, s.model_confusion)) == 1
    assert [a.rel for a in s.missed] == [first.rel]
    assert any("not shown for 1" in line for line in summary_lines(s))

    assert clear_saved_answers() == 1
    assert PracticeSession.open(mini_data).answered == 0


def test_a_saved_file_that_does_not_fit_is_ignored(mini_data: Path) -> None:
    session = PracticeSession.open(mini_data)
    session.answer(session.current().rel, "glioma")
    data = json.loads(session.store.read_text())
    data["answers"][0]["truth"] = "elsewhere"
    session.store.write_text(json.dumps(data))
    assert PracticeSession.open(mini_data).answered == 0
    session.store.write_text("{not json")
    assert PracticeSession.open(mini_data).answered == 0


def test_csv_is_formula_safe_and_pdf_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    for c in ("=cmd", "b"):
        (folder / c).mkdir(parents=True)
    src = next(Path(__file__).parent.joinpath("data", "mini", "Testing", "glioma").iterdir())
    (folder / "=cmd" / "@x.jpg").write_bytes(src.read_bytes())
    (folder / "b" / "y.jpg").write_bytes(src.read_bytes())
    session = PracticeSession.open(folder)
    for item in list(session.items):
        session.answer(item.rel, "b")
        session.reveal(item.rel, "=cmd", 0.5)
    rows = list(csv.reader(io.StringIO(session.csv_text())))
    assert tuple(rows[0]) == CSV_HEADER and len(rows) == 3
    assert all(not cell.startswith(("=", "@")) for row in rows for cell in row)
    pdf = write_summary_pdf(tmp_path / "summary.pdf", session.summary(), model_name="tiny")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_readme_practice_is_the_apps_help_word_for_word() -> None:
    from desktop_app.help import PRACTICE

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Practice\n", 1)[1].split("\n## ", 1)[0]
    assert section.strip().startswith(PRACTICE.strip())
    assert "not for clinical use" in PRACTICE
