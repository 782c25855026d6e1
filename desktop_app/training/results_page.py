"""Step 4, Results: test and de-duplicated accuracy with their intervals, the same numbers for
the app's default model beside them, the confusion matrix, the classification report in the
paper's layout, and the misclassified test images (which open in the viewer)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.training.charts import QtConfusionMatrix
from desktop_app.training.comparison import accuracy_text, comparison_rows, shipped_metrics
from desktop_app.training.jobs import THUMBNAIL_PX, Misclassified
from desktop_app.training.runs import RunResults
from trainer import NOT_FOR_CLINICAL_USE

PATH_ROLE = Qt.ItemDataRole.UserRole
PAIR_ROLE = Qt.ItemDataRole.UserRole + 1
REPORT_COLUMNS = ("precision", "recall", "f1-score", "support")


def _grey_icon(thumbnail: np.ndarray | None) -> QIcon:
    if thumbnail is None:
        pix = QPixmap(THUMBNAIL_PX, THUMBNAIL_PX)
        pix.fill(QColor("#444"))
        return QIcon(pix)
    a = np.ascontiguousarray(thumbnail, dtype=np.uint8)
    h, w = a.shape
    image = QImage(a.data, w, h, a.strides[0], QImage.Format.Format_Grayscale8).copy()
    return QIcon(QPixmap.fromImage(image))


def report_rows(metrics: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The classification report as table rows, in scikit-learn's (the paper's) layout:
    one row per class, then accuracy, macro avg, weighted avg. Three decimals, one more than
    the paper: near 0.99 the second decimal hides every difference that matters."""
    rows: list[tuple[str, list[str]]] = []
    for name, r in metrics.get("per_class", {}).items():
        rows.append(
            (
                name,
                [
                    f"{r['precision']:.3f}",
                    f"{r['recall']:.3f}",
                    f"{r['f1']:.3f}",
                    str(r["support"]),
                ],
            )
        )
    n = metrics.get("n", sum(r["support"] for r in metrics.get("per_class", {}).values()))
    rows.append(("accuracy", ["", "", f"{metrics.get('accuracy', math.nan):.3f}", str(n)]))
    for key, label in (("macro_avg", "macro avg"), ("weighted_avg", "weighted avg")):
        r = metrics.get(key)
        if r:
            rows.append(
                (
                    label,
                    [
                        f"{r['precision']:.3f}",
                        f"{r['recall']:.3f}",
                        f"{r['f1']:.3f}",
                        str(r["support"]),
                    ],
                )
            )
    return rows


