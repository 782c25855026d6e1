"""The viewer reads a study: series grouped by study and titled, the per-slice strip filled in
the background, the series summary in the list, and the reading aids (offscreen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from test_gui_viewer import WAIT_MS, no_modal_boxes, settings, wait_for_view, window
from test_series_study import SECRETS, _file_set, _study

import desktop_app.viewer.jobs as jobs_module
from desktop_app.main_window import QtMainWindow
from desktop_app.viewer.canvas import QtImageCanvas, line_length
from desktop_app.viewer.strip import QtSliceCells

__all__ = ["no_modal_boxes", "settings", "window"]  # fixtures, shared with the viewer tests


def _every_slice_classified(tab) -> bool:
    state = tab.state
    return all(
        (item.id, p) in state.predictions
        for item in state.items
        if item.scan is not None
        for p in range(item.n_slices)
    )


def test_a_dicomdir_folder_of_two_studies_shows_each_series_once(
    qtbot, window: QtMainWindow, tmp_path: Path
) -> None:
    _study(tmp_path / "src", 1)
    _study(tmp_path / "src", 2)
    cd = _file_set(tmp_path / "src", tmp_path / "cd")
    tab = window.viewer
    tab.open_paths([cd])
    qtbot.waitUntil(lambda: len(tab.state.items) == 6, timeout=WAIT_MS)
    wait_for_view(qtbot, tab)
    assert all(item.scan is not None for item in tab.state.items)  # the DICOMDIR is no error
    lists = tab.item_list
    assert lists.study_titles() == ["Study 1 · MR · 3 series", "Study 2 · MR · 3 series"]
    texts = [lists.item(r).text() for r in range(lists.count())]
    assert texts[0] == "Study 1 · MR · 3 series" and texts[4] == "Study 2 · MR · 3 series"
    assert texts[1].startswith("MR series 1 – T1 (3 slices)\n")
    for text in texts:  # titles and headers hold no patient identifier
        for secret in SECRETS:
            assert secret.lower() not in text.lower()
    # the list shows each series' summary once all its slices are classified
    qtbot.waitUntil(lambda: _every_slice_classified(tab), timeout=WAIT_MS)
    item = tab.state.items[0]
    summary = tab.state.series_summary(item)
    assert "of 3 slices" in summary or summary.startswith("Unsure")
    qtbot.waitUntil(lambda: summary in lists.row_for(item).text(), timeout=WAIT_MS)


def test_the_strip_fills_nearest_first_and_jumps(
    qtbot, window: QtMainWindow, tmp_path: Path, monkeypatch
):
    _study(tmp_path / "src", 1)
    tab = window.viewer
    order: list[int] = []  # the slices in the order the model is asked for them
    real = jobs_module.analyse

    def spy(predictor, request):
        order.extend(key[1] for key, _ in request.batch or [(request.slice_key, None)])
        yield from real(predictor, request)

    monkeypatch.setattr(jobs_module, "analyse", spy)
    tab.open_paths([tmp_path / "src" / "study1" / "series3"])  # 4 slices
    qtbot.waitUntil(lambda: bool(tab.state.items), timeout=WAIT_MS)
    item = tab.state.items[0]
    wait_for_view(qtbot, tab)
    assert item.position == 2  # the middle slice is shown first
    assert order[0] == 2 and sorted(order) == [0, 1, 2, 3]
    assert order.index(1) < order.index(0)  # nearer slices before farther ones
    strip = tab.strip
    assert strip.isVisibleTo(tab) and isinstance(strip.cells, QtSliceCells)
    # the summary follows the batch a moment later (updates are drawn together)
    qtbot.waitUntil(lambda: "not for clinical use" in strip.summary.text(), timeout=WAIT_MS)
    assert strip.summary.text().startswith("Series: ")
    assert "not for clinical use" in strip.summary.text()
    cells = strip.cells
    cells.resize(400, 18)
    rects = cells.cell_rects()
    assert len(rects) == 4
    qtbot.mouseClick(cells, Qt.MouseButton.LeftButton, pos=rects[0].center().toPoint())
    assert item.position == 0
    qtbot.keyClick(cells, Qt.Key.Key_End)
    assert item.position == 3
    qtbot.keyClick(cells, Qt.Key.Key_Home)
    assert item.position == 0
    said = cells.cell_text(0)
    assert said.startswith("Slice 1 of 4: ")
    image = cells.grab().toImage()  # the cells are painted in their colours
    assert image.pixelColor(QPoint(int(rects[3].center().x()), 9)).name() != "#000000"


def test_reading_aids(qtbot, window: QtMainWindow, tmp_path: Path) -> None:
    _study(tmp_path / "src", 1)
    tab = window.viewer
    tab.open_paths([tmp_path / "src" / "study1" / "series3"])
    qtbot.waitUntil(lambda: bool(tab.state.items), timeout=WAIT_MS)
    wait_for_view(qtbot, tab)
    canvas = tab.canvas
    # make_series writes axial slices 0.5 mm apart, 5 mm thick, at z = 5·k
    assert canvas.markers == {"right": "L", "left": "R", "bottom": "P", "top": "A"}
    assert canvas.pixel_mm == 0.5
    top_left = canvas.corner_text["top_left"]
    assert "Pos 10.0 mm" in top_left and "Thk 5 mm" in top_left
    assert top_left.startswith("MR series 3 – T2 COR (4 slices)")
    ruler = canvas.ruler()
    assert ruler is not None and ruler[0] in (1, 2, 5, 10, 20, 50, 100, 200, 500)
    assert np.isclose(ruler[1], ruler[0] * canvas.zoom / 0.5)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_End)
    assert tab.state.current.position == 3
    qtbot.keyClick(canvas, Qt.Key.Key_Home)
    assert tab.state.current.position == 0
    tab.toggle_cine()  # play: the series advances by itself, then pause
    qtbot.waitUntil(lambda: tab.state.current.position > 0, timeout=WAIT_MS)
    assert tab.cine_button.text() == "Pause"
    tab.toggle_cine()
    assert tab.cine_button.text() == "Play"


def _anisotropic_series(folder: Path) -> Path:
    """Three axial 120 × 160 slices whose rows are 0.8 mm apart and columns 0.4 mm apart."""
    from dicom_factory import make_series

    rng = np.random.default_rng(3)
    volume = rng.integers(0, 1000, size=(3, 120, 160), dtype=np.uint16)
    make_series(folder, volume, series_description="ANISO", extra={"PixelSpacing": [0.8, 0.4]})
    return folder


def _drag(qtbot, canvas, start, end, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A left press at image pixel ``start`` (column, row), a move and a release at ``end``."""
    to_view = canvas.viewportTransform()
    a = to_view.map(QPointF(*start)).toPoint()
    b = to_view.map(QPointF(*end)).toPoint()
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, modifier, a)
    qtbot.mouseMove(viewport, (a + b) / 2)
    qtbot.mouseMove(viewport, b)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, modifier, b)


