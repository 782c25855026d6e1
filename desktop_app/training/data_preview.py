"""The Data step's pictures: a few slices of each class, and a few of the near-duplicate pairs
the data check found, side by side.

Why: counts say how much data there is, not what it looks like. A student who sees that a
"notumor" slice is often an axial slice of another sequence, or that a test image is the same
picture as a training image, reads every later number differently. Thumbnails are made off the
GUI thread (:func:`preview_images`), by the training's own reader and square padding, so they
show what the model sees.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QGridLayout, QGroupBox, QLabel, QVBoxLayout, QWidget

from desktop_app.training.jobs import thumbnail
from desktop_app.viewer.canvas import to_qimage
from desktop_app.workers import QtGeneratorWorker
from trainer.api import discover

PER_CLASS, PAIRS, PREVIEW_PX = 6, 3, 88


@dataclass(frozen=True)
class SampleThumb:
    cls: str
    rel: str
    pixels: np.ndarray | None


@dataclass(frozen=True)
class PairThumbs:
    rel_a: str
    rel_b: str
    hamming: int
    same_label: bool
    pixels: tuple[np.ndarray | None, np.ndarray | None]


def evenly(items: list[Any], k: int) -> list[Any]:
    """``k`` items spread evenly over the list (the first, then every n/k-th): not chosen."""
    if len(items) <= k:
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


def chosen_pairs(pairs: tuple[Any, ...], k: int = PAIRS) -> list[Any]:
    """The pairs worth seeing first: across two folders (a test image with a twin in training),
    then the closest; ties in file order."""

    def across(p: Any) -> bool:
        return p.path_a.split("/")[0] != p.path_b.split("/")[0]

    ranked = sorted(pairs, key=lambda p: (not across(p), p.hamming, p.path_a, p.path_b))
    return ranked[:k]


def preview_images(
    root: str, pairs: tuple[Any, ...], per_class: int = PER_CLASS, px: int = PREVIEW_PX
) -> Generator[SampleThumb | PairThumbs, None, None]:
    """Worker body: thumbnails of a few slices per class, then of a few near-duplicate pairs."""
    index = discover(root)
    for label, cls in enumerate(index.classes):
        samples = [s for s in index.samples if s.label == label]
        for s in evenly(samples, per_class):
            yield SampleThumb(cls, s.rel, thumbnail(s.path, px))
    base = Path(root)
    for p in chosen_pairs(pairs):
        yield PairThumbs(
            p.path_a,
            p.path_b,
            p.hamming,
            p.same_label,
            (thumbnail(base / p.path_a, px), thumbnail(base / p.path_b, px)),
        )


def _thumb_label(pixels: np.ndarray | None, tip: str) -> QLabel:
    label = QLabel()
    label.setFixedSize(PREVIEW_PX, PREVIEW_PX)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setToolTip(tip)
    if pixels is None:
        label.setText("unreadable")
    else:
        label.setPixmap(QPixmap.fromImage(to_qimage(np.ascontiguousarray(pixels))))
    return label


class QtDataPreview(QWidget):
    """Two boxes filled as the worker delivers thumbnails; :meth:`show_for` starts it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.samples_box = QGroupBox("What the slices look like (a few of each class)")
        self.samples_grid = QGridLayout(self.samples_box)
        self.pairs_box = QGroupBox("Near-duplicates the check found (a few pairs, side by side)")
        self.pairs_grid = QGridLayout(self.pairs_box)
        layout.addWidget(self.samples_box)
        layout.addWidget(self.pairs_box)
        self._rows: dict[str, list[int]] = {}  # class -> [grid row, thumbnails shown]
        self._pairs = 0
        self._worker: QtGeneratorWorker | None = None
        self.clear()

    def clear(self) -> None:
        for grid in (self.samples_grid, self.pairs_grid):
            while grid.count():
                item = grid.takeAt(0)
                if item is not None and item.widget() is not None:
                    item.widget().deleteLater()
        self._rows, self._pairs = {}, 0
        self.samples_box.setVisible(False)
        self.pairs_box.setVisible(False)

    def show_for(self, report: Any) -> None:
        """Start making the thumbnails of a finished data check (an older one is abandoned)."""
        self.shutdown(wait=False)
        self.clear()
        worker = QtGeneratorWorker(
            preview_images, report.root, tuple(report.pairs), name="data preview", owner=self
        )
        worker.yielded.connect(self._on_worker_yielded)
        self._worker = worker
        worker.start()

    def sample_count(self) -> int:
        return sum(shown for _, shown in self._rows.values())

    def pair_count(self) -> int:
        return self._pairs

    def _on_worker_yielded(self, value: object) -> None:
        if self.sender() is not self._worker:
            return
        if isinstance(value, SampleThumb):
            if value.cls not in self._rows:
                self._rows[value.cls] = [len(self._rows), 0]
                name = QLabel(value.cls)
                name.setTextFormat(Qt.TextFormat.PlainText)
                self.samples_grid.addWidget(name, self._rows[value.cls][0], 0)
            place = self._rows[value.cls]
            place[1] += 1
            self.samples_grid.addWidget(_thumb_label(value.pixels, value.rel), place[0], place[1])
            self.samples_box.setVisible(True)
        elif isinstance(value, PairThumbs):
            row = self._pairs
            self._pairs += 1
            a, b = value.pixels
            self.pairs_grid.addWidget(_thumb_label(a, value.rel_a), row, 0)
            self.pairs_grid.addWidget(_thumb_label(b, value.rel_b), row, 1)
            same = "same class" if value.same_label else "DIFFERENT classes"
            text = QLabel(
                f"{value.rel_a}\n{value.rel_b}\n{value.hamming} of 64 picture-hash bits "
                f"differ; {same}"
            )
            text.setTextFormat(Qt.TextFormat.PlainText)
            self.pairs_grid.addWidget(text, row, 2)
            self.pairs_grid.setColumnStretch(2, 1)
            self.pairs_box.setVisible(True)

    def shutdown(self, wait: bool = True, timeout_s: float = 10.0) -> bool:
        worker = self._worker
        if worker is None or not worker.is_running:
            return True
        worker.quit()
        return worker.wait(timeout_s) if wait else True
