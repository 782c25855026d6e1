"""The Viewer tab, offscreen: drop, errors, DICOM scrolling, overlay, exports, responsiveness.

Everything runs against the tiny untrained model from ``conftest.tiny_model_file``: what is
tested is the app's plumbing, not the model's accuracy.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from desktop_app.main_window import QtMainWindow
from desktop_app.models import QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.viewer.tab import QtViewerTab
from desktop_app.workers import QtGeneratorWorker, wait_for_all
from trainer.series_call import slice_call

pytestmark = pytest.mark.gui

TESTS = Path(__file__).resolve().parent
MINI = TESTS / "data" / "mini"
GLIOMA = MINI / "Testing" / "glioma" / "Te-glTr_0000.jpg"
PATIENT = "DOE^JANE"
PATIENT_ID = "ID-4711"
WAIT_MS = 20_000


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppSettings:
    monkeypatch.setenv("BRAINMRI_HOME", str(tmp_path / "home"))  # no user models, no leaks
    return AppSettings.in_file(tmp_path / "settings.ini")


@pytest.fixture
def window(qtbot, settings: AppSettings, tiny_model_file: Path) -> Iterator[QtMainWindow]:
    registry = QtModelRegistry(settings, device="cpu")
    win = QtMainWindow(registry, settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(registry.active_model_changed, timeout=WAIT_MS):
        registry.add_model(tiny_model_file, activate=True)
    win.show()
    yield win
    win.viewer.shutdown()
    if win.viewer.batch_dialog is not None:
        win.viewer.batch_dialog.close()
    assert wait_for_all(30.0)


@pytest.fixture(autouse=True)
def no_modal_boxes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A modal box would hang an offscreen test: record what it would have said instead."""
    said: list[str] = []

    def record(*args: object, **_kwargs: object) -> QMessageBox.StandardButton:
        said.append(" ".join(str(a) for a in args[1:]))
        return QMessageBox.StandardButton.No

    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, record)
    # File dialogs are modal too: "cancelled" unless a test says otherwise.
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: ("", ""))
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([], ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: "")
    return said


def wait_for_view(qtbot, tab: QtViewerTab, timeout: int = WAIT_MS) -> None:
    qtbot.waitUntil(
        lambda: tab.is_view_complete() and tab.state.current is not None, timeout=timeout
    )


def write_series(folder: Path, jpegs: list[Path]) -> Path:
    """A small MR series (one file per slice, shuffled names) with identifying attributes
    filled in, so the tests can check they never leak."""
    from dicom_factory import make_series
    from PIL import Image

    volume = np.stack(
        [np.asarray(Image.open(j).convert("L").resize((128, 128)), np.uint16) * 4 for j in jpegs]
    )
    make_series(
        folder,
        volume,
        names=[f"IM{(7 * n) % len(jpegs):04d}" for n in range(len(jpegs))],
        bits_stored=12,
        window=(510, 1020),
        series_number=3,
        series_description="T1 AX test",
        patient_name=PATIENT,
        patient_id=PATIENT_ID,
        extra={"PixelSpacing": [0.9, 0.9]},
    )
    return folder


