"""The side panels: prediction, Grad-CAM controls, metadata.

Each panel takes the :class:`QtViewerState` in its constructor, redraws itself from it on
``results_changed`` / ``current_changed``, and changes it only through its setters.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.viewer.canvas import to_qimage
from desktop_app.viewer.state import (
    CAM_LABELS,
    NO_TUMOUR,
    PREDICTED,
    QtViewerState,
    ViewerItem,
)
from trainer.api import PredictionWarning, localization_sentence, slice_call

__all__ = ["QtCamControls", "QtMetadataPanel", "QtPredictionPanel"]

WARNING_STYLE = (
    "QLabel { background: #5a1d1d; color: #ffd7d0; border: 1px solid #c0392b;"
    " border-radius: 4px; padding: 6px; font-weight: bold; }"
)
NOTE_STYLE = "QLabel { color: #f0c060; }"
BAR_STYLE = (
    "QProgressBar { border: 1px solid #3a3f47; border-radius: 3px; background: #1d2127;"
    " text-align: right; padding-right: 4px; color: #e6e6e6; min-height: 16px; }"
    "QProgressBar::chunk { background: %s; border-radius: 2px; }"
)
TOP_COLOR = "#2f80ed"
OTHER_COLOR = "#56606d"


class QtPredictionPanel(QGroupBox):
    """Predicted class, one bar per class (calibrated probability), the OOD warning."""

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__("Prediction", parent)
        self.state = state
        self.busy = False
        self.model_problem: str | None = None
        self.headline = QLabel("No image")
        self.headline.setObjectName("headline")
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        self.headline.setFont(font)
        self.headline.setWordWrap(True)
        self.headline.setTextFormat(Qt.TextFormat.PlainText)  # class names come from the model
        self.ood_warning = QLabel(
            "⚠ This image is probably not a brain MRI like the ones the model was trained on. "
            "The class probabilities are meaningless for it."
        )
        self.ood_warning.setWordWrap(True)
        self.ood_warning.setStyleSheet(WARNING_STYLE)
        self.ood_warning.hide()
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        self.notes.setTextFormat(Qt.TextFormat.PlainText)  # file names and reasons, never HTML
        self.notes.setStyleSheet(NOTE_STYLE)
        self.notes.hide()
        self.bars_box = QWidget()
        self.bars_layout = QGridLayout(self.bars_box)
        self.bars_layout.setContentsMargins(0, 0, 0, 0)
        self.bars: dict[str, QProgressBar] = {}
        self.caption = QLabel(
            "Calibrated probabilities. Predicted on the file's own window; "
            "window/level only changes the display."
        )
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("QLabel { color: #8d96a3; font-size: 9pt; }")
        layout = QVBoxLayout(self)
        layout.addWidget(self.headline)
        layout.addWidget(self.ood_warning)
        layout.addWidget(self.bars_box)
        layout.addWidget(self.notes)
        layout.addWidget(self.caption)
        state.classes_changed.connect(self._on_classes_changed)
        state.results_changed.connect(self._on_results_changed)
        self._on_classes_changed(state.classes)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self._on_results_changed()

    def set_model_problem(self, message: str | None) -> None:
        """Why there is no model to predict with (None once one is loaded)."""
        self.model_problem = message
        self._on_results_changed()

    def _on_classes_changed(self, classes: list[str]) -> None:
        for bar in self.bars.values():
            bar.deleteLater()
        while self.bars_layout.count():
            taken = self.bars_layout.takeAt(0)
            if taken is not None and taken.widget() is not None:
                taken.widget().deleteLater()
        self.bars = {}
        for row, name in enumerate(classes):
            label = QLabel(name)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(0)
            bar.setFormat("")
            bar.setStyleSheet(BAR_STYLE % OTHER_COLOR)
            self.bars_layout.addWidget(label, row, 0)
            self.bars_layout.addWidget(bar, row, 1)
            self.bars[name] = bar
        self._on_results_changed()

    def _on_results_changed(self) -> None:
        item = self.state.current
        pred = self.state.prediction()
        error = self.state.error()
        self.ood_warning.setVisible(bool(pred is not None and pred.ood))
        if pred is None and self.model_problem is not None:
            self.headline.setText("No model loaded")
        elif item is None:
            self.headline.setText("No image")
        elif error is not None and pred is None:
            self.headline.setText("Prediction failed")
        elif pred is None:
            self.headline.setText(
                "Predicting…" if self.busy or self.state.classes else "Waiting for the model…"
            )
        else:
            # the state first (trainer.series_call): no big class headline for an image the
            # model was not made for, nor for an unsure one: a "notumor 100.0 %" would be
            # read before the warning under it
            self.headline.setText(slice_call(pred).headline())
        for name, bar in self.bars.items():
            value = pred.probabilities.get(name, 0.0) if pred is not None else 0.0
            bar.setValue(round(value * 1000))
            bar.setFormat(f"{value:.1%}" if pred is not None else "")
            top = pred is not None and name == pred.predicted_class
            bar.setStyleSheet(BAR_STYLE % (TOP_COLOR if top else OTHER_COLOR))
        notes = []
        if pred is None and self.model_problem is not None:
            notes.append(self.model_problem)
        if error is not None:
            notes.append(error)
        if (cam_error := self.state.cam_error()) is not None:
            notes.append(cam_error)
        if pred is not None:  # the out-of-distribution one is the red box above, in its words
            notes += [w.text for w in pred.warnings if w.code != PredictionWarning.OOD]
        self.notes.setText("\n".join(f"• {n}" for n in notes))
        self.notes.setVisible(bool(notes))


class QtCamControls(QGroupBox):
    """Overlay on/off, opacity, method, target class, side by side; the map's legend and
    what was measured about it."""

    opacity_committed = Signal(float)  # slider released: worth saving in the settings

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__("Heat map", parent)
        self.state = state
        d = state.display
        self.show_overlay = QCheckBox("Show overlay")
        self.show_overlay.setChecked(d.overlay)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(round(d.opacity * 100))
        self.opacity_label = QLabel(f"{d.opacity:.0%}")
        self.opacity_label.setMinimumWidth(36)
        self.method = QComboBox()
        for key, label in CAM_LABELS.items():
            self.method.addItem(label, key)
        self.method.setCurrentIndex(max(0, self.method.findData(d.cam_method)))
        self.target = QComboBox()
        self.legend = QLabel()  # filled with the first map: see fill_legend
        self.legend.setMinimumSize(150, 10)
        self.legend.setToolTip(
            "The colour scale of the map: parts below half of its strongest point are not "
            "coloured; brighter means stronger evidence."
        )
        self.side_by_side = QCheckBox("Side by side with the original")
        self.side_by_side.setChecked(d.side_by_side)
        self.status = QLabel("")
        self.status.setStyleSheet("QLabel { color: #8d96a3; }")
        self.explanation = QLabel()
        self.explanation.setWordWrap(True)
        self.explanation.setTextFormat(Qt.TextFormat.PlainText)
        self.explanation.setStyleSheet("QLabel { color: #aab2bd; font-size: 9pt; }")

        opacity_row = QHBoxLayout()
        opacity_row.addWidget(self.opacity, 1)
        opacity_row.addWidget(self.opacity_label)
        form = QFormLayout(self)
        form.addRow(self.show_overlay)
        form.addRow("Opacity", opacity_row)
        form.addRow("Method", self.method)
        form.addRow("Explain", self.target)
        legend_row = QHBoxLayout()
        legend_row.addWidget(QLabel("weak"))
        legend_row.addWidget(self.legend)
        legend_row.addWidget(QLabel("strongest"))
        legend_row.addStretch(1)
        form.addRow("Scale", legend_row)
        form.addRow(self.side_by_side)
        form.addRow(self.status)
        form.addRow(self.explanation)

        self.show_overlay.toggled.connect(self._on_show_overlay_toggled)
        self.opacity.valueChanged.connect(self._on_opacity_value_changed)
        self.opacity.sliderReleased.connect(self._on_opacity_slider_released)
        self.method.currentIndexChanged.connect(self._on_method_changed)
        self.target.currentIndexChanged.connect(self._on_target_changed)
        self.side_by_side.toggled.connect(self._on_side_by_side_toggled)
        state.classes_changed.connect(self._on_classes_changed)
        state.current_changed.connect(self._on_current_changed)
        state.results_changed.connect(self._update_explanation)
        self._on_classes_changed(state.classes)

    def fill_legend(self) -> None:
        """Draw the colour scale, once. Not while the window is built: it needs matplotlib's
        colour map (a few tenths of a second of imports, issue 22); the viewer calls this when
        it shows its first map, whose colours the worker has already computed with it."""
        if self.legend.pixmap().isNull():
            from trainer.api import legend_rgba

            self.legend.setPixmap(QPixmap.fromImage(to_qimage(legend_rgba(150, 10))))

    def set_busy(self, busy: bool) -> None:
        method = self.state.display.cam_method
        self.status.setText(f"Computing the heat map ({CAM_LABELS[method]})…" if busy else "")

    def _on_current_changed(self, _item: ViewerItem | None) -> None:
        # the state resets the target for each image; the box must say so
        self.target.blockSignals(True)
        self.target.setCurrentIndex(max(0, self.target.findData(self.state.display.target)))
        self.target.blockSignals(False)
        self._update_explanation()

    def _update_explanation(self) -> None:
        """What the colours mean for the class the map is computed for (the red blob on a
        "notumor" image is the first thing a reader takes for a lesion)."""
        pred = self.state.prediction()
        target = self.state.display.target or (pred.predicted_class if pred else "")
        if not target:
            self.explanation.setText("")
            return
        if self.state.map_withheld():
            self.explanation.setText(
                "No map is drawn for a \u201cno tumour\u201d answer: there is no lesion to point "
                "at. To see what would speak for a tumour class, choose it under Explain."
            )
            return
        what = (
            "what the model took as normal-looking brain, not a lesion"
            if target == NO_TUMOUR
            else "not an outline of a tumour"
        )
        self.explanation.setText(
            f"Coloured: the parts of the image that most raised the model's score for "
            f"\u201c{target}\u201d (the strongest half of the map; weaker parts are left "
            f"uncoloured). It is {what}. "
            f"{localization_sentence(self.state.model_meta, target)} "
            "Help \u2192 Reading the screen explains more."
        )

    def _on_classes_changed(self, classes: list[str]) -> None:
        self.target.blockSignals(True)
        self.target.clear()
        self.target.addItem("Predicted class", PREDICTED)
        for name in classes:
            self.target.addItem(name, name)
        self.target.setCurrentIndex(max(0, self.target.findData(self.state.display.target)))
        self.target.blockSignals(False)

    def _on_show_overlay_toggled(self, on: bool) -> None:
        self.state.set_display(overlay=on)

    def _on_opacity_value_changed(self, value: int) -> None:
        self.opacity_label.setText(f"{value}%")
        self.state.set_display(opacity=value / 100.0)
        if not self.opacity.isSliderDown():
            self.opacity_committed.emit(value / 100.0)

    def _on_opacity_slider_released(self) -> None:
        self.opacity_committed.emit(self.opacity.value() / 100.0)

    def _on_method_changed(self, _index: int) -> None:
        self.state.set_display(cam_method=self.method.currentData())

    def _on_target_changed(self, _index: int) -> None:
        self.state.set_display(target=self.target.currentData() or PREDICTED)

    def _on_side_by_side_toggled(self, on: bool) -> None:
        self.state.set_display(side_by_side=on)


class QtMetadataPanel(QGroupBox):
    """Size, spacing, modality, series description...; identifiers only on request.

    The identifiers are never in ``ScanSlice.meta``; when the user ticks the box the tab reads
    them from the file and puts them into ``state.identifiers`` for this item only, and they
    are dropped again when the box is cleared.
    """

    identifiers_requested = Signal(bool)

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__("Image information", parent)
        self.state = state
        self.table = QTableWidget(0, 2)
        self.table.horizontalHeader().hide()
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        self.table.setFrameShape(QFrame.Shape.NoFrame)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.show_identifiers = QCheckBox("Show patient identifiers")
        self.show_identifiers.setToolTip(
            "Names, IDs, dates and UIDs from the DICOM header. They are never shown, logged or "
            "exported unless this box is ticked."
        )
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addWidget(self.show_identifiers)
        self.show_identifiers.toggled.connect(self._on_show_identifiers_toggled)
        state.current_changed.connect(self._on_current_changed)
        state.results_changed.connect(self.refresh)
        self.refresh()

    def rows(self) -> list[tuple[str, str]]:
        """What the table shows, as (label, value) pairs; tests and exports read this."""
        item = self.state.current
        slc = item.current_slice if item is not None else None
        if item is None or slc is None or item.scan is None:
            return []
        h, w = slc.data.shape[:2]
        rows = [
            ("File", slc.source.name),
            ("Kind", _KINDS.get(item.scan.kind, item.scan.kind)),
            ("Image size", f"{w} × {h} px"),
        ]
        if item.is_series:
            rows.append(("Slice", f"{item.position + 1} of {item.n_slices}"))
        if item.scan.description and item.scan.description != slc.source.name:
            rows.append(("Description", item.scan.description))
        rows += [(k, v) for k, v in slc.meta.items() if k not in _SHOWN_AS_IMAGE_SIZE]
        if self.state.display.show_identifiers:
            rows += [
                (f"{k} {IDENTIFIER_MARK}", v)
                for k, v in self.state.identifiers.get(item.id, {}).items()
            ]
        return rows

    def refresh(self) -> None:
        rows = self.rows()
        self.table.setRowCount(len(rows))
        for r, (label, value) in enumerate(rows):
            key = QTableWidgetItem(label)
            cell = QTableWidgetItem(value)
            if label.endswith(IDENTIFIER_MARK):  # make identifiers impossible to overlook
                key.setForeground(IDENTIFIER_COLOR)
                cell.setForeground(IDENTIFIER_COLOR)
            else:
                key.setForeground(Qt.GlobalColor.gray)
            self.table.setItem(r, 0, key)
            self.table.setItem(r, 1, cell)
        self.table.resizeRowsToContents()
        item = self.state.current
        self.show_identifiers.setEnabled(item is not None and item.is_dicom)

    def _on_current_changed(self, _item: ViewerItem | None) -> None:
        self.refresh()

    def _on_show_identifiers_toggled(self, on: bool) -> None:
        self.identifiers_requested.emit(on)


_SHOWN_AS_IMAGE_SIZE = ("Rows×columns", "Size")
IDENTIFIER_MARK = "(identifier)"
IDENTIFIER_COLOR = QColor(255, 170, 90)
_KINDS = {"image": "Image file", "dicom": "DICOM file", "dicom-series": "DICOM series"}