def test_the_measuring_line_uses_row_and_column_spacing(
    qtbot, window: QtMainWindow, tmp_path: Path
) -> None:
    tab = window.viewer
    tab.open_paths([_anisotropic_series(tmp_path / "aniso")])
    qtbot.waitUntil(lambda: bool(tab.state.items), timeout=WAIT_MS)
    wait_for_view(qtbot, tab)
    canvas = tab.canvas
    assert canvas.spacing == (0.8, 0.4) and canvas.pixel_mm == 0.4  # the scale bar: columns
    assert canvas.ruler() is not None  # the scale bar stays
    tab.measure_button.click()
    assert canvas.measure_mode
    _drag(qtbot, canvas, (20, 30), (120, 30))  # across the rows: 100 columns · 0.4 mm
    line = canvas.measurement_line()
    assert line is not None
    length, unit = canvas.measurement()
    dx, dy = line[1].x() - line[0].x(), line[1].y() - line[0].y()
    assert unit == "mm" and np.isclose(length, np.hypot(dx * 0.4, dy * 0.8))
    assert abs(length - 40.0) < 1.0 and canvas.measurement_text().endswith(" mm")
    assert tab.clear_measure_button.isEnabled()
    _drag(qtbot, canvas, (50, 10), (50, 110))  # down the columns: 100 rows · 0.8 mm
    length, _ = canvas.measurement()
    assert abs(length - 80.0) < 1.5  # the same 100 pixels, twice as long in mm
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)  # Esc clears
    assert canvas.measurement() is None and not tab.clear_measure_button.isEnabled()
    # off: a left drag pans again; Shift + drag still measures
    tab.measure_button.click()
    assert not canvas.measure_mode
    _drag(qtbot, canvas, (20, 30), (120, 30))
    assert canvas.measurement() is None
    _drag(qtbot, canvas, (20, 30), (60, 60), Qt.KeyboardModifier.ShiftModifier)
    assert canvas.measurement() is not None
    tab.clear_measure_button.click()  # "Clear" clears
    assert canvas.measurement() is None
    # the right button still sets the window while measuring
    tab.measure_button.click()
    before = tab.state.current.window
    viewport, centre = canvas.viewport(), canvas.viewport().rect().center()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=centre)
    qtbot.mouseMove(viewport, centre + QPoint(30, 10))
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=centre + QPoint(30, 10))
    assert tab.state.current.window is not None and tab.state.current.window != before
    # a line belongs to its slice
    _drag(qtbot, canvas, (20, 30), (120, 30))
    assert canvas.measurement() is not None
    tab.state.step(1)
    assert canvas.measurement() is None