class QtResultsPage(QWidget):
    """Shows a :class:`~desktop_app.training.runs.RunResults`; the gallery fills in as the
    controller's worker finds misclassified images."""

    open_in_viewer_requested = Signal(list)  # list[str] of image paths
    keep_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.results: RunResults | None = None
        self._filter: tuple[str, str] = ("", "")
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        layout = QVBoxLayout(self)
        self.summary_label = QLabel("No results yet: train a model first.")
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)

        compare_box = QGroupBox("Beside the app's default model (accuracy on the same lists)")
        cbl = QVBoxLayout(compare_box)
        self.compare_table = QTableWidget(0, 2)
        self.compare_table.setHorizontalHeaderLabels(["this model", "the app's default model"])
        self.compare_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.compare_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.compare_table.setMaximumHeight(120)
        cbl.addWidget(self.compare_table)
        layout.addWidget(compare_box)

        grid = QGridLayout()
        cm_box = QGroupBox("Confusion matrix (test)")
        cl = QVBoxLayout(cm_box)
        self.confusion = QtConfusionMatrix()
        self.confusion.setMinimumSize(280, 220)
        self.confusion.cell_chosen.connect(self._on_confusion_cell_chosen)
        save_cm = QPushButton("Save as PNG…")
        save_cm.clicked.connect(self._on_save_cm_clicked)
        cl.addWidget(self.confusion, 1)
        cl.addWidget(save_cm, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(cm_box, 0, 0)

        report_box = QGroupBox("Classification report (test)")
        rl = QVBoxLayout(report_box)
        self.report_table = QTableWidget(0, len(REPORT_COLUMNS))
        self.report_table.setHorizontalHeaderLabels(list(REPORT_COLUMNS))
        self.report_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.report_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        copy_report = QPushButton("Copy as text")
        copy_report.clicked.connect(self._on_copy_report_clicked)
        self.dedup_label = QLabel()
        self.dedup_label.setWordWrap(True)
        rl.addWidget(self.report_table, 1)
        rl.addWidget(self.dedup_label)
        rl.addWidget(copy_report, 0, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(report_box, 0, 1)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid, 2)

        gallery_box = QGroupBox("Misclassified test images (double-click opens in the viewer)")
        gl = QVBoxLayout(gallery_box)
        head = QHBoxLayout()
        self.gallery_label = QLabel("")
        self.show_all_button = QPushButton("Show all")
        self.show_all_button.clicked.connect(self._on_show_all_clicked)
        self.open_all_button = QPushButton("Open these in the viewer")
        self.open_all_button.clicked.connect(self._on_open_all_clicked)
        head.addWidget(self.gallery_label, 1)
        head.addWidget(self.show_all_button)
        head.addWidget(self.open_all_button)
        gl.addLayout(head)
        self.gallery = QListWidget()
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setIconSize(QSize(THUMBNAIL_PX, THUMBNAIL_PX))
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setWordWrap(True)
        self.gallery.setGridSize(QSize(THUMBNAIL_PX + 40, THUMBNAIL_PX + 44))
        self.gallery.setMinimumHeight(THUMBNAIL_PX + 60)
        self.gallery.itemDoubleClicked.connect(self._on_gallery_item_double_clicked)
        gl.addWidget(self.gallery)
        layout.addWidget(gallery_box, 1)

        bottom = QHBoxLayout()
        bottom.addWidget(QLabel(f"<i>{NOT_FOR_CLINICAL_USE}</i>"), 1)
        self.keep_button = QPushButton("Keep this model →")
        self.keep_button.clicked.connect(self.keep_requested)
        self.keep_button.setEnabled(False)
        bottom.addWidget(self.keep_button)
        layout.addLayout(bottom)

    # ------------------------------------------------------------------ filling
    def show_results(self, results: RunResults) -> None:
        self.results = results
        test = results.test
        summary = (
            f"<b>Test accuracy {accuracy_text(test)}</b>, loss {test['loss']:.3f}, on the "
            "test half."
        )
        dedup = results.dedup
        if dedup is not None:
            summary += (
                f"<br><b>De-duplicated accuracy {accuracy_text(dedup)}</b>, on the test images "
                "with no near-twin in training or validation: the fairer of the two numbers."
            )
        self.summary_label.setText(summary)
        rows = comparison_rows(results, shipped_metrics())
        self.compare_table.setRowCount(len(rows))
        self.compare_table.setVerticalHeaderLabels([r[0] for r in rows])
        for i, (_, ours, shipped) in enumerate(rows):
            for j, text in enumerate((ours, shipped)):
                self.compare_table.setItem(i, j, QTableWidgetItem(text))
        self.confusion.set_matrix(test["confusion_matrix"], results.classes)
        rows = report_rows(test)
        t = self.report_table
        t.setRowCount(len(rows))
        t.setVerticalHeaderLabels([r[0] for r in rows])
        for i, (_, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                t.setItem(i, j, item)
        self.dedup_label.setText(
            "The paper's table is on the whole test half; near-duplicates of training images "
            "inflate it (see step 1)."
            if dedup is not None
            else ""
        )
        self.gallery.clear()
        self.gallery_label.setText("Looking for misclassified images…")
        self._filter = ("", "")
        self.keep_button.setEnabled(results.model_path.is_file())

    def add_misclassified(self, item: Misclassified) -> None:
        entry = QListWidgetItem(
            _grey_icon(item.thumbnail),
            f"{item.true} → {item.predicted}\nmodel's confidence {item.confidence:.0%}",
        )
        probs = ", ".join(f"{c} {p:.1%}" for c, p in item.probabilities.items())
        entry.setToolTip(f"{item.path}\ntrue: {item.true}\npredicted: {item.predicted}\n{probs}")
        entry.setData(PATH_ROLE, item.path)
        entry.setData(PAIR_ROLE, (item.true, item.predicted))
        self.gallery.addItem(entry)
        self._apply_filter_to(entry)

    def gallery_done(self, summary: dict[str, int]) -> None:
        k, n = summary.get("misclassified", 0), summary.get("test_images", 0)
        self.gallery_label.setText(
            f"{k} of {n} test images misclassified."
            if k
            else f"No misclassified image among {n} test images."
        )

    def gallery_failed(self, message: str) -> None:
        self.gallery_label.setText(f"Could not list the misclassified images: {message}")

    # ------------------------------------------------------------------ gallery filter
    def _apply_filter_to(self, entry: QListWidgetItem) -> None:
        true, pred = self._filter
        pair = entry.data(PAIR_ROLE)
        entry.setHidden(bool(true) and tuple(pair) != (true, pred))

    def _on_confusion_cell_chosen(self, true: str, predicted: str) -> None:
        self._filter = (true, predicted)
        for i in range(self.gallery.count()):
            self._apply_filter_to(self.gallery.item(i))

    def _on_show_all_clicked(self) -> None:
        self._on_confusion_cell_chosen("", "")
        self.confusion.clearSelection()

    def visible_paths(self) -> list[str]:
        return [
            str(self.gallery.item(i).data(PATH_ROLE))
            for i in range(self.gallery.count())
            if not self.gallery.item(i).isHidden()
        ]

    # ------------------------------------------------------------------ slots
    def _on_gallery_item_double_clicked(self, item: QListWidgetItem) -> None:
        self.open_in_viewer_requested.emit([str(item.data(PATH_ROLE))])

    def _on_open_all_clicked(self) -> None:
        paths = self.visible_paths()
        if paths:
            self.open_in_viewer_requested.emit(paths)

    def _on_copy_report_clicked(self) -> None:
        if self.results is not None:
            from trainer.api import classification_report_text

            QApplication.clipboard().setText(classification_report_text(self.results.test))

    def _on_save_cm_clicked(self) -> None:
        start = str(self.results.run_dir / "confusion_matrix-app.png") if self.results else ""
        path, _ = QFileDialog.getSaveFileName(self, "Save confusion matrix", start, "PNG (*.png)")
        if path:
            self.confusion.save_png(Path(path).with_suffix(".png"))
