"""The list of loaded items: thumbnail, name, and either the prediction or why it failed."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QStyle, QWidget

from desktop_app.viewer.canvas import to_qimage
from desktop_app.viewer.state import QtViewerState, ViewerItem

__all__ = ["QtItemList"]

ITEM_ROLE = Qt.ItemDataRole.UserRole
ERROR_COLOR = QColor(255, 120, 110)
OOD_COLOR = QColor(240, 190, 90)


class QtItemList(QListWidget):
    """Mirrors ``state.items``; selecting a row selects the item in the state."""

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._rows: dict[int, QListWidgetItem] = {}
        self.setIconSize(QSize(56, 56))
        self.setUniformItemSizes(False)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setAcceptDrops(False)  # the viewer tab takes drops
        self.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.setMinimumWidth(200)
        state.items_added.connect(self._on_items_added)
        state.items_cleared.connect(self._on_items_cleared)
        state.item_updated.connect(self._on_item_updated)
        state.current_changed.connect(self._on_current_changed)
        self.currentItemChanged.connect(self._on_current_item_changed)

    def row_for(self, item: ViewerItem) -> QListWidgetItem | None:
        return self._rows.get(item.id)

    # -- state -> widget --------------------------------------------------------------------
    def _on_items_added(self, items: list[ViewerItem]) -> None:
        for item in items:
            row = QListWidgetItem()
            row.setData(ITEM_ROLE, item.id)
            row.setSizeHint(QSize(0, 64))
            if item.scan is None:
                row.setFlags(row.flags() & ~Qt.ItemFlag.ItemIsSelectable)
            self._rows[item.id] = row
            self.addItem(row)
            self._refresh(item)

    def _on_items_cleared(self) -> None:
        self._rows.clear()
        self.clear()

    def _on_item_updated(self, item: ViewerItem) -> None:
        self._refresh(item)

    def _on_current_changed(self, item: ViewerItem | None) -> None:
        row = self.row_for(item) if item is not None else None
        if row is not self.currentItem():
            self.blockSignals(True)
            self.setCurrentItem(row)
            self.blockSignals(False)

    def _refresh(self, item: ViewerItem) -> None:
        row = self.row_for(item)
        if row is None:
            return
        row.setIcon(self._icon(item))
        title = item.name
        if item.is_series:
            title += f"  ({item.n_slices} slices)"
        row.setText(f"{title}\n{self._status(item)}")
        tip = [str(item.source)]
        if item.error:
            tip += item.details[:30] or [item.error]
            if len(item.details) > 30:
                tip.append(f"… and {len(item.details) - 30} more")
        row.setToolTip("\n".join(tip))
        if item.error or self.state.error(item):
            row.setForeground(QBrush(ERROR_COLOR))
        elif (p := self.state.prediction(item)) is not None and p.ood:
            row.setForeground(QBrush(OOD_COLOR))
        else:
            row.setData(Qt.ItemDataRole.ForegroundRole, None)

    def _status(self, item: ViewerItem) -> str:
        if item.error:
            return f"⚠ {item.error}"
        if (error := self.state.error(item)) is not None:
            return f"⚠ {error.split(': ', 1)[-1]}"
        pred = self.state.prediction(item)
        if pred is None:
            return item.position_label or "classifying…"
        p = pred.probabilities[pred.predicted_class]
        where = f"{item.position_label}: " if item.is_series else ""
        if pred.ood:
            return f"{where}⚠ not like a brain MRI"
        return f"{where}{pred.predicted_class} {p:.1%}"  # as the prediction panel shows it

    def _icon(self, item: ViewerItem) -> QIcon:
        if item.error:
            return self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        if item.thumbnail is None:
            return self.style().standardIcon(QStyle.StandardPixmap.SP_FileIcon)
        return QIcon(QPixmap.fromImage(to_qimage(np.asarray(item.thumbnail, np.uint8))))

    # -- widget -> state ----------------------------------------------------------------------
    def _on_current_item_changed(
        self, current: QListWidgetItem | None, _previous: QListWidgetItem | None
    ) -> None:
        if current is None:
            return
        item = self.state.item_by_id(int(current.data(ITEM_ROLE)))
        if item is not None and item.scan is not None:
            self.state.select(item)