def mime_for(paths: list[Path]) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def drop(tab: QtViewerTab, paths: list[Path]) -> None:
    mime = mime_for(paths)
    point = QPointF(tab.width() / 2, tab.height() / 2)
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    try:  # Qt 6.12 takes a QPointF (and deprecates QPoint); earlier versions only a QPoint
        enter = QDragEnterEvent(point, *args)
    except TypeError:
        enter = QDragEnterEvent(point.toPoint(), *args)
    QApplication.sendEvent(tab, enter)
    assert enter.isAccepted()
    event = QDropEvent(
        point,
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(tab, event)


def wheel(widget, notches: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    """``notches`` > 0 turns the wheel towards the user (next slice)."""
    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(
        pos,
        widget.mapToGlobal(pos),
        QPoint(0, 0),
        QPoint(0, -120 * notches),
        Qt.MouseButton.NoButton,
        modifiers,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


def pdf_text(path: Path) -> str:
    """Text of an uncompressed matplotlib PDF (see tests/test_report.py)."""
    raw = path.read_bytes().decode("latin-1")
    runs = re.findall(r"\[([^\[\]]*)\]\s*TJ", raw)
    return "".join("".join(re.findall(r"\(((?:\\.|[^\\)])*)\)", run)) for run in runs)


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_drop_shows_prediction_and_overlay(qtbot, window: QtMainWindow) -> None:
    tab = window.viewer
    drop(tab, [GLIOMA])
    wait_for_view(qtbot, tab)
    pred = tab.state.prediction()
    assert pred is not None and pred.predicted_class in tab.state.classes
    assert pred.predicted_class in tab.prediction_panel.headline.text()
    bars = tab.prediction_panel.bars
    assert sum(b.value() for b in bars.values()) == pytest.approx(1000, abs=len(bars))
    assert tab.state.cam() is not None and tab.canvas.heat is not None  # overlay on screen
    assert tab.item_list.count() == 1
    assert pred.predicted_class in tab.item_list.item(0).text()
    assert str(GLIOMA) in window.settings.recent_files


def test_broken_files_show_their_reason_and_the_app_goes_on(
    qtbot, window: QtMainWindow, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG" * 3)
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    tab = window.viewer
    tab.open_paths([broken, empty, GLIOMA])
    qtbot.waitUntil(lambda: tab.item_list.count() == 3, timeout=WAIT_MS)
    wait_for_view(qtbot, tab)
    texts = [tab.item_list.item(i).text() for i in range(3)]
    assert texts[0].startswith("broken.jpg") and "⚠" in texts[0]
    assert texts[1].startswith("empty.dcm") and "file is empty" in texts[1]
    assert tab.state.current is not None and tab.state.current.source == GLIOMA
    assert tab.state.prediction() is not None
    # Unreadable rows cannot be selected, so the user cannot land on an empty canvas.
    assert not tab.item_list.item(0).flags() & Qt.ItemFlag.ItemIsSelectable
    # In a dropped folder, the files that are not scans are summed up in one row.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(GLIOMA, mixed / "scan.jpg")
    (mixed / "notes.txt").write_text("not a scan")
    (mixed / "more.csv").write_text("a,b")
    tab.open_paths([mixed])
    qtbot.waitUntil(lambda: tab.item_list.count() == 5, timeout=WAIT_MS)
    summary = tab.item_list.item(4)
    assert summary.text().startswith("mixed") and "2 files skipped" in summary.text()
    assert "notes.txt" in summary.toolTip() and "more.csv" in summary.toolTip()


def test_a_failing_grad_cam_is_reported_and_the_prediction_stays(
    qtbot, window: QtMainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = window.registry.predictor
    real_explain = predictor.explain

    def explain(grey: np.ndarray, method: str | None = None, target_class: object = None):
        if method is None:  # the default map, which the viewer draws unless asked for another
            raise RuntimeError("no spatial feature map")
        return real_explain(grey, method=method, target_class=target_class)

    monkeypatch.setattr(predictor, "explain", explain)
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    assert tab.state.prediction() is not None and tab.state.cam() is None
    notes = tab.prediction_panel.notes.text()
    assert "Te-glTr_0000.jpg: heat map failed" in notes and "no spatial feature map" in notes
    # Another method is tried afresh, and works.
    tab.cam_controls.method.setCurrentIndex(tab.cam_controls.method.findData("eigencam"))
    wait_for_view(qtbot, tab)
    assert tab.state.cam() is not None


def test_dicom_series_scrolls_with_wheel_and_keys(
    qtbot, window: QtMainWindow, tmp_path: Path
) -> None:
    jpegs = sorted((MINI / "Training" / "glioma").glob("*.jpg"))[:5]
    folder = write_series(tmp_path / "series", jpegs)
    tab = window.viewer
    drop(tab, [folder])
    wait_for_view(qtbot, tab)
    item = tab.state.current
    assert item is not None and item.n_slices == 5 and item.position == 2  # starts mid-series
    assert tab.slice_bar.isVisibleTo(tab)
    first = tab.canvas.image.copy()
    wheel(tab.canvas.viewport(), 1)
    assert item.position == 3 and tab.slice_slider.value() == 3
    assert not np.array_equal(first, tab.canvas.image)  # another slice is on screen
    wheel(tab.canvas.viewport(), -2)
    assert item.position == 1
    QApplication.sendEvent(
        tab.canvas,
        QKeyEvent(QKeyEvent.Type.KeyPress, Qt.Key.Key_Down, Qt.KeyboardModifier.NoModifier),
    )
    assert item.position == 2
    wheel(tab.canvas.viewport(), 10)
    assert item.position == 4  # clamped at the last slice
    wait_for_view(qtbot, tab)  # the slice where the user stopped gets its prediction
    assert tab.state.prediction() is not None and tab.state.cam() is not None


def test_identifiers_stay_hidden_unless_asked(qtbot, window: QtMainWindow, tmp_path: Path) -> None:
    folder = write_series(tmp_path / "series", sorted((MINI / "Training" / "glioma").glob("*"))[:3])
    tab = window.viewer
    tab.open_paths([folder])
    wait_for_view(qtbot, tab)
    panel = tab.metadata_panel
    shown = " ".join(f"{k} {v}" for k, v in panel.rows())
    assert "MR" in shown and "0.9 × 0.9 mm" in shown and "T1 AX test" in shown
    for secret in ("DOE", "JANE", PATIENT_ID, "19700101", "20240102"):
        assert secret not in shown
        assert all(secret not in tab.item_list.item(i).text() for i in range(tab.item_list.count()))
    panel.show_identifiers.setChecked(True)
    qtbot.waitUntil(lambda: any(PATIENT_ID in v for _, v in panel.rows()), timeout=WAIT_MS)
    panel.show_identifiers.setChecked(False)
    assert all(PATIENT_ID not in v for _, v in panel.rows())


def test_opacity_changes_the_rendered_overlay(qtbot, window: QtMainWindow) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    before = tab.canvas.rendered()
    assert before.shape == (512, 512, 3)
    # What Qt draws is what the PNG/PDF exports contain (render_overlay), up to rounding.
    assert np.abs(before.astype(int) - tab.overlay_image()).max() <= 3
    tab.cam_controls.opacity.setValue(85)
    after = tab.canvas.rendered()
    assert np.abs(after.astype(int) - before).mean() > 5
    assert np.abs(after.astype(int) - tab.overlay_image()).max() <= 3
    assert tab.state.display.opacity == pytest.approx(0.85)
    assert window.settings.opacity == pytest.approx(0.85)  # remembered for next time
    tab.cam_controls.opacity.setValue(0)
    grey = np.rint(tab.grey_layer.grey01(tab.state.current) * 255)
    assert np.abs(tab.canvas.rendered()[..., 0].astype(int) - grey).max() <= 1
    tab.cam_controls.side_by_side.setChecked(True)
    assert tab.canvas.rendered().shape == (512, 1024, 3)
    tab.cam_controls.show_overlay.setChecked(False)
    assert tab.canvas.heat is None and tab.canvas.rendered().shape == (512, 512, 3)


def test_cam_method_and_target_recompute_the_map(qtbot, window: QtMainWindow) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    tab.cam_controls.method.setCurrentIndex(tab.cam_controls.method.findData("eigencam"))
    target = tab.state.classes[-1]
    tab.cam_controls.target.setCurrentIndex(tab.cam_controls.target.findData(target))
    wait_for_view(qtbot, tab)
    item = tab.state.current
    assert (item.id, 0, "eigencam", target) in tab.state.cams
    assert window.settings.cam_method == "eigencam"


def test_window_level_drag_reset_and_invert(qtbot, window: QtMainWindow) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    tab.cam_controls.show_overlay.setChecked(False)
    plain = tab.canvas.image.copy()
    viewport = tab.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=QPoint(150, 100))
    qtbot.mouseMove(viewport, QPoint(30, 140))  # left: narrower window; down: higher level
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=QPoint(30, 140))
    window_now = tab.state.current.window
    assert window_now is not None and window_now.width < 255 and window_now.center > 127.5
    assert not np.array_equal(plain, tab.canvas.image)
    assert f"W {window_now.width:.0f}" in tab.canvas.corner_text["bottom_left"]
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=QPoint(100, 100))  # reset
    assert tab.state.current.window is None and np.array_equal(plain, tab.canvas.image)
    tab.preset_box.setCurrentIndex(2)
    tab.preset_box.activated.emit(2)  # "Auto contrast (1–99 %)"
    assert tab.state.current.window is not None
    tab.reset_window()
    tab.invert_box.setChecked(True)
    assert np.abs(tab.canvas.image.astype(int) + plain - 255).max() <= 1
    fitted = tab.canvas.zoom
    wheel(viewport, -3, Qt.KeyboardModifier.ControlModifier)  # Ctrl+wheel away: zoom in
    assert tab.canvas.zoom == pytest.approx(fitted * 1.15**3) and not tab.canvas._fit_mode
    tab.canvas.actual_size()
    assert tab.canvas.zoom == 1.0
    tab.canvas.fit()
    assert tab.canvas.zoom == pytest.approx(fitted)


def test_pdf_report_png_and_csv(
    qtbot,
    window: QtMainWindow,
    tmp_path: Path,
    no_modal_boxes: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import matplotlib

    # Folders are often named after the patient: the report must not print this one's name.
    folder = write_series(
        tmp_path / "DOE_JANE_MRI", sorted((MINI / "Training" / "glioma").glob("*"))[:3]
    )
    tab = window.viewer
    tab.open_paths([folder, GLIOMA])
    qtbot.waitUntil(lambda: len(tab.state.items) == 2, timeout=WAIT_MS)
    wait_for_view(qtbot, tab)
    tab.metadata_panel.show_identifiers.setChecked(True)  # shown on screen...
    qtbot.waitUntil(lambda: bool(tab.state.identifiers), timeout=WAIT_MS)
    pdf = tmp_path / "out" / "report.pdf"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(pdf), ""))
    with matplotlib.rc_context({"pdf.compression": 0}):
        worker = tab.export_pdf()  # ...but the user answers "No" (the recorded box) for the PDF
        assert worker is not None
        with qtbot.waitSignal(worker.finished, timeout=WAIT_MS):
            pass
    assert any("Include the patient identifiers" in s for s in no_modal_boxes)
    text = pdf_text(pdf)
    pred = tab.state.prediction()
    # the report leads with the state the panel shows ("Result: Unsure (...)" for this
    # untrained model), and carries the series' strip and summary
    call = slice_call(pred)
    lead = "Predicted class: " if call.state == "class" else "Result: "
    headline = lead + call.headline().split(" (")[0]  # this pdf_text keeps "(" escaped
    assert "not for clinical use" in text and headline in text
    assert "tiny-test-model" in text and "slice 2 of 3" in text and "T1 AX test" in text
    assert "Series: MR series" in text and "outlined: slice 2" in text
    assert "DOE" not in text and "JANE" not in text and PATIENT_ID not in text
    with (
        matplotlib.rc_context({"pdf.compression": 0}),
        qtbot.waitSignal(tab.export_pdf(pdf, include_identifiers=True).finished, timeout=WAIT_MS),
    ):
        pass
    assert PATIENT_ID in pdf_text(pdf)

    png = tab.save_overlay_png(tmp_path / "out" / "overlay.png")
    from PIL import Image

    assert png is not None
    with Image.open(png) as saved:
        assert saved.size == (128, 128)

    dialog = tab.classify_all()
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.export_button.isEnabled(), timeout=WAIT_MS)
    assert dialog.table.rowCount() == 4  # three slices + one image
    csv_path = dialog.export_csv(tmp_path / "out" / "all.csv")
    assert csv_path is not None
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# Research and education only — not for clinical use."
    assert lines[1].startswith("path,slice,predicted_class,p_")
    assert len(lines) == 2 + 4
    # The CSV names files by path (as `brainmri predict --csv` does) but holds no DICOM
    # attribute; a folder named after the patient is the user's own naming.
    assert PATIENT_ID not in csv_path.read_text(encoding="utf-8")
    assert "19700101" not in csv_path.read_text(encoding="utf-8")


