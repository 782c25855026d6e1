"""What the app left out, and a notice the user can open.

A saved setting that cannot be used falls back to its default, and a model file that cannot be
read is left out of the Model menu: the app goes on. The user is told all the same: a
status-bar button ("2 items skipped — show") opens a list of each item and why, in plain words.
The settings (:class:`~desktop_app.settings.AppSettings`) and the model registry
(:class:`~desktop_app.models.QtModelRegistry`) record what they skip; the main window shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

__all__ = ["QtSkippedButton", "QtSkippedDialog", "Skipped", "shown_value"]

INTRO = (
    "The app left these out when it started and goes on without them. A setting that could "
    "not be used is back at its default; a model file that could not be read is not in the "
    "Model menu."
)


@dataclass(frozen=True)
class Skipped:
    """One item left out: ``what`` names it (a setting, a model file's path), ``why`` says
    why in words a clinician or a student can act on (no exception names)."""

    what: str
    why: str


def shown_value(value: object, limit: int = 40) -> str:
    """A saved value as the notice shows it: quoted, one line, at most ``limit`` characters."""
    text = "".join(c if c.isprintable() else " " for c in str(value))
    return f"“{text[:limit]}…”" if len(text) > limit else f"“{text}”"


class QtSkippedDialog(QDialog):
    """The list of skipped items, each with its reason (plain text, never rich text)."""

    def __init__(self, items: Sequence[Skipped], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Items skipped")
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Item", "Why"])
        self.tree.setRootIsDecorated(False)
        self.tree.setWordWrap(True)
        for item in items:
            self.tree.addTopLevelItem(QTreeWidgetItem([item.what, item.why]))
        self.tree.resizeColumnToContents(0)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.resize(720, 320)

    def rows(self) -> list[tuple[str, str]]:
        """(item, why) as listed."""
        return [
            (self.tree.topLevelItem(k).text(0), self.tree.topLevelItem(k).text(1))
            for k in range(self.tree.topLevelItemCount())
        ]


class QtSkippedButton(QToolButton):
    """The status bar's "N items skipped — show"; hidden while nothing is skipped."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAutoRaise(True)
        self.setToolTip("Settings or model files the app could not use: see which, and why")
        self.items: list[Skipped] = []
        self.dialog: QtSkippedDialog | None = None
        self.clicked.connect(self._on_clicked)
        self.set_items([])

    def set_items(self, items: Sequence[Skipped]) -> None:
        self.items = list(items)
        n = len(self.items)
        self.setText(f"{n} item{'' if n == 1 else 's'} skipped — show")
        self.setHidden(n == 0)

    def show_list(self) -> QtSkippedDialog:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = QtSkippedDialog(self.items, self.window())
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def _on_clicked(self) -> None:
        self.show_list()