def test_without_pixel_spacing_lengths_are_in_pixels(qtbot) -> None:
    canvas = QtImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    canvas.set_picture(np.zeros((100, 200), np.uint8))
    canvas.set_reading_aids({}, None)
    assert canvas.ruler() is None  # no scale bar rather than a wrong one
    canvas.set_measure_mode(True)
    _drag(qtbot, canvas, (10, 10), (70, 90))
    length, unit = canvas.measurement()
    line = canvas.measurement_line()
    dx, dy = line[1].x() - line[0].x(), line[1].y() - line[0].y()
    assert unit == "pixels" and np.isclose(length, np.hypot(dx, dy)) and abs(length - 100) < 3
    assert "pixels" in canvas.measurement_text() and "mm" not in canvas.measurement_text()


def test_line_length_is_anisotropic() -> None:
    assert line_length(10, 0, (0.8, 0.4)) == (4.0, "mm")  # along a row: column spacing
    assert line_length(0, 10, (0.8, 0.4)) == (8.0, "mm")  # down a column: row spacing
    assert np.isclose(line_length(3, 4, (1.0, 1.0))[0], 5.0)
    assert line_length(3, 4, None) == (5.0, "pixels")


def test_orientation_markers_on_both_images_side_by_side(qtbot) -> None:
    canvas = QtImageCanvas()
    qtbot.addWidget(canvas)
    canvas.resize(600, 300)
    canvas.show()
    grey = np.full((100, 100), 60, np.uint8)
    heat = np.zeros((100, 100, 4), np.uint8)
    markers = {"right": "L", "left": "R", "bottom": "P", "top": "A"}
    canvas.set_reading_aids(markers, (0.5, 0.5))
    canvas.set_picture(grey, heat, 0.4, side_by_side=False)
    assert len(canvas.marker_places()) == 4
    canvas.set_picture(grey, heat, 0.4, side_by_side=True)
    places = canvas.marker_places()
    assert len(places) == 8
    middle = canvas.viewport().width() / 2
    left = [(edge, text) for edge, box, text in places if box.center().x() < middle]
    right = [(edge, text) for edge, box, text in places if box.center().x() > middle]
    assert sorted(left) == sorted(right) == sorted(markers.items())
    # and they are painted: the markers' colour appears in the right half of the view
    image = canvas.viewport().grab().toImage()
    cyan = [
        (x, y)
        for x in range(int(middle), image.width(), 2)
        for y in range(0, image.height(), 2)
        if image.pixelColor(x, y).blue() > 200 and image.pixelColor(x, y).red() < 160
    ]
    assert cyan