def test_event_loop_stays_responsive_during_prediction(
    qtbot, window: QtMainWindow, tmp_path: Path, record_property
) -> None:
    """A 10 ms timer keeps firing while the file is read, predicted and explained."""
    from PIL import Image

    big = tmp_path / "big.png"  # a large image: more work in the workers
    Image.open(GLIOMA).convert("L").resize((1024, 1024)).save(big)
    from desktop_app.event_loop_probe import QtEventLoopProbe

    tab = window.viewer
    probe = QtEventLoopProbe(10)
    probe.start()
    tab.open_paths([big])  # read, thumbnail, predict, Grad-CAM
    wait_for_view(qtbot, tab)
    for method in ("gradcam++", "eigencam", "layercam"):  # three more maps of the big image
        tab.cam_controls.method.setCurrentIndex(tab.cam_controls.method.findData(method))
        wait_for_view(qtbot, tab)
    elapsed = probe.stop()
    stall_ms = 1000 * probe.longest_s
    record_property("longest_stall_ms", round(stall_ms, 1))
    ticks = len(probe.gaps_s)
    print(f"longest event-loop stall: {stall_ms:.0f} ms ({ticks} ticks in {elapsed:.1f} s)")
    assert len(tab.state.cams) == 4
    assert len(probe.gaps_s) > 10
    assert stall_ms < 500


