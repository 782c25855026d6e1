"""The image canvas: a dark QGraphicsView with the mouse conventions of DICOM viewers.

* left drag pans, Ctrl+wheel zooms about the cursor, "fit" and "1:1" set the zoom;
* right drag changes window/level (horizontal: width, vertical: level), double-click resets;
* the wheel and the arrow / Page keys move through slices, Home and End jump to the first and
  last, the space bar plays or pauses the series (cine);
* orientation markers (the patient direction each image edge faces, on both images side by
  side) and a scale bar in millimetres are painted over the image when the file gives its
  orientation and pixel spacing;
* a measuring line: with "Measure" on (``set_measure_mode``), or while Shift is held, a left
  press-drag-release draws a line labelled with its length, in millimetres from the row and
  column spacing (they may differ), or in pixels when the file gives no spacing; Esc clears it;
* corner annotations (file, slice, window, zoom) are painted over the image, never into it,
  so what is exported is the image alone.

The canvas knows nothing about scans or models: it shows a uint8 array and reports gestures
as signals; :class:`~desktop_app.viewer.tab.QtViewerTab` turns them into state changes.
Exports do not read the screen: they use ``render_overlay`` on the same arrays, and a test
checks that the two agree.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QResizeEvent,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

__all__ = ["QtImageCanvas", "line_length", "to_qimage"]

BACKGROUND = QColor(8, 8, 10)
ZOOM_STEP = 1.15
MIN_ZOOM, MAX_ZOOM = 0.05, 40.0
WHEEL_STEP = 120  # one notch of a mouse wheel, in eighths of a degree


def to_qimage(image: np.ndarray) -> QImage:
    """uint8 (H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA -> a QImage that owns its pixels.

    RGBA is straight (not premultiplied) alpha: the heat map's per-pixel opacity."""
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        fmt, stride = QImage.Format.Format_Grayscale8, w
    elif arr.ndim == 3 and arr.shape[2] == 3:
        fmt, stride = QImage.Format.Format_RGB888, 3 * w
    elif arr.ndim == 3 and arr.shape[2] == 4:
        fmt, stride = QImage.Format.Format_RGBA8888, 4 * w
    else:
        raise ValueError(f"expected (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")
    return QImage(arr.data, w, h, stride, fmt).copy()  # copy: the array may go away


class QtImageCanvas(QGraphicsView):
    """Shows one picture; emits what the user does with the mouse and keys."""

    window_dragged = Signal(float, float)  # dx, dy in screen pixels since the last move
    window_reset_requested = Signal()
    slice_stepped = Signal(int)  # +1 / -1 (per wheel notch or key press)
    slice_jumped = Signal(int)  # 0: the first slice (Home), -1: the last (End)
    cine_toggled = Signal()  # the space bar: play or pause the series
    zoom_changed = Signal(float)
    measurement_changed = Signal()  # a line was drawn or cleared

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
        self.markers: dict[str, str] = {}  # patient direction of each image edge ("left": "R")
        self.spacing: tuple[float, float] | None = None  # mm between rows, between columns
        self.pixel_mm: float | None = None  # mm between columns (along a row): the scale bar
        self.measure_mode = False
        self._line: tuple[QPointF, QPointF] | None = None  # scene points of the measured line
        self._line_box = QRectF()  # the image (left or right copy) the line is drawn on
        self._measuring = False
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
            self.clear_measurement()
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

    def set_reading_aids(
        self, markers: dict[str, str], spacing: tuple[float, float] | None
    ) -> None:
        """Orientation markers for the image edges ({} when the file does not say) and the
        pixel spacing, (mm between rows, mm between columns) as DICOM gives it, for the scale
        bar and the measuring line (None when unknown: no scale bar rather than a wrong one,
        and lengths in pixels)."""
        self.markers = dict(markers)
        if spacing is not None and len(spacing) == 2 and min(spacing) > 0:
            self.spacing = (float(spacing[0]), float(spacing[1]))
        else:
            self.spacing = None
        self.pixel_mm = self.spacing[1] if self.spacing is not None else None
        self.viewport().update()

    # -- measuring ----------------------------------------------------------------------------
    def set_measure_mode(self, on: bool) -> None:
        """With the mode on, a left drag measures instead of panning."""
        self.measure_mode = bool(on)
        if on:
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.CrossCursor)
        else:
            self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
            self.viewport().unsetCursor()

    def measurement(self) -> tuple[float, str] | None:
        """(length, unit) of the measured line: unit "mm" when the pixel spacing is known,
        else "pixels"; None when there is no line."""
        if self._line is None:
            return None
        start, end = self._line
        return line_length(end.x() - start.x(), end.y() - start.y(), self.spacing)

    def measurement_text(self) -> str:
        """ "23.4 mm", or "47 pixels (the file gives no pixel size)"; "" without a line."""
        measured = self.measurement()
        if measured is None:
            return ""
        length, unit = measured
        if unit == "mm":
            return f"{length:.1f} mm"
        return f"{length:.0f} pixels (the file gives no pixel size)"

    def measurement_line(self) -> tuple[QPointF, QPointF] | None:
        """The line's end points in image pixels (x: column, y: row), or None."""
        if self._line is None:
            return None
        offset = self._line_box.topLeft()
        return self._line[0] - offset, self._line[1] - offset

    def clear_measurement(self) -> None:
        self._measuring = False
        if self._line is not None:
            self._line = None
            self.viewport().update()
            self.measurement_changed.emit()

    def _wants_measure(self, event: QMouseEvent) -> bool:
        shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        return (
            event.button() == Qt.MouseButton.LeftButton
            and (self.measure_mode or shift)
            and self.image is not None
        )

    def _box_at(self, scene: QPointF) -> QRectF:
        """The image (left, or its copy on the right) under a scene point; empty if none."""
        for box in self._scene_boxes():
            if box.contains(scene):
                return box
        return QRectF()

    def _scene_boxes(self) -> list[QRectF]:
        if self.image is None:
            return []
        h, w = self.image.shape[:2]
        boxes = [QRectF(0, 0, w, h)]
        if self._base_right.isVisible():
            boxes.append(QRectF(w, 0, w, h))
        return boxes

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
        if self._wants_measure(event):
            scene = self.mapToScene(event.position().toPoint())
            box = self._box_at(scene)
            if not box.isEmpty():
                self._line_box = box
                self._line = (scene, scene)
                self._measuring = True
                self.viewport().update()
            event.accept()
            return
        if event.button() == Qt.MouseButton.RightButton:
            self._wl_last = event.position().toPoint()
            self.viewport().setCursor(Qt.CursorShape.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._measuring and self._line is not None:
            scene = self.mapToScene(event.position().toPoint())
            box = self._line_box  # the line stays on the image it started on
            end = QPointF(
                min(max(scene.x(), box.left()), box.right()),
                min(max(scene.y(), box.top()), box.bottom()),
            )
            self._line = (self._line[0], end)
            self.viewport().update()
            event.accept()
            return
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
        if event.button() == Qt.MouseButton.LeftButton and self._measuring:
            self._measuring = False
            if self._line is not None:
                start, end = self._line
                if abs(end.x() - start.x()) < 1 and abs(end.y() - start.y()) < 1:
                    self._line = None  # a click, not a line
                self.viewport().update()
                self.measurement_changed.emit()
            event.accept()
            return
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
        if key in (Qt.Key.Key_Home, Qt.Key.Key_End):
            self.slice_jumped.emit(0 if key == Qt.Key.Key_Home else -1)
            event.accept()
            return
        if key == Qt.Key.Key_Space:
            self.cine_toggled.emit()
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self._line is not None:
            self.clear_measurement()
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
            self._draw_markers(painter, view)
            self._draw_ruler(painter, view)
            self._draw_measurement(painter)
        painter.restore()

    def marker_places(self) -> list[tuple[str, QRectF, str]]:
        """(edge, box in the viewport, letters) of each orientation marker: inside each edge
        of the image, and of its copy on the right when side by side, clamped to the view."""
        if not self.markers:
            return []
        view = QRectF(self.viewport().rect().adjusted(10, 8, -10, -8))
        box = 40.0
        out = []
        for scene_box in self._scene_boxes():
            image = self.viewportTransform().mapRect(scene_box).intersected(view)
            if image.isEmpty():
                continue
            centre = image.center()
            places = {
                "left": QRectF(image.left() + 4, centre.y() - box / 2, box, box),
                "right": QRectF(image.right() - box - 4, centre.y() - box / 2, box, box),
                "top": QRectF(centre.x() - box / 2, image.top() + 4, box, box),
                "bottom": QRectF(centre.x() - box / 2, image.bottom() - box - 4, box, box),
            }
            out += [
                (edge, places[edge], letters)
                for edge, letters in self.markers.items()
                if edge in places and letters
            ]
        return out

    def _draw_markers(self, painter: QPainter, view: QRect) -> None:
        """Each image edge's patient direction (see ``marker_places``)."""
        places = self.marker_places()
        if not places:
            return
        aligns = {
            "left": Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            "right": Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
            "top": Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
            "bottom": Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignBottom,
        }
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        for edge, place, letters in places:
            painter.setPen(QColor(0, 0, 0, 200))
            painter.drawText(place.translated(1, 1), aligns[edge], letters)
            painter.setPen(QColor(120, 220, 255))
            painter.drawText(place, aligns[edge], letters)

    def ruler(self) -> tuple[float, float] | None:
        """(length in mm, length in screen pixels) of the ruler drawn now, or None."""
        if self.pixel_mm is None or self.image is None or self.zoom <= 0:
            return None
        per_mm = self.zoom / self.pixel_mm  # screen pixels per millimetre
        longest = self.viewport().width() / 4
        fitting = [mm for mm in _RULER_MM if mm * per_mm <= longest]
        if not fitting:
            return None
        return fitting[-1], fitting[-1] * per_mm

    def _draw_ruler(self, painter: QPainter, view: QRect) -> None:
        ruler = self.ruler()
        if ruler is None:
            return
        mm, length = ruler
        y = view.bottom() - 36
        left = view.center().x() - length / 2
        right = left + length
        for colour, shift in ((QColor(0, 0, 0, 200), 1), (QColor(225, 225, 230), 0)):
            painter.setPen(QPen(colour, 2))
            painter.drawLine(QPointF(left + shift, y + shift), QPointF(right + shift, y + shift))
            for x in (left, right):
                painter.drawLine(QPointF(x + shift, y - 5 + shift), QPointF(x + shift, y + shift))
            label = QRectF(left - 40 + shift, y - 22 + shift, length + 80, 16)
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, f"{mm:g} mm")

    def _draw_measurement(self, painter: QPainter) -> None:
        if self._line is None:
            return
        to_view = self.viewportTransform()
        start, end = to_view.map(self._line[0]), to_view.map(self._line[1])
        text = self.measurement_text()
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        for colour, shift in ((QColor(0, 0, 0, 200), 1.0), (MEASURE_COLOUR, 0.0)):
            d = QPointF(shift, shift)
            painter.setPen(QPen(colour, 2))
            painter.drawLine(start + d, end + d)
            for point in (start, end):
                painter.drawEllipse(point + d, 3.0, 3.0)
            if text:
                label = QRectF(end.x() + 8 + shift, end.y() - 8 + shift, 260, 18)
                painter.drawText(label, Qt.AlignmentFlag.AlignLeft, text)


def line_length(
    columns: float, rows: float, spacing: tuple[float, float] | None
) -> tuple[float, str]:
    """The length of a line ``columns`` image pixels across and ``rows`` down: (mm, "mm") from
    DICOM's (row spacing, column spacing), which may differ, else (pixels, "pixels")."""
    if spacing is None:
        return float(np.hypot(columns, rows)), "pixels"
    row_mm, column_mm = spacing
    return float(np.hypot(columns * column_mm, rows * row_mm)), "mm"


MEASURE_COLOUR = QColor(255, 210, 60)
_RULER_MM = (1, 2, 5, 10, 20, 50, 100, 200, 500)
