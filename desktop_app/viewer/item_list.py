"""The list of loaded items: thumbnail, name, and either the prediction or why it failed.

DICOM series are grouped under one header row per study ("Study 1 · MR · 3 series"), in the
order the studies were met, and titled by their series title (number, description, modality,
slice count; never a patient attribute nor the folder name, which is often the patient's).
A series shows its series summary, not the answer for the slice on screen; while its strip
fills in the background, that row is rewritten at most every :data:`REFRESH_MS` (a row's
text change re-lays the list out), and each row's thumbnail icon is made once.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QStyle, QWidget

from desktop_app.viewer.canvas import to_qimage
from desktop_app.viewer.state import QtViewerState, ViewerItem
from trainer.api import CLASS, NOT_MRI, slice_call

__all__ = ["QtItemList"]

ITEM_ROLE = Qt.ItemDataRole.UserRole
ERROR_COLOR = QColor(255, 120, 110)
OOD_COLOR = QColor(240, 190, 90)
REFRESH_MS = 150  # series rows whose slices were classified meanwhile are rewritten together


class QtItemList(QListWidget):
    """Mirrors ``state.items``; selecting a row selects the item in the state."""

    def __init__(self, state: QtViewerState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._rows: dict[int, QListWidgetItem] = {}
        self._studies: dict[str, QListWidgetItem] = {}  # study key -> its header row
        self._study_items: dict[str, list[ViewerItem]] = {}
        self._icons: dict[int, QIcon] = {}  # item id -> its thumbnail icon, made once
        self._classified: set[int] = set()  # series whose rows wait for the timer
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.setInterval(REFRESH_MS)
        self._later.timeout.connect(self._refresh_classified)
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
        state.slice_classified.connect(self._on_slice_classified)
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
            study = _study_of(item)
            if study:
                members = self._study_items.setdefault(study, [])
                header = self._study_header(study)
                last = self._rows[members[-1].id] if members else header
                self.insertItem(self.row(last) + 1, row)
                members.append(item)
                self._refresh_header(study)
            else:
                self.addItem(row)
            self._refresh(item)

    def _study_header(self, study: str) -> QListWidgetItem:
        """The header row of a study, made (at the end of the list) the first time."""
        header = self._studies.get(study)
        if header is None:
            header = QListWidgetItem()
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)  # not selectable: a heading
            font = QFont(self.font())
            font.setBold(True)
            header.setFont(font)
            self._studies[study] = header
            self.addItem(header)
        return header

    def _refresh_header(self, study: str) -> None:
        members = self._study_items.get(study, [])
        number = list(self._studies).index(study) + 1
        modalities = sorted(
            {m.scan.series.modality for m in members if m.scan and m.scan.series} - {""}
        )
        parts = [f"Study {number}", *modalities, f"{len(members)} series"]
        self._studies[study].setText(" · ".join(parts))

    def study_titles(self) -> list[str]:
        """The header rows' texts, in list order (tests read them)."""
        return [header.text() for header in self._studies.values()]

    def _on_items_cleared(self) -> None:
        self._rows.clear()
        self._studies.clear()
        self._study_items.clear()
        self._icons.clear()
        self._classified.clear()
        self.clear()

    def _on_slice_classified(self, item_id: int) -> None:
        self._classified.add(item_id)
        if not self._later.isActive():
            self._later.start()

    def _refresh_classified(self) -> None:
        ids, self._classified = self._classified, set()
        for item_id in ids:
            item = self.state.item_by_id(item_id)
            if item is not None and item.is_series:
                self._refresh(item)

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
        icon = self._icons.get(item.id)
        if icon is None:
            icon = self._icons[item.id] = self._icon(item)
            row.setIcon(icon)
        series = item.scan.series if item.scan is not None else None
        title = series.title if series is not None else item.name
        if item.is_series and series is None:
            title += f"  ({item.n_slices} slices)"
        text = f"{title}\n{self._status(item)}"
        if row.text() != text:  # an unchanged row costs no new layout
            row.setText(text)
        tip = [str(item.source), *(series.notes if series is not None else ())]
        if item.error:
            tip += item.details[:30] or [item.error]
            if len(item.details) > 30:
                tip.append(f"… and {len(item.details) - 30} more")
        row.setToolTip("\n".join(tip))
        if item.error or self.state.error(item):
            row.setForeground(QBrush(ERROR_COLOR))
        elif self._looks_unlike_mri(item):
            row.setForeground(QBrush(OOD_COLOR))
        else:
            row.setData(Qt.ItemDataRole.ForegroundRole, None)

    def _status(self, item: ViewerItem) -> str:
        if item.error:
            return f"⚠ {item.error}"
        if (error := self.state.error(item)) is not None:
            return f"⚠ {error.split(': ', 1)[-1]}"
        if item.is_series:  # the series, not the slice on screen
            return self.state.series_summary(item)
        pred = self.state.prediction(item)
        if pred is None:
            return "classifying…"
        call = slice_call(pred)  # as the prediction panel shows it
        return call.headline() if call.state == CLASS else f"⚠ {call.headline()}"

    def _looks_unlike_mri(self, item: ViewerItem) -> bool:
        if item.is_series:
            result = self.state.series_result(item)
            return result is not None and result.state == NOT_MRI
        pred = self.state.prediction(item)
        return pred is not None and slice_call(pred).state == NOT_MRI

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


def _study_of(item: ViewerItem) -> str:
    """The study key of a DICOM series ("" for anything else)."""
    series = item.scan.series if item.scan is not None else None
    return series.study if series is not None else ""
