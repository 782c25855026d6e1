"""The per-slice strip under the slice slider, and the series summary beside it.

One cell per slice, coloured by the slice's call (``trainer.strip_colours``: the class's hue,
stronger when more probable; grey when unsure; dark and crossed when the slice does not look
like a brain MRI; background while not classified yet). The slice on screen is outlined. A
click or a drag jumps to a slice; the arrow, Page, Home and End keys move along it.

The strip reads everything from :class:`QtViewerState` (``predictions``, ``series_summary``)
and changes only the position. It does little per arriving batch, so that a 300-slice series
fills without the GUI noticing (benchmarks/series_strip.py): predictions that arrive within
:data:`REFRESH_MS` are drawn together, each slice's colour is worked out once and kept, and
only the cells that changed are repainted.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QRect, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QHelpEvent, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from desktop_app.viewer.state import QtViewerState, ViewerItem
from trainer import NOT_FOR_CLINICAL_USE
from trainer.api import NOT_MRI, cell_colour, slice_call

__all__ = ["QtSeriesStrip", "QtSliceCells"]

CELL_HEIGHT = 18
REFRESH_MS = 50  # results arriving within this are drawn together (20 updates a second)
_OUTLINE = QColor(255, 255, 255)
_CROSS = QColor(220, 220, 225)


class QtSliceCells(QWidget):
    """The cells; focusable, so the keys work once the strip was clicked."""

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMinimumHeight(CELL_HEIGHT)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("")  # tooltips are per cell, see event()
        self.setAccessibleName("Slices, coloured by the predicted class")
        # each slice's colour and "not a brain MRI" cross, kept for the item on screen
        self._cache_id: int | None = None
        self._colours: list[QColor | None] = []
        self._crossed: list[bool] = []
        self._outlined: int | None = None  # the slice outlined at the last paint
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._repaint_new_cells)
        state.current_changed.connect(self._on_cache_void)
        state.view_changed.connect(self._on_view_changed)
        state.slice_classified.connect(self._on_slice_classified)
        state.classes_changed.connect(self._on_cache_void)

    def sizeHint(self) -> QSize:
        return QSize(400, CELL_HEIGHT)

    # -- state -> widget --------------------------------------------------------------------
    def _on_cache_void(self, *_args: object) -> None:
        self._cache_id = None
        self.update()

    def _on_view_changed(self) -> None:
        """The outline moves: repaint the two cells it leaves and enters, not all 300."""
        item = self.state.current
        if item is None or self._cache_id != item.id or self._outlined is None:
            self.update()
            return
        if item.position != self._outlined:
            for position in {self._outlined, item.position}:
                if position < item.n_slices:
                    self.update(self._cell(position, item.n_slices).adjusted(-2, 0, 2, 0))

    def _on_slice_classified(self, item_id: int) -> None:
        current = self.state.current
        if current is not None and current.id == item_id and not self._refresh.isActive():
            self._refresh.start()

    def _fill_cache(self, item: ViewerItem) -> list[int]:
        """Colour the cells of slices classified since the last call; their positions."""
        if self._cache_id != item.id or len(self._colours) != item.n_slices:
            self._cache_id = item.id
            self._colours = [None] * item.n_slices
            self._crossed = [False] * item.n_slices
        predictions, classes, new = self.state.predictions, self.state.classes, []
        for position, colour in enumerate(self._colours):
            if colour is None and (prediction := predictions.get((item.id, position))):
                call = slice_call(prediction)
                self._colours[position] = QColor(*cell_colour(call, classes))
                self._crossed[position] = call.state == NOT_MRI
                new.append(position)
        return new

    def _repaint_new_cells(self) -> None:
        item = self.state.current
        if item is None or not item.is_series:
            return
        for position in self._fill_cache(item):
            self.update(self._cell(position, item.n_slices).adjusted(-1, 0, 1, 0))

    def _cell(self, position: int, n: int) -> QRect:
        width = self.width() / n
        return QRectF(position * width, 0, width, self.height()).toAlignedRect()

    def cell_rects(self) -> list[QRectF]:
        """The cells' rectangles, in slice order (tests click on them)."""
        item = self.state.current
        n = item.n_slices if item is not None else 0
        if n == 0:
            return []
        width = self.width() / n
        return [QRectF(k * width, 0, width, self.height()) for k in range(n)]

    def paintEvent(self, event: QPaintEvent) -> None:
        item = self.state.current
        if item is None or not item.is_series:
            return
        if self._cache_id != item.id or len(self._colours) != item.n_slices:
            self._fill_cache(item)  # a new item or model: every cell (a full repaint follows)
        painter = QPainter(self)
        n = item.n_slices
        pending = QColor(*cell_colour(None, self.state.classes))
        width = self.width() / n
        gap = 1.0 if width >= 4 else 0.0
        dirty = event.rect()  # only the cells Qt asks for (one new batch: a few cells)
        first = max(0, int(dirty.left() // width) - 1)
        last = min(n, math.ceil((dirty.right() + 1) / width) + 1)
        painter.setPen(QPen(_CROSS, 1))
        for position in range(first, last):
            rect = QRectF(position * width, 0, width, self.height())
            painter.fillRect(rect.adjusted(0, 0, -gap, 0), self._colours[position] or pending)
            if self._crossed[position]:
                inner = rect.adjusted(1, 3, -gap - 1, -3)
                painter.drawLine(inner.topLeft(), inner.bottomRight())
                painter.drawLine(inner.bottomLeft(), inner.topRight())
        self._outlined = min(item.position, n - 1)
        current = QRectF(self._outlined * width, 0, width, self.height())
        painter.setPen(QPen(_OUTLINE, 2))
        painter.drawRect(current.adjusted(1, 1, -1, -1))
        painter.end()

    # -- widget -> state --------------------------------------------------------------------
    def slice_at(self, x: float) -> int | None:
        item = self.state.current
        if item is None or item.n_slices == 0 or self.width() <= 0:
            return None
        return max(0, min(item.n_slices - 1, int(x / self.width() * item.n_slices)))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        self._jump(event.position().x())
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self._jump(event.position().x())
        event.accept()

    def _jump(self, x: float) -> None:
        position = self.slice_at(x)
        if position is not None:
            self.state.set_position(position)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        item = self.state.current
        if item is None:
            super().keyPressEvent(event)
            return
        moves = {
            Qt.Key.Key_Left: item.position - 1,
            Qt.Key.Key_Right: item.position + 1,
            Qt.Key.Key_PageUp: item.position - 10,
            Qt.Key.Key_PageDown: item.position + 10,
            Qt.Key.Key_Home: 0,
            Qt.Key.Key_End: item.n_slices - 1,
        }
        target = moves.get(Qt.Key(event.key()))
        if target is None:
            super().keyPressEvent(event)
            return
        self.state.set_position(target)
        event.accept()

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.cell_text(self.slice_at(event.position().x()))
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return super().event(event)

    def cell_text(self, position: int | None) -> str:
        """ "Slice 12 of 24: glioma 97.3 %", in the words the panel uses."""
        item = self.state.current
        if item is None or position is None:
            return ""
        calls = self.state.slice_calls(item)
        call = calls[position] if position < len(calls) else None
        said = call.headline() if call is not None else "not classified yet"
        return f"Slice {position + 1} of {item.n_slices}: {said}"


class QtSeriesStrip(QWidget):
    """The cells and, under them, the series summary ("glioma on 14 of 24 slices, ...")."""

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.cells = QtSliceCells(state)
        self.summary = QLabel()
        self.summary.setTextFormat(Qt.TextFormat.PlainText)  # class names come from the model
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("QLabel { color: #c8ced6; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.cells)
        layout.addWidget(self.summary)
        self._later = QTimer(self)  # predictions arriving together: one new text
        self._later.setSingleShot(True)
        self._later.setInterval(REFRESH_MS)
        self._later.timeout.connect(self._refresh)
        state.current_changed.connect(self._refresh)
        state.slice_classified.connect(self._on_slice_classified)
        state.classes_changed.connect(self._refresh)
        self._refresh()

    def _on_slice_classified(self, item_id: int) -> None:
        current = self.state.current
        if current is not None and current.id == item_id and not self._later.isActive():
            self._later.start()

    def _refresh(self, *_args: object) -> None:
        item: ViewerItem | None = self.state.current
        text = self.state.series_summary(item) if item is not None else ""
        if text and not text.startswith("classifying"):
            text = f"Series: {text}. {NOT_FOR_CLINICAL_USE}"
        elif text:
            text = f"Series: {text}"
        self.summary.setText(text)
