"""Practice, reader first: a student reads labelled slices before the model's answer is shown.

Why Qt-free: the rules of a practice session (which slice comes next, what counts as right,
what is kept on disk, what the summary says) are decided here and tested without a window;
the app's Practice tab only shows them and forwards the student's answers.

* The order is shuffled but reproducible: ``numpy.random.default_rng(seed)`` permutes the
  sorted relative paths, so the same folder and seed give every student the same sequence (a
  class can compare), and a session can be resumed where it stopped.
* Answers stay on this machine: one JSON file per (folder, seed) in the user's folder
  (:func:`trainer.assets.user_practice_dir`), written atomically after every answer, removed
  by :func:`clear_saved_answers`. Nothing else is stored: no images, no file contents.
* The summary compares the student with the model *on the same slices*: only slices the
  student answered count, and the model's answer is the one shown at the reveal.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainer import NOT_FOR_CLINICAL_USE
from trainer.assets import practice_set_dir, user_practice_dir
from trainer.atomic import write_bytes, write_json
from trainer.csv_cells import csv_table
from trainer.data.discovery import TESTING_DIR, discover
from trainer.metrics import confusion_matrix, wilson_interval
from trainer.names import printable

__all__ = [
    "CSV_HEADER",
    "DEFAULT_SEED",
    "PracticeAnswer",
    "PracticeItem",
    "PracticeSession",
    "PracticeSummary",
    "clear_saved_answers",
    "practice_items",
    "practice_set_dir",
    "write_summary_pdf",
]

DEFAULT_SEED = 1
FORMAT_VERSION = 1
CSV_HEADER = ("order", "slice", "truth", "student", "student_right", "model", "model_confidence")


@dataclass(frozen=True)
class PracticeItem:
    """One labelled slice. ``rel`` (POSIX, relative to the practice folder) names it on screen
    and on disk: a file name, never the folder above it (folders often carry patient names)."""

    path: Path
    rel: str
    truth: str


@dataclass
class PracticeAnswer:
    """The student's answer to one slice and, once revealed, the model's."""

    rel: str
    truth: str
    student: str
    model: str | None = None
    model_confidence: float | None = None
    model_name: str = ""

    @property
    def student_right(self) -> bool:
        return self.student == self.truth

    @property
    def model_right(self) -> bool | None:
        return None if self.model is None else self.model == self.truth


def practice_items(folder: str | Path) -> tuple[tuple[str, ...], list[PracticeItem]]:
    """(classes, items) of a labelled folder: ``<class>/…`` sub-folders, or a data set root in
    the public layout, of which the Testing folder is taken (the model never trained on it).

    Raises:
        trainer.errors.DatasetError: no class sub-folders, or no images in them.
    """
    index = discover(folder)
    samples = index.samples
    if index.layout == "train-test":
        samples = tuple(index.in_folder(TESTING_DIR))
        prefix = TESTING_DIR + "/"
    else:
        prefix = ""
    items = [
        PracticeItem(
            s.path,
            s.rel[len(prefix) :] if s.rel.startswith(prefix) else s.rel,
            index.classes[s.label],
        )
        for s in samples
    ]
    return index.classes, items


def shuffled(items: Sequence[PracticeItem], seed: int) -> list[PracticeItem]:
    """``items`` in the session's order: sorted by relative path, then permuted by ``seed``."""
    ordered = sorted(items, key=lambda i: i.rel)
    return [ordered[int(k)] for k in np.random.default_rng(seed).permutation(len(ordered))]


@dataclass
class PracticeSummary:
    """The student beside the model, on the slices the student answered."""

    classes: tuple[str, ...]
    answers: list[PracticeAnswer]
    total: int  # slices in the session

    @property
    def n(self) -> int:
        return len(self.answers)

    @property
    def student_correct(self) -> int:
        return sum(a.student_right for a in self.answers)

    @property
    def with_model(self) -> list[PracticeAnswer]:
        return [a for a in self.answers if a.model is not None]

    @property
    def model_correct(self) -> int:
        return sum(bool(a.model_right) for a in self.with_model)

    @property
    def student_accuracy(self) -> float | None:
        return self.student_correct / self.n if self.n else None

    @property
    def model_accuracy(self) -> float | None:
        n = len(self.with_model)
        return self.model_correct / n if n else None

    def student_interval(self) -> tuple[float, float]:
        return wilson_interval(self.student_correct, self.n)

    def model_interval(self) -> tuple[float, float]:
        return wilson_interval(self.model_correct, len(self.with_model))

    def _matrix(self, answers: Sequence[PracticeAnswer], attr: str) -> list[list[int]]:
        index = {c: i for i, c in enumerate(self.classes)}
        truth = np.array([index[a.truth] for a in answers], dtype=np.int64)
        said = np.array([index[getattr(a, attr)] for a in answers], dtype=np.int64)
        return confusion_matrix(truth, said, len(self.classes)).tolist()

    @property
    def student_confusion(self) -> list[list[int]]:
        """Rows: the truth; columns: the student's answer."""
        return self._matrix(self.answers, "student")

    @property
    def model_confusion(self) -> list[list[int]]:
        """Rows: the truth; columns: the model's answer (answered slices it was shown for)."""
        return self._matrix(self.with_model, "model")

    @property
    def missed(self) -> list[PracticeAnswer]:
        """The slices the student got wrong, in the session's order."""
        return [a for a in self.answers if not a.student_right]


