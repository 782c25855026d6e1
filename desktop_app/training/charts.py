"""Live training curves (pyqtgraph) and the confusion matrix as a heat map.

pyqtgraph rather than matplotlib for the live curves: it redraws a few points in well under a
millisecond inside the Qt event loop, and it is pure Python. The figures the trainer writes
into the run folder (``curves.png``, ``confusion_matrix.png``) stay matplotlib; these widgets
show the same numbers live and save what is on screen as PNG.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop_app.training.state import RunProgress, accuracy_range

if TYPE_CHECKING:
    import pyqtgraph as pg

# Colour-blind-safe pair (Okabe–Ito) that reads on the app's dark background: training sky
# blue, validation orange; the best epoch a light dotted line.
TRAIN_COLOUR = "#56B4E9"
VAL_COLOUR = "#E69F00"
BEST_COLOUR = "#9aa3ad"
BACKGROUND = "#1b1d21"  # the dark theme's Base colour (main.apply_dark_theme)
FOREGROUND = "#dee0e4"
DIAGONAL_COLOUR = "#3d7fd1"  # right answers in the confusion matrix
MISTAKE_COLOUR = "#E69F00"  # mistakes (the Okabe-Ito orange of the validation curve)


def save_widget_png(widget: QWidget, path: str | Path, scale: float = 2.0) -> Path:
    """Render ``widget`` into a PNG at ``scale`` times its size (sharp on print and slides).

    Rendering into a QImage works offscreen and for widgets that are not on screen, unlike a
    screen grab.
    """
    size = widget.size()
    image = QImage(
        int(size.width() * scale), int(size.height() * scale), QImage.Format.Format_ARGB32
    )
    image.setDevicePixelRatio(scale)
    image.fill(QColor(BACKGROUND))
    painter = QPainter(image)
    try:
        widget.render(painter, QPoint())
    finally:
        painter.end()
    path = Path(path)
    if not image.save(str(path), "PNG"):
        raise OSError(f"{path}: could not write the PNG file")
    return path


class QtCurvePlots(QWidget):
    """Loss and accuracy per epoch, training and validation, with the best epoch marked.

    The widget renders a :class:`~desktop_app.training.state.RunProgress`: it is redrawn from
    the whole history each time, so a resumed run (history read from its folder) and a fresh
    one look the same and a point can never be drawn twice.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._plots: tuple[pg.PlotWidget, pg.PlotWidget, dict[str, pg.PlotDataItem]] | None = None
        self._outer = QVBoxLayout(self)
        self._outer.setContentsMargins(0, 0, 0, 0)
        self._outer.setSpacing(2)

    # pyqtgraph (about 0.3-0.5 s of imports) loads when the plots are first shown or used, not
    # while the app's window is built (issue 22)
    @property
    def loss_plot(self) -> pg.PlotWidget:
        return self._ensure_plots()[0]

    @property
    def accuracy_plot(self) -> pg.PlotWidget:
        return self._ensure_plots()[1]

    @property
    def curves(self) -> dict[str, pg.PlotDataItem]:
        return self._ensure_plots()[2]

    def showEvent(self, event: QShowEvent) -> None:  # Qt's name
        self._ensure_plots()
        super().showEvent(event)

    def _ensure_plots(self) -> tuple[pg.PlotWidget, pg.PlotWidget, dict[str, pg.PlotDataItem]]:
        if self._plots is None:
            self._plots = self._build_plots()
        return self._plots

    def _build_plots(self) -> tuple[pg.PlotWidget, pg.PlotWidget, dict[str, pg.PlotDataItem]]:
        # never pick up another installed binding
        os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")
        import pyqtgraph as pg

        outer = self._outer
        # One legend for both plots, above them: inside a plot it covered the data.
        self.legend = QLabel(
            f"<span style='color:{TRAIN_COLOUR}'>━━ ●</span> training &nbsp;&nbsp; "
            f"<span style='color:{VAL_COLOUR}'>━━ ■</span> validation &nbsp;&nbsp; "
            f"<span style='color:{BEST_COLOUR}'>┆</span> best epoch (by validation accuracy)"
        )
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        outer.addWidget(self.legend)
        layout = QHBoxLayout()
        layout.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(layout, 1)
        loss_plot = self._make_plot("Loss", "cross-entropy")
        accuracy_plot = self._make_plot("Accuracy", "accuracy")
        accuracy_plot.setYRange(0, 1, padding=0.02)
        layout.addWidget(loss_plot)
        layout.addWidget(accuracy_plot)
        curves: dict[str, pg.PlotDataItem] = {}
        for key, plot, name, colour, symbol in (
            ("loss", loss_plot, "training", TRAIN_COLOUR, "o"),
            ("val_loss", loss_plot, "validation", VAL_COLOUR, "s"),
            ("accuracy", accuracy_plot, "training", TRAIN_COLOUR, "o"),
            ("val_accuracy", accuracy_plot, "validation", VAL_COLOUR, "s"),
        ):
            curves[key] = plot.plot(
                [],
                [],
                name=name,
                pen=pg.mkPen(colour, width=2),
                symbol=symbol,
                symbolSize=7,
                symbolBrush=colour,
                symbolPen=colour,
            )
        self._best_lines = [
            pg.InfiniteLine(
                angle=90, movable=False, pen=pg.mkPen(BEST_COLOUR, style=Qt.PenStyle.DotLine)
            )
            for _ in range(2)
        ]
        for plot, line in zip((loss_plot, accuracy_plot), self._best_lines, strict=True):
            plot.addItem(line, ignoreBounds=True)
            line.setVisible(False)
        return loss_plot, accuracy_plot, curves

    @staticmethod
    def _make_plot(title: str, y_label: str) -> pg.PlotWidget:
        import pyqtgraph as pg

        plot = pg.PlotWidget(background=BACKGROUND)
        plot.setTitle(title, color=FOREGROUND, size="11pt")
        item = plot.getPlotItem()
        item.setLabel("bottom", "epoch", color=FOREGROUND)
        item.setLabel("left", y_label, color=FOREGROUND)
        for axis in ("bottom", "left"):
            ax = item.getAxis(axis)
            ax.setPen(FOREGROUND)
            ax.setTextPen(FOREGROUND)
            # a loss of 0.25 is shown as 0.25, not as 250 with "(x0.001)" in the label
            ax.enableAutoSIPrefix(False)
        item.showGrid(x=True, y=True, alpha=0.2)
        # the page's own "Save plots as PNG" replaces pyqtgraph's context menu, whose export
        # dialog offers formats that need optional packages
        item.setMenuEnabled(False)
        plot.setMinimumSize(260, 200)
        return plot

    def render_progress(self, progress: RunProgress) -> None:
        for key, curve in self.curves.items():
            xs, ys = progress.series(key)
            curve.setData(xs, ys)
        best = progress.best_epoch
        for line in self._best_lines:
            line.setVisible(best is not None)
            if best is not None:
                line.setValue(best)
        values = progress.series("accuracy")[1] + progress.series("val_accuracy")[1]
        self.accuracy_plot.setYRange(*accuracy_range(values), padding=0.02)
        epochs = max(progress.epochs, 1)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.setXRange(0.5, epochs + 0.5, padding=0)
            axis = plot.getPlotItem().getAxis("bottom")
            if epochs <= 20:
                axis.setTickSpacing(major=1, minor=1)  # epochs are whole numbers
            else:
                axis.setTickSpacing()  # automatic

    def clear(self) -> None:
        self.render_progress(RunProgress())

    def points(self, key: str) -> int:
        """How many points one series shows (tests and accessibility descriptions)."""
        data = self.curves[key].getData()[0]
        return 0 if data is None else len(data)

    def save_png(self, path: str | Path) -> Path:
        self._ensure_plots()
        return save_widget_png(self, path)


