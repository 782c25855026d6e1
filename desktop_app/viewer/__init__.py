"""The Viewer tab: drag-and-drop scans, prediction, Grad-CAM overlay, metadata, exports."""

from desktop_app.viewer.tab import QtViewerTab

__all__ = ["QtViewerTab"]
