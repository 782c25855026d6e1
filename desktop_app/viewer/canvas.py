"""The image canvas: a dark QGraphicsView with the mouse conventions of DICOM viewers.

* left drag pans, Ctrl+wheel zooms about the cursor, "fit" and "1:1" set the zoom;
* right drag changes window/level (horizontal: width, vertical: level), double-click resets;
* the wheel and the arrow / Page keys move through slices;
* corner annotations (file, slice, window, zoom) are painted over the image, never into it,
  so what is exported is the image alone.

The canvas knows nothing about scans or models: it shows a uint8 array and reports gestures
as signals; :class:`~desktop_app.viewer.tab.QtViewerTab` turns them into state changes.
Exports do not read the screen: they use ``render_overlay`` on the same arrays, and a test
checks that the two agree.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

__all__ = ["QtImageCanvas", "to_qimage"]

BACKGROUND = QColor(8, 8, 10)
ZOOM_STEP = 1.15
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0
WHEEL_STEP = 120  # one notch of a mouse wheel, in eighths of a degree


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W) grey or (H, W, 3) RGB -> a QImage that owns its pixels."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        fmt, stride = QImage.Format.Format_Grayscale8, w
    elif arr.ndim == 3 and arr.shape[2] == 3:
        fmt, stride = QImage.Format.Format_RGB888, 3 * w
    else:
        raise ValueError(f"expected (H, W) or (H, W, 3), got {arr.shape}")
    return QImage(arr.data, w, h, stride, fmt).copy()  # copy: the array may go away


class QtImageCanvas(QGraphicsView):
    """Shows one picture; emits what the user does with the mouse and keys."""

    window_dragged = Signal(float, float)  # dx, dy in screen pixels since the last move
    window_reset_requested = Signal()
    slice_stepped = Signal(int)  # +1 / -1 (per wheel notch or key press)
    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        # Layers: the grey image, its copy on the right (side by side), the coloured map on top.
        # Qt blends the map with the item's opacity, the same formula as render_overlay
        # (grey·(1 − a) + heat·a), so the opacity slider costs no pixel work at all.
        self._base = QGraphicsPixmapItem()
        self._base_right = QGraphicsPixmapItem()
        self._heat = QGraphicsPixmapItem()
        for z, layer in enumerate((self._base, self._base_right, self._heat)):
            layer.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
            layer.setZValue(z)
            self.scene().addItem(layer)
        self.image: np.ndarray | None = None  # the grey layer shown (tests read it)
        self.heat: np.ndarray | None = None  # the colour layer shown, or None
        self.corner_text: dict[str, str] = {}
        self.placeholder = "Drop images, DICOM files or folders here\nor use File → Open"
        self._fit_mode = True
        self._wl_last: QPoint | None = None
        self._wheel_rest = 0
        self.setBackgroundBrush(BACKGROUND)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setRenderHints(
            QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing
        )
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)  # left drag pans
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.FullViewportUpdate)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAcceptDrops(False)  # drops go to the viewer tab, which knows what to do
        self.setMinimumSize(240, 240)

    # -- content ----------------------------------------------------------------------------
    def set_picture(
        self,
        grey: np.ndarray | None,
        heat: np.ndarray | None = None,
        opacity: float = 0.4,
        side_by_side: bool = False,
    ) -> None:
        """Show uint8 ``grey`` (H, W) with uint8 RGB ``heat`` (H, W, 3) blended at ``opacity``;
        ``side_by_side`` puts the plain image left of the overlay. Arrays that are the same
        objects as last time are not converted again, so changing only the opacity is free."""
        if grey is None:
            self.image, self.heat = None, None
            for layer in (self._base, self._base_right, self._heat):
                layer.setPixmap(QPixmap())
            self.scene().setSceneRect(QRectF())
            self.viewport().update()
            return
        if heat is not None and heat.shape[:2] != grey.shape[:2]:
            heat = None  # a map for another slice size: never show it misplaced
        old_rect = self.scene().sceneRect()
        if grey is not self.image:
            pixmap = QPixmap.fromImage(to_qimage(grey))
            self._base.setPixmap(pixmap)
            self._base_right.setPixmap(pixmap)
            self.image = grey
        if heat is not self.heat:
            self._heat.setPixmap(
                QPixmap.fromImage(to_qimage(heat)) if heat is not None else QPixmap()
            )
            self.heat = heat
        h, w = grey.shape[:2]
        pair = side_by_side and heat is not None
        self._base_right.setVisible(pair)
        self._base_right.setPos(w, 0)
        self._heat.setVisible(heat is not None)
        self._heat.setPos(w if pair else 0, 0)
        self._heat.setOpacity(float(opacity))
        rect = QRectF(0, 0, 2 * w if pair else w, h)
        self.scene().setSceneRect(rect)
        if self._fit_mode or rect.size() != old_rect.size():
            self.fit()
        self.viewport().update()

    def rendered(self) -> np.ndarray:
        """The picture as Qt draws it, at one image pixel per pixel, as uint8 RGB (H, W, 3):
        what the user sees without the annotations and the zoom."""
        rect = self.scene().sceneRect()
        w, h = int(rect.width()), int(rect.height())
        if w == 0 or h == 0:
            return np.zeros((0, 0, 3), np.uint8)
        image = QImage(w, h, QImage.Format.Format_RGB888)
        image.fill(QColor(0, 0, 0))
        painter = QPainter(image)
        self.scene().render(painter, QRectF(0, 0, w, h), rect)
        painter.end()
        stride = image.bytesPerLine()
        rows = np.frombuffer(image.constBits(), np.uint8, stride * h).reshape(h, stride)
        return rows[:, : 3 * w].reshape(h, w, 3).copy()

    def set_corner_text(self, **corners: str) -> None:
        """``top_left``, ``top_right``, ``bottom_left``, ``bottom_right``: lines of text."""
        self.corner_text = {k: v for k, v in corners.items() if v}
        self.viewport().update()

    # -- zoom -------------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return float(self.transform().m11())

    def fit(self) -> None:
        self._fit_mode = True
        if self.image is not None:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        self._fit_mode = False
        self.resetTransform()
        self.zoom_changed.emit(self.zoom)

    def zoom_by(self, factor: float) -> None:
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom * factor))
        if self.zoom > 0:
            self._fit_mode = False
            self.scale(target / self.zoom, target / self.zoom)
            self.zoom_changed.emit(self.zoom)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    # -- mouse and keys -----------------------------------------------------------------------
    def wheelEvent(self, event: QWheelEvent) -> None:
        delta = event.angleDelta().y()
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_by(ZOOM_STEP ** (delta / WHEEL_STEP))
            event.accept()
            return
        # Whole notches move one slice; touchpads send small deltas that add up.
        self._wheel_rest += delta
        steps = int(self._wheel_rest / WHEEL_STEP)
        if steps:
            self._wheel_rest -= steps * WHEEL_STEP
            direction = -1 if steps > 0 else 1  # wheel towards the user: next slice
            for _ in range(abs(steps)):
                self.slice_stepped.emit(direction)
        event.accept()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            self._wl_last = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._wl_last is not None:
            pos = event.position().toPoint()
            dx, dy = pos.x() - self._wl_last.x(), pos.y() - self._wl_last.y()
            self._wl_last = pos
            if dx or dy:
                self.window_dragged.emit(float(dx), float(dy))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.RightButton and self._wl_last is not None:
            self._wl_last = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.window_reset_requested.emit()
            event.accept()
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event: object) -> None:
        """Right button is window/level here, as in DICOM viewers: no context menu."""

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        back = (Qt.Key.Key_Up, Qt.Key.Key_Left, Qt.Key.Key_PageUp)
        forward = (Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_PageDown)
        if key in back or key in forward:
            self.slice_stepped.emit(-1 if key in back else 1)
            event.accept()
            return
        super().keyPressEvent(event)

    # -- annotations --------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF | QPointF) -> None:
        painter.save()
        painter.resetTransform()  # viewport coordinates from here on
        font = QFont(self.font())
        font.setPointSizeF(max(8.0, font.pointSizeF()))
        painter.setFont(font)
        view = self.viewport().rect().adjusted(10, 8, -10, -8)
        if self.image is None:
            painter.setPen(QColor(150, 150, 160))
            big = QFont(font)
            big.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(big)
            painter.drawText(view, Qt.AlignmentFlag.AlignCenter, self.placeholder)
        else:
            flags = {
                "top_left": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                "top_right": Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignRight,
                "bottom_left": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                "bottom_right": Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignRight,
            }
            for corner, text in self.corner_text.items():
                align = flags[corner]
                painter.setPen(QColor(0, 0, 0, 200))  # a shadow keeps text readable on white
                painter.drawText(view.translated(1, 1), align, text)
                painter.setPen(
                    QColor(235, 200, 80) if corner == "bottom_right" else QColor(225, 225, 230)
                )
                painter.drawText(view, align, text)
        painter.restore()