def _mix(low: str, high: str, fraction: float) -> QColor:
    f = min(max(fraction, 0.0), 1.0)
    a, b = QColor(low), QColor(high)
    return QColor(
        round(a.red() + (b.red() - a.red()) * f),
        round(a.green() + (b.green() - a.green()) * f),
        round(a.blue() + (b.blue() - a.blue()) * f),
    )


def confusion_cell_colour(count: int, row_total: int, diagonal: bool) -> QColor:
    """A cell's colour on the dark theme: empty cells are the table's own background, the
    diagonal (right answers) blue by the share of its row, and any mistake amber, visible
    even when it is one image (a share-of-the-largest-count scale, as in the trainer's PNG,
    leaves 1 of 155 as white as 0)."""
    if count == 0:
        return QColor(BACKGROUND)
    share = count / max(row_total, 1)
    if diagonal:
        return _mix(BACKGROUND, DIAGONAL_COLOUR, 0.35 + 0.65 * share)
    return _mix(BACKGROUND, MISTAKE_COLOUR, 0.35 + 0.65 * min(1.0, share**0.5 * 2))


def _readable_text(background: QColor) -> QColor:
    """Black or near-white, whichever reads better on ``background`` (relative luminance)."""
    luminance = (
        0.2126 * background.redF() + 0.7152 * background.greenF() + 0.0722 * background.blueF()
    )
    return QColor("#111111" if luminance > 0.45 else FOREGROUND)


class QtConfusionMatrix(QTableWidget):
    """Rows are true classes, columns predicted classes; colour by count, like the paper.

    A table rather than an image plot: counts stay text (selectable, read by screen readers),
    and clicking a cell says which (true, predicted) pair the user wants to see, which the
    results page uses to filter the misclassified gallery.
    """

    cell_chosen = Signal(str, str)  # true class, predicted class ("" = all)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setCornerButtonEnabled(False)
        self.setToolTip(
            "Rows: true class. Columns: predicted class. Click a cell off the "
            "diagonal to see those images below."
        )
        self._classes: list[str] = []
        self.cellClicked.connect(self._on_cell_clicked)

    def set_matrix(self, matrix: Sequence[Sequence[int]], classes: Sequence[str]) -> None:
        self._classes = list(classes)
        n = len(classes)
        self.clear()
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels([f"predicted\n{c}" for c in classes])
        self.setVerticalHeaderLabels([f"true {c}" for c in classes])
        bold = QFont()
        bold.setBold(True)
        for i, row in enumerate(matrix):
            total = sum(row) or 1
            for j, count in enumerate(row):
                item = QTableWidgetItem(str(count))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                colour = confusion_cell_colour(count, total, i == j)
                item.setBackground(QBrush(colour))
                item.setForeground(QBrush(_readable_text(colour)))
                if i == j:
                    item.setFont(bold)
                item.setToolTip(
                    f"true {classes[i]}, predicted {classes[j]}: {count} "
                    f"({100 * count / total:.1f} % of true {classes[i]})"
                )
                self.setItem(i, j, item)

    def count(self, true_index: int, predicted_index: int) -> int:
        item = self.item(true_index, predicted_index)
        return int(item.text()) if item is not None else 0

    def _on_cell_clicked(self, row: int, column: int) -> None:
        if row == column:
            self.cell_chosen.emit("", "")
        else:
            self.cell_chosen.emit(self._classes[row], self._classes[column])

    def save_png(self, path: str | Path) -> Path:
        return save_widget_png(self, path)