def test_selecting_another_item_cancels_stale_work(
    qtbot, window: QtMainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job for the item the user left is stopped and the new item's starts at once: the
    model is held inside the first job's prediction, so the test sees both jobs for sure."""
    tab = window.viewer
    predictor = window.registry.predictor
    gate = threading.Event()  # the model answers only once the gate opens
    predict_slices = predictor.predict_slices

    def held(*args: object, **kwargs: object) -> object:
        gate.wait(WAIT_MS / 1000)
        return predict_slices(*args, **kwargs)

    monkeypatch.setattr(predictor, "predict_slices", held)
    others = sorted((MINI / "Testing" / "notumor").glob("*.jpg"))[:2]
    try:
        tab.open_paths([GLIOMA, *others])
        qtbot.waitUntil(
            lambda: len(tab.state.items) == 3 and tab.planner.running is not None, timeout=WAIT_MS
        )
        stale = tab.planner.running
        first, last = tab.state.items[0], tab.state.items[-1]
        assert stale.request.slice_key == tab.state.slice_key(first)
        assert stale.request.want_prediction and not stale.job.abort_requested
        tab.state.select(last)
        qtbot.waitUntil(
            lambda: tab.planner.running is not None and tab.planner.running.job is not stale.job,
            timeout=WAIT_MS,
        )
        assert stale.job.abort_requested  # stopped, at its next yield
        fresh = tab.planner.running.request
        assert fresh.slice_key == tab.state.slice_key(last) and fresh.want_prediction
        assert tab.state.prediction(first) is None and not tab.is_view_complete()
    finally:
        gate.set()
    wait_for_view(qtbot, tab)
    assert tab.state.current is last and tab.state.prediction(last) is not None
    assert tab.state.cam(last) is not None
    qtbot.waitUntil(lambda: not stale.job.is_running, timeout=WAIT_MS)


def test_model_menu_status_bar_and_about(qtbot, window: QtMainWindow, tmp_path: Path) -> None:
    labels = [a.text() for a in window.model_menu.actions()]
    assert any("tiny-test-model" in t for t in labels)
    assert "Open model file…" in " ".join(labels)
    assert window.clinical_label.text() == "Research and education only — not for clinical use"
    assert "tiny-test-model" in window.model_label.text() and "50.0%" in window.model_label.text()
    assert "CPU" in window.device_label.text()
    assert "not for clinical use" in window.about_text()
    assert [window.tabs.tabText(i) for i in range(2)] == ["Viewer", "Training"]
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"not a model")
    assert window.open_model(bogus) is None  # a message box, no crash, old model stays
    assert window.registry.predictor is not None


