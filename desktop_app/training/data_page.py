"""Step 1, Data: choose a folder and a split; see what the folder holds and what could make
the scores lie (unreadable files, near-duplicates across splits, size shortcuts)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.messages import plain_message
from desktop_app.training.data_preview import QtDataPreview
from desktop_app.training.jobs import SplitPreview
from desktop_app.training.runs import ResumableRun, resumable_runs
from desktop_app.training.training_page import DONE_STYLE as OK_STYLE  # the app's dark theme
from desktop_app.training.training_page import WARNING_STYLE
from trainer.api import DEFAULT_VAL_FRACTION, SplitSpec

SCAN_DELAY_MS = 400  # wait for the user to stop typing or clicking before re-scanning


def plain_language(report: Any) -> list[str]:
    """The warnings of a :class:`~trainer.data.checks.DataReport` said for a student or a
    clinician, without pHash or Hamming distances: what it means for the score."""
    out: list[str] = []
    matches = {(m.split, m.reference): m for m in report.duplicates.matches}
    test_train = matches.get(("test", "train"))
    if test_train is not None and test_train.matched:
        share = test_train.matched / max(test_train.images, 1)
        out.append(
            f"{test_train.matched} of {test_train.images} test images ({share:.0%}) are nearly "
            "identical to a training image. The model is tested partly on pictures it has "
            "already seen, so its test accuracy will look better than it will be on new "
            f"patients. The results page also reports accuracy on the "
            f"{len(report.duplicates.dedup_test)} test images without such a twin."
        )
    val_train = matches.get(("val", "train"))
    if val_train is not None and val_train.matched:
        out.append(
            f"{val_train.matched} of {val_train.images} validation images are nearly identical "
            "to a training image, so the validation curve is optimistic too."
        )
    if any(w.startswith("SHORTCUT") for w in report.warnings):
        out.append(
            "Image size and colour mode alone predict the class well in this data set (the "
            "classes come from different sources). The app converts every image to grey and "
            "pads it to a square to remove these clues, but be careful with other tools."
        )
    if report.unreadable:
        out.append(
            f"{len(report.unreadable)} file(s) cannot be read and will be skipped (listed below)."
        )
    return out


class QtDataPage(QWidget):
    """Folder and split choice, the data check's report, and resuming an earlier run."""

    data_changed = Signal()  # the folder or the split changed (a new scan has started)
    resume_requested = Signal(str)  # run folder

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report: Any = None  # the last DataReport
        self.preview: SplitPreview | None = None
        self._scan_timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._scan_timer.timeout.connect(self._on_scan_timer_timeout)
        self.scan_requested_for: tuple[str, SplitSpec] | None = None
        self._build()

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        inner = QWidget()
        layout = QVBoxLayout(inner)

        folder_box = QGroupBox("Data set folder")
        fl = QVBoxLayout(folder_box)
        hint = QLabel(
            "A folder with <b>Training/&lt;class&gt;/</b> and <b>Testing/&lt;class&gt;/</b> "
            "(like the public Kaggle data set), or simply one sub-folder per class."
        )
        hint.setWordWrap(True)
        fl.addWidget(hint)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("choose the data set folder…")
        self.folder_edit.editingFinished.connect(self._on_folder_edit_editing_finished)
        self.browse_button = QPushButton("Choose folder…")
        self.browse_button.clicked.connect(self._on_browse_button_clicked)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        fl.addLayout(row)
        layout.addWidget(folder_box)

        split_box = QGroupBox("Split into training, validation and test")
        grid = QGridLayout(split_box)
        self.split_paper = QRadioButton(
            "The paper's: Training trains; the Testing folder is shuffled and halved into "
            "validation and test"
        )
        self.split_fraction = QRadioButton("A validation fraction of the Training folder:")
        self.split_files = QRadioButton("Split files (one relative path per line):")
        self.split_paper.setChecked(True)
        self._split_group = QButtonGroup(self)
        for b in (self.split_paper, self.split_fraction, self.split_files):
            self._split_group.addButton(b)
        self._split_group.buttonToggled.connect(self._on_split_group_button_toggled)
        self.fraction_spin = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.5, singleStep=0.05)
        self.fraction_spin.setValue(DEFAULT_VAL_FRACTION)
        self.fraction_spin.valueChanged.connect(self._on_split_value_changed)
        grid.addWidget(self.split_paper, 0, 0, 1, 3)
        grid.addWidget(self.split_fraction, 1, 0)
        grid.addWidget(self.fraction_spin, 1, 1)
        grid.addWidget(self.split_files, 2, 0, 1, 3)
        self.split_file_edits: dict[str, QLineEdit] = {}
        files_form = QFormLayout()
        for name, what in (
            ("train", "train (optional: the rest of Training)"),
            ("val", "validation"),
            ("test", "test"),
        ):
            edit = QLineEdit()
            edit.setPlaceholderText(what)
            edit.editingFinished.connect(self._on_split_value_changed)
            button = QPushButton("…")
            button.setMaximumWidth(32)
            button.clicked.connect(lambda _=False, n=name: self._browse_split_file(n))
            r = QHBoxLayout()
            r.addWidget(edit, 1)
            r.addWidget(button)
            files_form.addRow(f"{name}:", r)
            self.split_file_edits[name] = edit
        grid.addLayout(files_form, 3, 0, 1, 3)
        grid.setColumnStretch(2, 1)
        layout.addWidget(split_box)

        check_box = QGroupBox("What the folder holds")
        cl = QVBoxLayout(check_box)
        self.status_label = QLabel("No folder chosen yet.")
        self.status_label.setWordWrap(True)
        # folder, file and class names are shown as typed: "Training/<class>" is not HTML
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.scan_bar = QProgressBar()
        self.scan_bar.setVisible(False)
        self.scan_bar.setFormat("checking files: %v of %m")
        self.counts_table = QTableWidget()
        self.counts_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.counts_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.counts_table.setMinimumHeight(120)
        self.warning_label = QLabel()
        self.warning_label.setWordWrap(True)
        self.warning_label.setVisible(False)
        self.warning_label.setTextFormat(Qt.TextFormat.RichText)
        self.sizes_label = QLabel()
        self.sizes_label.setWordWrap(True)
        self.sizes_label.setTextFormat(Qt.TextFormat.PlainText)
        self.unreadable_list = QListWidget()
        self.unreadable_list.setMaximumHeight(90)
        self.unreadable_list.setVisible(False)
        cl.addWidget(self.status_label)
        cl.addWidget(self.scan_bar)
        cl.addWidget(self.counts_table)
        cl.addWidget(self.warning_label)
        cl.addWidget(self.sizes_label)
        cl.addWidget(self.unreadable_list)
        self.pictures = QtDataPreview()
        cl.addWidget(self.pictures)
        layout.addWidget(check_box, 1)

        resume_box = QGroupBox("Or continue an interrupted run")
        rl = QHBoxLayout(resume_box)
        self.resume_combo = QComboBox()
        self.resume_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.resume_button = QPushButton("Resume")
        self.resume_button.clicked.connect(self._on_resume_button_clicked)
        self.resume_other_button = QPushButton("Other run folder…")
        self.resume_other_button.clicked.connect(self._on_resume_other_button_clicked)
        rl.addWidget(self.resume_combo, 1)
        rl.addWidget(self.resume_button)
        rl.addWidget(self.resume_other_button)
        layout.addWidget(resume_box)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self._update_split_widgets()
        self.refresh_resumable()

    # ------------------------------------------------------------------ what the tab reads
    def folder(self) -> str:
        """The chosen folder as an absolute path: it is stored in the run's config, and a
        resumed run must find it again whatever the working folder then is."""
        text = self.folder_edit.text().strip()
        return str(Path(text).expanduser().resolve()) if text else ""

    def split_spec(self) -> SplitSpec:
        if self.split_fraction.isChecked():
            return SplitSpec("fraction", val_fraction=round(self.fraction_spin.value(), 4))
        if self.split_files.isChecked():
            files = {
                n: e.text().strip() for n, e in self.split_file_edits.items() if e.text().strip()
            }
            return SplitSpec("files", split_files=files)
        if self.preview is not None and self.preview.paper_split_impossible:
            return self.preview.split  # no Testing folder: what the check used, training uses
        return SplitSpec("paper")

    def is_ready(self) -> bool:
        """A folder is chosen and the quick split preview worked."""
        return bool(self.folder()) and self.preview is not None

    def set_folder(self, path: str | Path) -> None:
        """Choose ``path`` as the data set (the folder dialog does the same)."""
        self.folder_edit.setText(str(Path(path).expanduser().resolve()))
        self._schedule_scan(immediately=True)

    # ------------------------------------------------------------------ scanning
    def _schedule_scan(self, immediately: bool = False) -> None:
        if not self.folder():
            return
        self.report = None
        self.preview = None
        if immediately:
            self._scan_timer.stop()
            self._on_scan_timer_timeout()
        else:
            self._scan_timer.start()

    def _on_scan_timer_timeout(self) -> None:
        spec = self.split_spec()
        if spec.method == "files" and not ({"val", "test"} & set(spec.split_files)):
            self._set_status("Give at least a validation or a test list file.")
            return
        self.scan_requested_for = (self.folder(), spec)
        self._set_status("Reading the folder…")
        self.data_changed.emit()

    def show_preview(self, preview: SplitPreview) -> None:
        self.preview = preview
        layout = "Training/Testing folders" if preview.layout == "train-test" else "class folders"
        text = (
            f"{preview.files} files in {len(preview.classes)} classes "
            f"({', '.join(preview.classes)}); {layout}. Checking every file for readability "
            "and near-duplicates…"
        )
        if preview.paper_split_impossible:
            held = f"{DEFAULT_VAL_FRACTION * 100:g} %"
            text += (
                f" There is no Testing folder, so the paper's split cannot be used: {held} of "
                f"each class is held out for validation and {held} for test."
            )
        self._set_status(text)
        self._fill_counts(list(preview.classes), {}, preview.counts)

    def show_scan_progress(self, done: int, total: int) -> None:
        self.scan_bar.setVisible(True)
        self.scan_bar.setRange(0, max(total, 1))
        self.scan_bar.setValue(done)

    def show_report(self, report: Any) -> None:
        """Render a :class:`~trainer.data.checks.DataReport`."""
        self.report = report
        self.scan_bar.setVisible(False)
        self._set_status(
            f"{report.files_found} files in {len(report.classes)} classes "
            f"({', '.join(report.classes)}), {len(report.unreadable)} unreadable; "
            f"checked in {report.seconds:.1f} s." + "".join(f" {n}." for n in report.notes)
        )
        self._fill_counts(list(report.classes), report.counts_by_folder, report.counts_by_split)
        im = report.images
        if im.images:
            (wlo, wmed, whi), (hlo, hmed, hhi) = im.width, im.height
            common = ", ".join(f"{w}×{h} ({n})" for w, h, n in im.common_sizes[:3])
            self.sizes_label.setText(
                f"Image sizes: {im.distinct_sizes} different; width {wlo}–{whi} px (median "
                f"{wmed:g}), height {hlo}–{hhi} px (median {hmed:g}). Most common: {common}."
            )
        else:
            self.sizes_label.setText("No readable image.")
        self.unreadable_list.clear()
        for rel, reason in report.unreadable:
            self.unreadable_list.addItem(f"{rel}: {reason}")
        self.unreadable_list.setVisible(bool(report.unreadable))
        messages = plain_language(report)
        if messages:
            self.warning_label.setStyleSheet(WARNING_STYLE)
            self.warning_label.setText(
                "<b>Before you trust a score:</b><ul>"
                + "".join(f"<li>{html.escape(m, quote=False)}</li>" for m in messages)
                + "</ul>"
            )
            self.warning_label.setToolTip("\n\n".join(report.warnings))
        else:
            self.warning_label.setStyleSheet(OK_STYLE)
            self.warning_label.setText(
                "No near-duplicates between the splits, no unreadable files, no size shortcut."
            )
            self.warning_label.setToolTip("")
        self.warning_label.setVisible(True)
        self.pictures.show_for(report)

    def show_scan_error(self, message: str) -> None:
        self.scan_bar.setVisible(False)
        self.report = None
        self.status_label.setText(
            f"<b>This folder cannot be used:</b> {html.escape(plain_message(message), quote=False)}"
        )

    def _set_status(self, text: str) -> None:
        self.status_label.setText(html.escape(text, quote=False))

    def _fill_counts(
        self,
        classes: list[str],
        by_folder: dict[str, dict[str, int]],
        by_split: dict[str, dict[str, int]],
    ) -> None:
        rows = [(f"folder {name}", per) for name, per in by_folder.items()]
        names = {"train": "training", "val": "validation", "test": "test"}
        rows += [(names.get(name, name), per) for name, per in by_split.items()]
        t = self.counts_table
        t.clear()
        t.setColumnCount(len(classes) + 1)
        t.setHorizontalHeaderLabels([*classes, "total"])
        t.setRowCount(len(rows))
        t.setVerticalHeaderLabels([r[0] for r in rows])
        for i, (_, per) in enumerate(rows):
            for j, value in enumerate([*(per.get(c, 0) for c in classes), sum(per.values())]):
                item = QTableWidgetItem(str(value))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                t.setItem(i, j, item)

    # ------------------------------------------------------------------ slots
    def _on_folder_edit_editing_finished(self) -> None:
        if self.scan_requested_for is None or self.scan_requested_for[0] != self.folder():
            self._schedule_scan(immediately=True)

    def _on_browse_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose the data set folder", self.folder())
        if path:
            self.set_folder(path)

    def _browse_split_file(self, name: str) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, f"List file for {name}", self.folder(), "Text files (*.txt);;All files (*)"
        )
        if path:
            self.split_file_edits[name].setText(path)
            self.split_files.setChecked(True)
            self._on_split_value_changed()

    def _on_split_group_button_toggled(self, _button: object, checked: bool) -> None:
        if checked:
            self._update_split_widgets()
            self._schedule_scan()

    def _on_split_value_changed(self, *_: object) -> None:
        self._schedule_scan()

    def _update_split_widgets(self) -> None:
        self.fraction_spin.setEnabled(self.split_fraction.isChecked())
        for edit in self.split_file_edits.values():
            edit.setEnabled(self.split_files.isChecked())

    # ------------------------------------------------------------------ resuming
    def refresh_resumable(self) -> None:
        """List the runs under the user's runs folder that can be resumed."""
        self.resume_combo.clear()
        runs: list[ResumableRun] = resumable_runs()
        for run in runs:  # an unreadable run is listed as such, with nothing to resume
            self.resume_combo.addItem(run.describe(), str(run.path) if run.can_resume else "")
        if not runs:
            self.resume_combo.addItem("no interrupted run", "")
        self.resume_button.setEnabled(any(run.can_resume for run in runs))

    def _on_resume_button_clicked(self) -> None:
        path = self.resume_combo.currentData()
        if path:
            self.resume_requested.emit(str(path))

    def _on_resume_other_button_clicked(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a run folder to resume")
        if path:
            self.resume_requested.emit(path)
