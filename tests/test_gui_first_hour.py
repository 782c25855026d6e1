"""Every screen explains itself: the points a new user hit in the first hour (issue 11)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMessageBox

from desktop_app.main_window import QtMainWindow
from desktop_app.models import QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.workers import wait_for_all

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
GLIOMA = MINI / "Testing" / "glioma" / "Te-glTr_0000.jpg"
PITUITARY = MINI / "Testing" / "pituitary" / "Te-piTr_0002.jpg"
WAIT_MS = 120_000


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Modal questions are answered "Cancel"/"No" and recorded (they would hang a test)."""
    said: list[str] = []

    def record(*args: object, **_kwargs: object) -> QMessageBox.StandardButton:
        said.append(" ".join(str(a) for a in args[1:3]))
        return QMessageBox.StandardButton.Cancel

    for name in ("warning", "information", "question", "critical"):
        monkeypatch.setattr(QMessageBox, name, record)
    return said


@pytest.fixture
def window(
    qtbot: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    tiny_model_file: Path,
    asked: list[str],
) -> Iterator[QtMainWindow]:
    monkeypatch.setenv("BRAINMRI_HOME", str(tmp_path / "home"))
    settings = AppSettings.in_file(tmp_path / "settings.ini")
    registry = QtModelRegistry(settings, device="cpu")
    win = QtMainWindow(registry, settings)
    qtbot.addWidget(win)
    with qtbot.waitSignal(registry.active_model_changed, timeout=WAIT_MS):
        registry.add_model(tiny_model_file, activate=True)
    win.resize(1280, 800)
    win.show()
    yield win
    win.viewer.shutdown()
    win.training.shutdown()
    assert wait_for_all(30.0)


def wait_for_view(qtbot: Any, win: QtMainWindow) -> None:
    qtbot.waitUntil(
        lambda: win.viewer.is_view_complete() and win.viewer.state.current is not None,
        timeout=WAIT_MS,
    )


def test_every_loaded_item_is_classified_and_the_list_says_what_the_panel_says(
    qtbot: Any, window: QtMainWindow
) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA, PITUITARY])
    wait_for_view(qtbot, window)
    second = tab.state.items[1]
    assert tab.state.current is not second
    qtbot.waitUntil(lambda: tab.state.prediction(second) is not None, timeout=WAIT_MS)
    pred = tab.state.prediction(second)
    top = pred.probabilities[pred.predicted_class]
    row = tab.item_list.row_for(second).text()
    assert "not classified" not in row and f"{pred.predicted_class} {top:.1%}" in row
    tab.state.select(second)
    wait_for_view(qtbot, window)
    assert f"{top:.1%}" in tab.prediction_panel.headline.text()


def test_grad_cam_target_is_per_image_and_the_overlay_explains_itself(
    qtbot: Any, window: QtMainWindow
) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA, PITUITARY])
    wait_for_view(qtbot, window)
    controls = tab.cam_controls
    controls.target.setCurrentIndex(controls.target.findData(tab.state.classes[2]))
    assert tab.state.display.target == tab.state.classes[2]
    assert f"\u201c{tab.state.classes[2]}\u201d" in controls.explanation.text()
    tab.state.select(tab.state.items[1])
    wait_for_view(qtbot, window)
    assert tab.state.display.target == "" and controls.target.currentIndex() == 0
    assert tab.state.cam() is not None  # the overlay of the new image, for its prediction
    pred = tab.state.prediction()
    assert f"\u201c{pred.predicted_class}\u201d" in controls.explanation.text()
    assert "not an outline of a tumour" in controls.explanation.text()
    report = tab.exports.report_contents(
        tab.state.current, pred, window.registry.predictor, False, {}
    )
    assert "target class: predicted class" in report["extra_lines"][0]


def test_not_an_mri_has_no_class_headline(qtbot: Any, window: QtMainWindow) -> None:
    from trainer.predict import Prediction

    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, window)
    classes = tab.state.classes
    flagged = Prediction(
        str(GLIOMA), None, classes[2], {c: float(c == classes[2]) for c in classes}, True, 9.9, []
    )
    tab.state.store_prediction(tab.state.slice_key(), flagged)
    headline = tab.prediction_panel.headline.text()
    assert "Not like a brain MRI" in headline and classes[2] not in headline
    assert "100" not in tab.item_list.item(0).text()