def test_worker_quit_takes_effect_at_the_next_yield(qtbot) -> None:
    closed: list[bool] = []

    def slow():
        try:
            for i in range(1000):
                time.sleep(0.005)
                yield i
        finally:
            closed.append(True)

    worker = QtGeneratorWorker(slow)
    got: list[int] = []
    worker.yielded.connect(got.append)
    with qtbot.waitSignals([worker.aborted, worker.finished], timeout=5000):
        worker.start()
        qtbot.waitUntil(lambda: len(got) >= 3, timeout=5000)
        worker.quit()
    assert closed == [True] and len(got) < 1000

    def failing():
        yield 1
        raise ValueError("boom")

    failing_worker = QtGeneratorWorker(failing)
    with qtbot.waitSignal(failing_worker.errored, timeout=5000) as blocker:
        failing_worker.start()
    assert isinstance(blocker.args[0], ValueError)
    assert wait_for_all(5.0)


def test_settings_persist(tmp_path: Path) -> None:
    first = AppSettings.in_file(tmp_path / "s.ini")
    first.opacity, first.cam_method, first.last_folder = 0.7, "layercam", str(tmp_path)
    first.add_recent("/a.jpg")
    first.add_recent("/b.jpg")
    first.add_recent("/a.jpg")
    first.sync()
    again = AppSettings.in_file(tmp_path / "s.ini")
    assert (again.opacity, again.cam_method, again.last_folder) == (0.7, "layercam", str(tmp_path))
    assert again.recent_files == ["/a.jpg", "/b.jpg"]
    again.store.setValue("display/cam_method", "nonsense")
    assert again.cam_method == ""  # the model's own default map