class PracticeSession:
    """A labelled folder in a reproducible order, the answers given so far, and where they are
    kept. Open one with :meth:`open`; answer with :meth:`answer`, then :meth:`reveal`."""

    def __init__(
        self,
        folder: Path,
        classes: tuple[str, ...],
        items: list[PracticeItem],
        seed: int = DEFAULT_SEED,
        store: Path | None = None,
    ) -> None:
        self.folder = folder
        self.classes = classes
        self.seed = seed
        self.items = shuffled(items, seed)
        self._by_rel = {i.rel: i for i in self.items}
        self.answers: dict[str, PracticeAnswer] = {}
        self.skipped: set[str] = set()  # unreadable this time: not kept, retried next time
        self.store = store if store is not None else session_file(folder, seed)

    @classmethod
    def open(
        cls, folder: str | Path, seed: int = DEFAULT_SEED, store: Path | None = None
    ) -> PracticeSession:
        """The session of ``folder`` with ``seed``, with the answers saved earlier (if any)."""
        folder = Path(folder)
        classes, items = practice_items(folder)
        session = cls(folder, classes, items, seed, store)
        session._load()
        return session

    # -- progress -------------------------------------------------------------------------
    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def answered(self) -> int:
        return len(self.answers)

    def current(self) -> PracticeItem | None:
        """The first slice in the order without an answer (nor skipped); None when none is
        left."""
        return next(
            (i for i in self.items if i.rel not in self.answers and i.rel not in self.skipped),
            None,
        )

    def skip(self, rel: str) -> None:
        """Move past a slice that could not be read (for this session only)."""
        self.skipped.add(rel)

    def position(self, item: PracticeItem) -> int:
        """1-based place of ``item`` in the order."""
        return self.items.index(item) + 1

    @property
    def done(self) -> bool:
        return self.current() is None

    # -- answering ------------------------------------------------------------------------
    def answer(self, rel: str, student: str) -> PracticeAnswer:
        """Record the student's answer (kept at once); a slice is answered once."""
        item = self._by_rel[rel]
        if student not in self.classes:
            raise ValueError(f"not one of this session's classes: {student!r}")
        if rel in self.answers:
            return self.answers[rel]
        answer = PracticeAnswer(rel, item.truth, student)
        self.answers[rel] = answer
        self.save()
        return answer

    def reveal(self, rel: str, model: str, confidence: float, model_name: str = "") -> None:
        """Record the model's answer that was shown after the student's (kept at once)."""
        answer = self.answers[rel]
        if model not in self.classes:
            raise ValueError(f"the model's answer {model!r} is not one of this session's classes")
        answer.model, answer.model_confidence = model, float(confidence)
        answer.model_name = model_name
        self.save()

    def summary(self) -> PracticeSummary:
        order = [self.answers[i.rel] for i in self.items if i.rel in self.answers]
        return PracticeSummary(self.classes, order, self.total)

    # -- keeping --------------------------------------------------------------------------
    def save(self) -> None:
        write_json(
            self.store,
            {
                "format": FORMAT_VERSION,
                "folder": str(self.folder),
                "seed": self.seed,
                "classes": list(self.classes),
                "answers": [asdict(a) for a in self.summary().answers],
            },
        )

    def _load(self) -> None:
        """Answers saved earlier for this folder and seed; a file that does not fit (other
        classes, slices no longer there, an unreadable file) is ignored, not trusted."""
        try:
            saved = json.loads(self.store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(saved, dict) or saved.get("classes") != list(self.classes):
            return
        for raw in saved.get("answers", []):
            try:
                answer = PracticeAnswer(**raw)
            except TypeError:
                continue
            item = self._by_rel.get(answer.rel)
            valid = {*self.classes, None}
            if item is None or answer.truth != item.truth or answer.student not in self.classes:
                continue
            if answer.model not in valid:
                continue
            self.answers[answer.rel] = answer

    def restart(self) -> None:
        """Forget this session's answers (its file too) and start again at the first slice."""
        self.answers.clear()
        self.skipped.clear()
        self.store.unlink(missing_ok=True)

    # -- exports --------------------------------------------------------------------------
    def csv_text(self) -> str:
        """One row per answered slice, formula-safe (:mod:`trainer.csv_cells`)."""
        rows = []
        for a in self.summary().answers:
            rows.append(
                (
                    self.position(self._by_rel[a.rel]),
                    a.rel,
                    a.truth,
                    a.student,
                    "yes" if a.student_right else "no",
                    a.model or "",
                    "" if a.model_confidence is None else f"{a.model_confidence:.3f}",
                )
            )
        return csv_table(CSV_HEADER, rows)


def session_file(folder: Path, seed: int) -> Path:
    """Where the answers for ``folder`` and ``seed`` are kept: named by a hash of the folder's
    full path, so that no folder name (it may carry a patient's name) appears on disk."""
    key = hashlib.sha256(f"{Path(folder).resolve()}\n{seed}".encode()).hexdigest()[:20]
    return user_practice_dir() / f"session-{key}.json"


def clear_saved_answers() -> int:
    """Delete every saved practice answer on this machine; returns how many sessions."""
    folder = user_practice_dir()
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.glob("session-*.json"):
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def summary_lines(summary: PracticeSummary) -> list[str]:
    """The summary's headline in plain sentences (the PDF and the app say the same)."""
    s_lo, s_hi = summary.student_interval()
    m_lo, m_hi = summary.model_interval()
    m_n = len(summary.with_model)
    lines = [
        f"Slices answered: {summary.n} of {summary.total}.",
        f"You: {summary.student_correct} of {summary.n} right, {_percent(summary.student_accuracy)}"
        f" (95 % interval {s_lo:.1%}–{s_hi:.1%}).",
        f"The model, on the same slices: {summary.model_correct} of {m_n} right, "
        f"{_percent(summary.model_accuracy)} (95 % interval {m_lo:.1%}–{m_hi:.1%}).",
    ]
    if m_n < summary.n:
        lines.append(f"The model's answer was not shown for {summary.n - m_n} slice(s).")
    return lines


def write_summary_pdf(
    path: str | Path, summary: PracticeSummary, model_name: str = "", title: str = ""
) -> Path:
    """A one-page A4 PDF of the summary: the headline, both confusion matrices and the missed
    slices (by file name only). Drawn on a bare matplotlib Figure (no pyplot: safe in a worker
    thread) and written atomically."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 11.69))
    fig.text(0.5, 0.965, NOT_FOR_CLINICAL_USE, ha="center", color="#b00020", fontsize=9)
    fig.text(0.07, 0.93, title or "Practice summary", fontsize=16, weight="bold")
    lines = summary_lines(summary)
    if model_name:
        lines.append(f"Model: {printable(model_name)}")
    fig.text(0.07, 0.91, "\n".join(lines), va="top", fontsize=10, linespacing=1.5)
    short = [c[:10] for c in summary.classes]
    for k, (name, matrix) in enumerate(
        (("You", summary.student_confusion), ("The model", summary.model_confusion))
    ):
        ax = fig.add_axes((0.1 + 0.45 * k, 0.55, 0.36, 0.22))
        m = np.asarray(matrix, dtype=float)
        ax.imshow(m, cmap="Blues", vmin=0, vmax=max(1.0, float(m.max()) if m.size else 1.0))
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, str(int(m[i, j])), ha="center", va="center", fontsize=9)
        ax.set_xticks(range(len(short)), short, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(short)), short, fontsize=8)
        ax.set_xlabel("answered", fontsize=9)
        ax.set_ylabel("truth", fontsize=9)
        ax.set_title(name, fontsize=11)
    missed = summary.missed
    text = ["Slices you missed (your answer → the truth; the model's answer):"]
    for a in missed[:40]:
        model = f"{a.model} ({a.model_confidence:.0%})" if a.model else "not shown"
        text.append(f"  {printable(a.rel)}: {a.student} → {a.truth}; model {model}")
    if len(missed) > 40:
        text.append(f"  … and {len(missed) - 40} more (the CSV lists every answer).")
    if not missed:
        text.append("  none")
    fig.text(0.07, 0.44, "\n".join(text), va="top", fontsize=8, family="monospace")
    fig.text(0.5, 0.02, NOT_FOR_CLINICAL_USE, ha="center", color="#b00020", fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="pdf", metadata={"Subject": NOT_FOR_CLINICAL_USE})
    write_bytes(path, buf.getvalue())
    return Path(path)


def load_session_json(path: Path) -> dict[str, Any]:
    """A saved session file as data (for tests and anyone checking what is kept)."""
    return json.loads(path.read_text(encoding="utf-8"))
