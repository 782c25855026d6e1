"""The Viewer tab: drag-and-drop scans, prediction, Grad-CAM overlay, metadata, exports.

The tab is imported on first use, so that the Qt-free parts (``items``, ``planner``,
``analysis``, ``export``) can be imported without a Qt binding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from desktop_app.viewer.tab import QtViewerTab

__all__ = ["QtViewerTab"]


def __getattr__(name: str) -> Any:
    if name == "QtViewerTab":
        from desktop_app.viewer.tab import QtViewerTab

        return QtViewerTab
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