def test_self_test_passes_and_fails_with_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from desktop_app.main import main, self_test
    from trainer.assets import samples_dir

    assets = tmp_path / "assets"
    shutil.copytree(samples_dir(), assets / "samples")
    monkeypatch.setenv("BRAINMRI_ASSETS", str(assets))
    assert main(["--self-test", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("brainmri-app: self-test failed: ")
    assert "default model" in err
    (assets / "models").mkdir()
    shutil.copy(tiny_model_file, assets / "models" / "default.safetensors")
    # The untrained model gets some sample wrong: the self-test says which, and fails.
    from trainer.io import load_paths
    from trainer.predict import Predictor

    samples = sorted((assets / "samples").glob("*.jpg"))
    scans, _ = load_paths(samples)
    preds = Predictor(None, device="cpu").predict_slices([s.slices[0] for s in scans])
    ok, message = self_test(device="cpu")
    wrong = [
        p
        for p, r in zip(samples, preds, strict=True)
        if not p.name.startswith(r.predicted_class + "_")
    ]
    if wrong:
        assert not ok and "expected" in message and wrong[0].name in message
    # Named after what this model predicts, every sample passes (when none is flagged OOD).
    for path, pred in zip(samples, preds, strict=True):
        path.rename(path.with_name(f"{pred.predicted_class}_{path.name}"))
    ok, message = self_test(device="cpu")
    if any(p.ood for p in preds):
        assert not ok and "out of distribution" in message
        return
    assert ok, message
    assert f"{len(samples)} samples" in message and "\n" not in message
    # a sample whose name names no class cannot be checked: that fails too
    first = samples[0].with_name(f"{preds[0].predicted_class}_{samples[0].name}")
    (assets / "samples" / "zz_unnamed.jpg").write_bytes(first.read_bytes())
    ok, message = self_test(device="cpu")
    assert not ok and "zz_unnamed.jpg" in message


def test_screenshot_mode(
    qtbot, tmp_path: Path, tiny_model_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from desktop_app.main import main

    monkeypatch.setenv("BRAINMRI_HOME", str(tmp_path / "home"))
    shot = tmp_path / "shot.png"
    code = main(
        [
            "--model",
            str(tiny_model_file),
            "--device",
            "cpu",
            "--screenshot",
            str(shot),
            "--timeout",
            "60",
            str(GLIOMA),
        ]
    )
    assert code == 0
    with Image.open(shot) as saved:
        assert saved.size[0] >= 1000
    missing = tmp_path / "missing.jpg"
    assert main(["--model", str(tiny_model_file), "--screenshot", str(shot), str(missing)]) == 1
    monkeypatch.setenv("BRAINMRI_ASSETS", str(tmp_path / "no-assets"))  # no default model
    assert main(["--screenshot", str(shot), "--timeout", "30", str(GLIOMA)]) == 1  # no hang


def test_ood_warning_is_visible(qtbot, window: QtMainWindow) -> None:
    from trainer.predict import Prediction, PredictionWarning

    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    panel = tab.prediction_panel
    assert not panel.ood_warning.isVisibleTo(panel)
    classes = tab.state.classes
    words = "this image does not look like the brain MRI slices ..."
    flagged = Prediction(
        str(GLIOMA),
        None,
        classes[0],
        {c: 1 / len(classes) for c in classes},
        True,
        9.9,
        [PredictionWarning(PredictionWarning.OOD, words)],
    )
    tab.state.store_prediction(tab.state.slice_key(), flagged)
    assert panel.ood_warning.isVisibleTo(panel)
    assert "not a brain MRI" in panel.ood_warning.text()
    assert "not like a brain mri" in tab.item_list.item(0).text().lower()
    assert words not in panel.notes.text()  # said once, by the red box, in its own words


def test_the_panel_hides_the_ood_warning_by_its_code_not_its_words(
    qtbot, window: QtMainWindow
) -> None:
    """The red box says the out-of-distribution warning; the notes leave out the warning with
    that code, and only it: a warning of another code stays, whatever its words."""
    from trainer.predict import Prediction, PredictionWarning

    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    panel = tab.prediction_panel
    classes = tab.state.classes
    words = "this image does not look like the brain MRI slices the model was trained on"
    probabilities = {c: 1 / len(classes) for c in classes}
    same_words = PredictionWarning(PredictionWarning.OTHER, words)
    low = PredictionWarning(PredictionWarning.LOW_CONFIDENCE, "low confidence (top 25%)")
    plain = Prediction(str(GLIOMA), None, classes[0], probabilities, False, 0.5, [same_words, low])
    tab.state.store_prediction(tab.state.slice_key(), plain)
    assert not panel.ood_warning.isVisibleTo(panel)
    assert panel.notes.isVisibleTo(panel)
    assert words in panel.notes.text() and "low confidence" in panel.notes.text()

    ood = PredictionWarning(PredictionWarning.OOD, "anything at all")
    flagged = Prediction(
        str(GLIOMA), None, classes[0], probabilities, True, 9.9, [ood, same_words, low]
    )
    tab.state.store_prediction(tab.state.slice_key(), flagged)
    assert panel.ood_warning.isVisibleTo(panel)
    notes = panel.notes.text()
    assert "anything at all" not in notes
    assert words in notes and "low confidence" in notes


# --------------------------------------------------------------------------------------------
# The heat map: one default for the screen and the report, withheld for "no tumour"
# --------------------------------------------------------------------------------------------


def model_with(tmp_path: Path, base: Path, name: str, updates: dict, notumor: bool = False) -> Path:
    """A copy of the tiny model with metadata set, and optionally always answering notumor."""
    from safetensors.torch import load_file, save_file

    from trainer.api import META_KEY, read_metadata

    meta = {**read_metadata(base), **updates}
    tensors = load_file(str(base))
    if notumor:
        tensors["model.head.out.bias"][meta["classes"].index("notumor")] += 50.0
    path = tmp_path / f"{name}.safetensors"
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(meta)})
    return path


def test_viewer_and_report_draw_the_models_own_default_map(
    qtbot, window: QtMainWindow, tiny_model_file: Path, tmp_path: Path
) -> None:
    """A model that records EigenCAM as its map: the screen, the PNG and the PDF all show
    EigenCAM, though the user never chose a method; Grad-CAM would differ."""
    from trainer.api import render_overlay

    model = model_with(tmp_path, tiny_model_file, "eigen", {"cam": {"method": "eigencam"}})
    with qtbot.waitSignal(window.registry.active_model_changed, timeout=WAIT_MS):
        window.registry.add_model(model, activate=True)
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    assert tab.state.display.cam_method == ""  # "Default map"
    predictor = window.registry.predictor
    grey = tab.grey_layer.grey01(tab.state.current)
    eigen = predictor.explain(grey, "eigencam")
    np.testing.assert_allclose(tab.state.cam(), eigen, atol=1e-6)
    assert not np.allclose(tab.state.cam(), predictor.explain(grey, "gradcam"), atol=1e-3)
    report = tab.exports.report_contents(
        tab.state.current, tab.state.prediction(), predictor, False, {}
    )
    d = tab.state.display
    np.testing.assert_array_equal(report["overlay_rgb"], render_overlay(grey, eigen, d.opacity))
    assert any("default (eigencam)" in line for line in report["extra_lines"])
    np.testing.assert_array_equal(tab.overlay_image(), render_overlay(grey, eigen, d.opacity))


def test_a_no_tumour_answer_withholds_the_map_and_says_why(
    qtbot, window: QtMainWindow, tiny_model_file: Path, tmp_path: Path
) -> None:
    model = model_with(tmp_path, tiny_model_file, "healthy", {}, notumor=True)
    with qtbot.waitSignal(window.registry.active_model_changed, timeout=WAIT_MS):
        window.registry.add_model(model, activate=True)
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, tab)
    assert tab.state.prediction().predicted_class == "notumor"
    assert tab.state.map_withheld()
    assert tab.canvas.heat is None and tab.overlay_image() is None
    assert "No map is drawn" in tab.cam_controls.explanation.text()
    report = tab.exports.report_contents(
        tab.state.current, tab.state.prediction(), window.registry.predictor, False, {}
    )
    assert report["overlay_rgb"] is None
    # Asking for a tumour class's map draws it, with what was (not) measured about it
    tab.cam_controls.target.setCurrentIndex(tab.cam_controls.target.findData("glioma"))
    wait_for_view(qtbot, tab)
    assert not tab.state.map_withheld() and tab.canvas.heat is not None
    text = tab.cam_controls.explanation.text()
    assert "\u201cglioma\u201d" in text and "not been measured against marked lesions" in text