def test_window_box_names_a_hand_adjusted_window(qtbot: Any, window: QtMainWindow) -> None:
    from desktop_app.viewer.windowing import CUSTOM_PRESET, DEFAULT_PRESET

    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, window)
    assert tab.preset_box.currentText() == DEFAULT_PRESET
    viewport = tab.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=QPoint(150, 100))
    qtbot.mouseMove(viewport, QPoint(30, 140))
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=QPoint(30, 140))
    assert tab.state.current.window is not None
    assert tab.preset_box.currentText() == CUSTOM_PRESET
    tab.reset_window()
    assert tab.preset_box.currentText() == DEFAULT_PRESET
    assert tab.preset_box.findText(CUSTOM_PRESET) < 0


def test_clear_asks_first(
    qtbot: Any, window: QtMainWindow, asked: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = window.viewer
    tab.open_paths([GLIOMA])
    wait_for_view(qtbot, window)
    assert not tab.clear_with_confirmation()  # answered Cancel
    assert asked and "Clear" in asked[-1] and len(tab.state.items) == 1
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    assert tab.clear_with_confirmation() and not tab.state.items


def test_help_explains_the_screen(qtbot: Any, window: QtMainWindow) -> None:
    from PySide6.QtWidgets import QTextBrowser

    dialog = window.show_reading_help()
    text = dialog.findChild(QTextBrowser).toPlainText()
    assert "heat map" in text and "calibrated" in text and "not for clinical use" in text
    titles = [a.text() for a in window.menuBar().actions()[-1].menu().actions()]
    assert titles[0] == "&Reading the screen"
    dialog.close()


# --------------------------------------------------------------------------- the wizard


def test_recipe_defaults_to_one_that_works_here_and_speaks_plainly(
    qtbot: Any, window: QtMainWindow, mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import recipe_page
    from trainer.train import pretrained

    tab = window.training
    page = tab.recipe_page
    if not recipe_page.has_gpu():
        assert (
            page.preset() in ("lite2-cpu", "lite2")
            and page.preset() == recipe_page.default_preset()
        )
        assert page.config("", recipe_page.SplitSpec("paper")).backbone == "tf_efficientnet_lite2"
    assert not page.advanced.isVisibleTo(page)  # the tuning knobs wait behind "Advanced"
    assert "ImageNet" in page.summary_label.text() and "epoch" in page.summary_label.text()
    # the paper's B3 weights cannot be had: said before any measurement, in plain words
    monkeypatch.setattr(pretrained, "weights_cached", lambda name: False)
    monkeypatch.setattr(pretrained, "_hub_reachable", lambda timeout_s=3.0: False)
    with qtbot.waitSignal(tab.controller.scan_finished, timeout=WAIT_MS):
        tab.data_page.set_folder(mini_data)
    page.apply_preset("paper")
    with qtbot.waitSignal(tab.controller.weights_unavailable, timeout=WAIT_MS):
        page.probe_button.click()
    text = page.estimate_label.text()
    working = recipe_page.PRESET_LABELS[recipe_page.working_preset()].split(" — ")[0]
    assert "cannot be downloaded" in text and working in text
    assert "--" not in text and "Error" not in text and "pip" not in text
    assert not tab.controller.is_training()


def test_data_step_shows_folder_text_as_typed(
    qtbot: Any, window: QtMainWindow, tmp_path: Path
) -> None:
    tab = window.training
    with qtbot.waitSignal(tab.controller.scan_failed, timeout=WAIT_MS):
        tab.data_page.set_folder(tmp_path)
    label = tab.data_page.status_label
    assert label.textFormat() == Qt.TextFormat.RichText
    assert "&lt;class&gt;" in label.text()  # shown as "<class>", not swallowed as a tag


def _finished_run(tmp_path: Path, model: Path, accuracy: float) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(model, run / "model.safetensors")
    history = [
        {
            "epoch": float(e),
            "loss": 1.0 / e,
            "accuracy": 0.3,
            "val_loss": 1.1,
            "val_accuracy": 0.3,
            "is_best": float(e == 2),
        }
        for e in (1, 2)
    ]
    (run / "history.json").write_text(json.dumps(history))
    (run / "config.json").write_text(json.dumps({"epochs": 2, "batch_size": 8, "data": str(MINI)}))
    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    (run / "eval_test.json").write_text(
        json.dumps(
            {
                "accuracy": accuracy,
                "accuracy_ci95": [0.1, 0.6],
                "loss": 1.3,
                "n": 8,
                "classes": classes,
                "confusion_matrix": [[2, 0, 0, 0]] * 4,
                "per_class": {
                    c: {"precision": 0.3, "recall": 0.3, "f1": 0.3, "support": 2} for c in classes
                },
            }
        )
    )
    (run / "predictions_test.csv").write_text("path,true,predicted\n")
    return run


def test_a_weak_model_needs_a_yes_before_the_viewer_uses_it(
    qtbot: Any,
    window: QtMainWindow,
    tmp_path: Path,
    tiny_model_file: Path,
    asked: list[str],
) -> None:
    tab = window.training
    tab.open_finished_run(_finished_run(tmp_path, tiny_model_file, 0.33))
    page = tab.training_page
    assert page.plots.points("val_loss") == 2 and page.epoch_bar.value() == 2
    assert page.eta_label.text() == "" and "finished" in page.banner.text()  # no "–" left
    assert page.speed_label.text() == page.lr_label.text() == ""
    keep = tab.keep_page
    assert keep.where_caption.text() == "Will be saved to:"
    before = window.registry.active
    assert not keep.use_in_viewer()  # asked, answered Cancel: nothing changes
    assert asked and "33.0%" in asked[-1]
    assert window.registry.active is before and keep.kept_path is None
    with qtbot.waitSignal(window.registry.active_model_changed, timeout=WAIT_MS):
        assert keep.use_in_viewer(confirmed=True)
    assert keep.where_caption.text() == "Saved to:"


def test_training_page_layout_and_a_new_runs_log(
    qtbot: Any, window: QtMainWindow, tmp_path: Path, tiny_model_file: Path
) -> None:
    from desktop_app.training.charts import BACKGROUND

    page = window.training.training_page
    layout = page.layout()
    order = [layout.itemAt(i) for i in range(layout.count())]
    banner_at = next(i for i, it in enumerate(order) if it.widget() is page.banner)
    buttons_at = next(
        i
        for i, it in enumerate(order)
        if it.layout() is not None and it.layout().indexOf(page.stop_button) >= 0
    )
    assert buttons_at < banner_at  # a banner appearing never moves the buttons
    background = page.plots.loss_plot.backgroundBrush().color().name()
    assert background == BACKGROUND
    page.log("Traceback (most recent call last): old failure", "error")
    from desktop_app.training.state import RunProgress

    page.begin(RunProgress(run_dir=str(tmp_path / "new-run")))
    assert "old failure" not in page.log_text() and "Starting run" in page.log_text()
    page.end(page.progress)


@pytest.mark.gui
def test_confusion_matrix_on_the_dark_theme_shows_every_mistake(qtbot) -> None:
    """Empty cells are the page's background, right answers blue, and a single mistake
    stands out from an empty cell (on a scale of the largest count it was near-white, like 0),
    with text that reads on its cell."""
    from PySide6.QtGui import QColor

    from desktop_app.training.charts import BACKGROUND, QtConfusionMatrix, _readable_text

    table = QtConfusionMatrix()
    qtbot.addWidget(table)
    table.set_matrix([[150, 1, 0], [0, 200, 4], [2, 0, 180]], ["a", "b", "c"])

    def colour(i: int, j: int) -> QColor:
        return table.item(i, j).background().color()

    assert colour(0, 2).name() == BACKGROUND  # nothing there: no colour
    one = colour(0, 1)
    assert one.name() != BACKGROUND and one.red() > one.blue()  # one mistake, warm
    assert colour(1, 1).blue() > colour(1, 1).red()  # right answers, blue
    for i in range(3):
        for j in range(3):
            text = table.item(i, j).foreground().color()
            assert text == _readable_text(colour(i, j))
    assert _readable_text(QColor("#ffffff")).lightness() < 50
    assert _readable_text(QColor(BACKGROUND)).lightness() > 200


@pytest.mark.gui
def test_loss_axis_shows_plain_numbers(qtbot) -> None:
    """A loss of 0.25 reads 0.25 on the axis, not 250 with "(x0.001)" in the label."""
    from desktop_app.training.charts import QtCurvePlots

    charts = QtCurvePlots()
    qtbot.addWidget(charts)
    for plot in (charts.loss_plot, charts.accuracy_plot):
        assert not plot.getPlotItem().getAxis("left").autoSIPrefix
