"""The Training tab: retrain the classifier with live curves, from data to a kept model.

``QtTrainingTab(registry)`` is the widget the main window puts in its "Training" tab. The
modules below it split along napari's line: plain-data modules with no Qt (:mod:`.state`,
:mod:`.runs`, :mod:`.jobs`, :mod:`.probe`), then Qt widgets that render them and a
controller that runs the long work in workers.

``QtTrainingTab`` is imported lazily, so the Qt-free modules stay importable (and testable)
where PySide6 is not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop_app.training.tab import QtTrainingTab

__all__ = ["QtTrainingTab"]


def __getattr__(name: str) -> Any:
    if name == "QtTrainingTab":
        from desktop_app.training.tab import QtTrainingTab

        return QtTrainingTab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
