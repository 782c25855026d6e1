"""The Training tab: data → recipe → live curves → results → keep, offscreen.

Real runs are tiny (timm's ``test_efficientnet``, 32 px, batch 8, 2 epochs, the 40-image mini
set, CPU, no data-loader processes) so the whole file stays well under a minute and a half on
two cores. Failures, out-of-memory and closing are driven by a fake ``fit`` that yields the
trainer's own events: what the GUI does with them is the subject, not the training.
"""

from __future__ import annotations

import json
import math
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_probe import TINY  # one tiny recipe for the probe's and the wizard's tests
from trainer.train.events import (
    BatchEnded,
    BatchSizeChanged,
    CancelToken,
    EpochEnded,
    EpochStarted,
    FitFailed,
    FitFinished,
    LogMessage,
    PhaseChanged,
    RunStarted,
)

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")
SERIES = ("loss", "val_loss", "accuracy", "val_accuracy")
RUN_S = 180_000  # ms: generous, the CPU is shared with other test runs


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs and kept models go to a private user folder, never the real one."""
    home = tmp_path / "home"
    monkeypatch.setenv("BRAINMRI_HOME", str(home))
    return home


# --------------------------------------------------------------------------- Qt-free parts


def _epoch(epoch: int, loss: float, best: bool = True) -> EpochEnded:
    metrics = {
        "loss": loss,
        "accuracy": 0.5,
        "val_loss": loss + 0.1,
        "val_accuracy": 0.4,
        "lr": 1e-3,
        "is_best": 1.0 if best else 0.0,
    }
    return EpochEnded(epoch, 3, metrics, best)


def test_run_progress_folds_events_into_one_point_per_epoch(tmp_path: Path) -> None:
    from desktop_app.training.state import RunProgress, format_duration

    p = RunProgress()
    p.update(RunStarted(str(tmp_path), CLASSES, {}, "table", {"epochs": 3}, None))
    p.update(EpochStarted(1, 3, 4, 1e-3))
    p.update(BatchEnded(1, 2, 4, 1.2, 0.4, 30.0, 95.0, 1e-3))
    assert (p.batch, p.batches, p.eta_s, p.images_per_s) == (2, 4, 95.0, 30.0)
    p.update(_epoch(1, 1.0))
    p.update(_epoch(2, 0.8, best=False))
    for key in SERIES:
        assert p.series(key) == ([1.0, 2.0], p.series(key)[1])
    assert p.best_epoch == 1

    # resuming: the folder's history comes first, an epoch reported again replaces its point
    (tmp_path / "history.json").write_text(json.dumps([dict(_epoch(1, 1.0).metrics, epoch=1)]))
    resumed = RunProgress()
    resumed.load_history(tmp_path)
    resumed.update(_epoch(1, 0.9))
    resumed.update(_epoch(2, 0.7))
    assert resumed.series("loss") == ([1.0, 2.0], [0.9, 0.7])

    assert not resumed.batch_lowered
    # the wording of a warning means nothing to the page; the typed event does
    resumed.update(LogMessage("continuing with batch size 2 (reworded)", "warning"))
    assert not resumed.batch_lowered
    resumed.update(BatchSizeChanged(16, 8, 2))
    assert resumed.batch_lowered and resumed.batch_size == 8
    assert format_duration(3725) == "1 h 02 min" and format_duration(math.nan) == "–"


def test_out_of_memory_failure_is_recognised_with_what_to_change() -> None:
    from desktop_app.training.state import RunProgress, out_of_memory_advice

    p = RunProgress()
    p.update(FitFailed("run", "CUDA out of memory. Tried to allocate 2 GiB", "", "out_of_memory"))
    assert p.out_of_memory
    # the kind is typed: a message that merely mentions memory is not an out-of-memory failure
    q = RunProgress()
    q.update(FitFailed("run", "RuntimeError: out of memory while reading a file", ""))
    assert not q.out_of_memory
    advice = out_of_memory_advice(16, 300)
    assert "batch size to 8" in advice and "300 px" in advice and "CPU" in advice
    assert "Even batch size 2 does not fit" in out_of_memory_advice(2, 224)


def test_keep_model_copies_the_run_and_names_the_model(tmp_path: Path, tiny_model_file: Path):
    from desktop_app.training.runs import keep_model, resumable_info
    from trainer.modelfile import load_model_file

    run = tmp_path / "runs" / "20250101-000000-test_efficientnet"
    run.mkdir(parents=True)
    shutil.copy(tiny_model_file, run / "model.safetensors")
    for name in ("state.pt", "best_weights.safetensors"):
        (run / name).write_bytes(b"x")
    (run / "eval_test.json").write_text("{}")
    assert resumable_info(run) is None  # finished: a model file exists

    models = tmp_path / "models"
    path = keep_model(run, "  My model: v1 ", models)
    assert path == models / "My model_ v1" / "model.safetensors"
    assert (path.parent / "eval_test.json").is_file()
    assert not (path.parent / "state.pt").exists()  # a finished run needs no resumable state
    assert not (path.parent / "best_weights.safetensors").exists()
    loaded = load_model_file(path)
    assert loaded.info.name == "My model: v1" and loaded.classes == list(CLASSES)
    with pytest.raises(FileExistsError):
        keep_model(run, "My model: v1", models)
    assert not list(models.glob(".*partial"))


# --------------------------------------------------------------------------- the tab


class FakeRegistry:
    """Stands in for QtModelRegistry where no model is loaded."""

    def __init__(self) -> None:
        self.added: list[tuple[Path, bool]] = []

    def add_model(self, path: str | Path, activate: bool = True) -> None:
        self.added.append((Path(path), activate))


@pytest.fixture
def make_tab(qtbot: Any) -> Iterator[Any]:
    pytest.importorskip("PySide6")
    pytest.importorskip("pyqtgraph")
    from desktop_app.training import QtTrainingTab

    tabs = []

    def make(registry: Any = None) -> Any:
        tab = QtTrainingTab(registry if registry is not None else FakeRegistry())
        qtbot.addWidget(tab)
        tab.resize(1200, 800)
        tab.show()
        tabs.append(tab)
        return tab

    yield make
    for tab in tabs:
        assert tab.shutdown(30_000), "a background job did not stop"


def choose_data(qtbot: Any, tab: Any, folder: Path) -> None:
    with qtbot.waitSignal(tab.controller.scan_finished, timeout=60_000):
        tab.data_page.set_folder(folder)


def tiny_recipe(tab: Any) -> None:
    tab.go_to(1)
    assert tab.current_step() == 1, "the recipe step opens once the data is chosen"
    tab.recipe_page.apply_preset("quick")
    for key, value in TINY.items():
        tab.recipe_page.set_value(key, value)


def click(qtbot: Any, button: Any) -> None:
    from PySide6.QtCore import Qt

    assert button.isEnabled() and button.isVisible(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def record_events(tab: Any) -> list[object]:
    events: list[object] = []
    tab.controller.event_received.connect(events.append)
    return events


def fake_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the speed measurement where a test is about something else."""
    from desktop_app.training import controller
    from trainer.train.probe import ProbeProgress, ProbeResult

    def probe_speed(cfg: Any) -> Iterator[ProbeProgress]:
        yield ProbeProgress("fake")
        return ProbeResult(
            "cpu",
            "CPU",
            cfg.backbone,
            cfg.img_size,
            cfg.batch_size,
            cfg.batch_size,
            0.1,
            0.01,
            0.01,
            0.1,
            24,
            8,
            8,
            cfg.epochs,
            3,
            1.0,
            float(cfg.epochs),
        )

    monkeypatch.setattr(controller, "probe_speed", probe_speed)


@pytest.mark.gui
def test_data_step_reports_leakage_and_unreadable_files_in_plain_words(
    qtbot: Any, make_tab: Any, mini_data: Path
) -> None:
    (mini_data / "Training" / "glioma" / "broken.jpg").write_bytes(b"not a jpeg")
    shutil.copy(
        mini_data / "Testing" / "notumor" / "Te-noTr_0000.jpg",
        mini_data / "Training" / "notumor" / "copy-of-a-test-image.jpg",
    )
    tab = make_tab()
    assert not tab.data_page.is_ready()
    choose_data(qtbot, tab, mini_data)
    page = tab.data_page
    warning = page.warning_label.text()
    assert "nearly identical to a training image" in warning
    assert "cannot be read" in warning
    assert page.unreadable_list.count() == 1 and "broken.jpg" in page.unreadable_list.item(0).text()
    table = page.counts_table
    rows = [table.verticalHeaderItem(i).text() for i in range(table.rowCount())]
    assert rows == ["folder Training", "folder Testing", "training", "validation", "test"]
    total = page.counts_table.columnCount() - 1
    assert [page.counts_table.item(i, total).text() for i in range(2, 5)] == ["26", "8", "8"]
    assert "Image sizes" in page.sizes_label.text()

    # another split: the stratified fraction re-scans by itself
    with qtbot.waitSignal(tab.controller.scan_finished, timeout=60_000):
        page.split_fraction.setChecked(True)
    assert tab.data_page.report.split_method == "fraction"
    assert tab.current_config().split == "fraction"
    assert tab.current_config().val_fraction == pytest.approx(0.15)

    # a folder of class folders has no Testing half: the paper's split cannot apply, and the
    # check and the training use the same stratified split instead
    flat = mini_data.parent / "flat"
    shutil.copytree(mini_data / "Training", flat)
    page.split_paper.setChecked(True)
    choose_data(qtbot, tab, flat)
    assert "no Testing folder" in page.status_label.text()
    assert tab.data_page.report.split_method == "fraction"
    assert (tab.current_config().split, tab.current_config().val_fraction) == ("fraction", 0.15)


@pytest.mark.gui
def test_wizard_end_to_end_from_folder_to_model_in_the_viewer(
    qtbot: Any,
    make_tab: Any,
    mini_data: Path,
    tmp_path: Path,
    user_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from desktop_app.models import QtModelRegistry
    from desktop_app.settings import AppSettings
    from trainer.predict import Predictor

    registry = QtModelRegistry(AppSettings.in_file(tmp_path / "settings.ini"), device="cpu")
    tab = make_tab(registry)
    events = record_events(tab)
    grown: list[dict[str, int]] = []  # points per series as each epoch ended (page renders first)
    tab.controller.event_received.connect(
        lambda e: (
            grown.append({k: tab.training_page.plots.points(k) for k in SERIES})
            if isinstance(e, EpochEnded)
            else None
        )
    )

    # 1 Data, 2 Recipe
    choose_data(qtbot, tab, mini_data)
    click(qtbot, tab.next_button)
    assert tab.current_step() == 1
    tiny_recipe(tab)
    # 3 Training: the probe runs first, its estimate is shown, then the run starts
    with qtbot.waitSignal(tab.controller.training_ended, timeout=RUN_S):
        click(qtbot, tab.recipe_page.start_button)
        assert tab.controller.is_probing()
    assert "About" in tab.recipe_page.estimate_label.text()
    assert "per batch of 8" in tab.recipe_page.estimate_label.text()
    assert tab.current_step() == 2

    page = tab.training_page
    epochs_ended = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs_ended) == 2
    assert {k: page.plots.points(k) for k in SERIES} == dict.fromkeys(SERIES, 2)
    # the curves grew one point per epoch, as the epochs ended
    assert grown == [dict.fromkeys(SERIES, 1), dict.fromkeys(SERIES, 2)]
    assert tab.controller.progress.finished is not None
    assert not tab.controller.progress.cancelled and tab.controller.progress.failed is None
    assert page.augmented_batch_shown
    assert page.epoch_bar.value() == 2 and page.batch_bar.value() == page.batch_bar.maximum()
    assert page.eta_label.text() == "" and "images/s" in page.speed_label.text()  # measured
    assert "epoch 2/2" in page.log_text() and "trainable parameters" in page.log_text()
    png = page.save_plots(tmp_path / "curves")
    assert png.suffix == ".png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_dir = Path(tab.controller.progress.run_dir)
    assert run_dir.parent == user_home / "runs"

    # 4 Results: numbers, confusion matrix, report, misclassified gallery
    with qtbot.waitSignal(tab.controller.misclassified_done, timeout=60_000) as done:
        click(qtbot, page.results_button)
    assert tab.current_step() == 3
    results = tab.results_page
    test = json.loads((run_dir / "eval_test.json").read_text())
    assert f"Test accuracy {test['accuracy']:.3f}" in results.summary_label.text()
    assert f"loss {test['loss']:.3f}" in results.summary_label.text()
    # the shipped model's numbers beside this one's: test half, de-duplicated, validation
    from desktop_app.training.comparison import accuracy_text, shipped_metrics

    shipped = shipped_metrics()
    compare = results.compare_table
    assert compare.rowCount() == 3
    assert compare.item(0, 0).text() == accuracy_text(test)
    assert compare.item(0, 1).text() == accuracy_text(shipped["test"])
    assert compare.item(1, 1).text() == accuracy_text(shipped["test_dedup"])
    assert "95 % interval" in compare.item(1, 1).text()
    assert compare.item(2, 1).text() == accuracy_text(shipped["val"])
    cm = results.confusion
    assert cm.rowCount() == cm.columnCount() == 4
    assert sum(cm.count(i, j) for i in range(4) for j in range(4)) == test["n"] == 8
    labels = [
        results.report_table.verticalHeaderItem(i).text()
        for i in range(results.report_table.rowCount())
    ]
    assert labels == [*CLASSES, "accuracy", "macro avg", "weighted avg"]
    assert results.report_table.item(4, 3).text() == "8"
    wrong = done.args[0]["misclassified"]
    assert wrong == test["n"] - round(test["accuracy"] * test["n"])
    assert results.gallery.count() == wrong
    if wrong:
        from PySide6.QtCore import Qt

        item = results.gallery.item(0)
        results.gallery.doItemsLayout()
        centre = results.gallery.visualItemRect(item).center()
        with qtbot.waitSignal(tab.open_in_viewer_requested) as opened:
            # a real double click: press and release, then the double-click event
            qtbot.mouseClick(results.gallery.viewport(), Qt.MouseButton.LeftButton, pos=centre)
            qtbot.mouseDClick(results.gallery.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        assert opened.args[0] == [item.data(Qt.ItemDataRole.UserRole)]
        assert Path(opened.args[0][0]).is_file()

    # 5 Keep: name it, use it in the viewer
    click(qtbot, results.keep_button)
    assert tab.current_step() == 4
    tab.keep_page.name_edit.setText("Quick check on mini")
    asked: list[str] = []  # a quick-check model is weak: the page asks before using it
    monkeypatch.setattr(
        type(tab.keep_page), "confirm_use", lambda self, concern: asked.append(concern) or True
    )
    with qtbot.waitSignal(registry.active_model_changed, timeout=60_000) as activated:
        click(qtbot, tab.keep_page.use_button)
    assert asked and "test accuracy" in asked[0]
    kept = user_home / "models" / "Quick check on mini" / "model.safetensors"
    assert activated.args[0].path == kept and registry.active.path == kept
    assert registry.predictor is not None and registry.predictor.classes == list(CLASSES)
    assert "Quick check on mini" in registry.active.label
    assert (kept.parent / "classification_report.txt").is_file()
    # and it predicts like any model, in the viewer's predictor and loaded afresh
    from trainer.io import read_grey

    grey = read_grey(sorted((mini_data / "Testing" / "glioma").iterdir())[0])
    probs, _ = registry.predictor.predict_arrays([grey])
    again, _ = Predictor(kept, device="cpu").predict_arrays([grey])
    assert probs.shape == (1, 4) and probs.sum() == pytest.approx(1.0, abs=1e-4)
    assert again == pytest.approx(probs, abs=1e-5)


def _gated(real_fit: Any) -> Any:
    """The real ``fit`` that waits after its first batch until Stop is pressed, so that the
    stop lands mid-epoch however fast or slow this machine is."""

    def fit(
        cfg: Any, run_dir: Any, cancel: CancelToken, resume: bool = False, overrides: Any = None
    ) -> Iterator[object]:
        gate = not resume
        for event in real_fit(cfg, run_dir, cancel, resume=resume, overrides=overrides):
            yield event
            if gate and isinstance(event, BatchEnded):
                gate = False
                deadline = time.monotonic() + 60
                while not cancel.cancelled and time.monotonic() < deadline:
                    time.sleep(0.01)

    return fit


@pytest.mark.gui
def test_stop_mid_run_then_resume_reaches_the_same_end(
    qtbot: Any, make_tab: Any, mini_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import controller
    from trainer.config import TrainConfig
    from trainer.train.engine import fit

    monkeypatch.setattr(controller, "_fit", _gated(fit))
    fake_probe(monkeypatch)
    tab = make_tab()
    events = record_events(tab)
    choose_data(qtbot, tab, mini_data)
    tiny_recipe(tab)
    tab.recipe_page.set_value("limit_per_class", 4)  # 16 training images: 2 batches an epoch
    with qtbot.waitSignal(tab.controller.training_ended, timeout=RUN_S):
        click(qtbot, tab.recipe_page.start_button)
        qtbot.waitUntil(lambda: any(isinstance(e, BatchEnded) for e in events), timeout=RUN_S)
        click(qtbot, tab.training_page.stop_button)

    progress = tab.controller.progress
    run_dir = Path(progress.run_dir)
    assert progress.cancelled and progress.history == []
    assert (run_dir / "state.pt").is_file() and not (run_dir / "model.safetensors").exists()
    assert "Resume" in tab.training_page.banner.text()
    assert tab.data_page.resume_combo.currentData() == str(run_dir)  # listed for a later session
    assert tab.results_page.results is None

    # while the resumed run trains, the rest of the app goes on: a viewer predicting and
    # building models draws from torch's process-wide random generator all the time; the run
    # draws from its own generators only, so none of this may change where it ends
    stop_viewer = threading.Event()

    def viewer_predicting() -> None:
        import torch

        from trainer.model import build_model

        while not stop_viewer.is_set():
            model = build_model("test_efficientnet", 4).eval()
            with torch.inference_mode():
                model(torch.rand(2, 3, 32, 32))
            time.sleep(0.05)

    viewer = threading.Thread(target=viewer_predicting, daemon=True)
    ended = [tab.controller.training_ended, tab.controller.misclassified_done]
    try:
        with qtbot.waitSignals(ended, timeout=RUN_S, order="strict"):
            click(qtbot, tab.training_page.resume_button)
            viewer.start()
    finally:
        stop_viewer.set()
        if viewer.is_alive():
            viewer.join()
    progress = tab.controller.progress
    assert progress.finished is not None and not progress.cancelled and progress.failed is None
    assert {k: tab.training_page.plots.points(k) for k in SERIES} == dict.fromkeys(SERIES, 2)
    assert tab.results_page.results is not None

    # the same recipe, never interrupted, headless
    cfg = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    reference = next(e for e in fit(cfg, tmp_path / "reference") if isinstance(e, FitFinished))
    assert len(progress.history) == len(reference.history) == 2
    for resumed, straight in zip(progress.history, reference.history, strict=True):
        for key in SERIES:
            assert resumed[key] == pytest.approx(straight[key], rel=1e-6, abs=1e-7), key
    resumed_test = json.loads((run_dir / "eval_test.json").read_text())
    assert resumed_test["accuracy"] == reference.test_metrics["accuracy"]
    assert resumed_test["loss"] == pytest.approx(reference.test_metrics["loss"], rel=1e-6)
    # bit for bit: every weight of the app's stopped-and-resumed run equals the straight one
    from safetensors.torch import load_file

    ours = load_file(str(run_dir / "model.safetensors"))
    straight = load_file(str(tmp_path / "reference" / "model.safetensors"))
    assert ours.keys() == straight.keys()
    assert all(ours[k].equal(straight[k]) for k in ours)


def _fake_fit(events: list[object]) -> Any:
    def fit(
        cfg: Any, run_dir: Any, cancel: CancelToken, resume: bool = False, overrides: Any = None
    ) -> Iterator[object]:
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        yield RunStarted(
            str(run_dir),
            CLASSES,
            {"train": {"glioma": 6}},
            "parameter table",
            {"epochs": 2, "batch_size": cfg.batch_size if cfg else 16, "img_size": 300},
            None,
        )
        yield from events

    return fit


@pytest.mark.gui
def test_a_crash_shows_its_error_and_keeps_the_log(
    qtbot: Any, make_tab: Any, mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import controller

    fake_probe(monkeypatch)
    monkeypatch.setattr(
        controller,
        "_fit",
        _fake_fit(
            [
                PhaseChanged("training", "2 epochs"),
                LogMessage("backbone weights: random initialisation"),
                EpochStarted(1, 2, 3, 1e-3),
                BatchEnded(1, 1, 3, 1.3, 0.25, 12.0, 30.0, 1e-3),
                FitFailed(
                    "run",
                    "RuntimeError: boom in the data loader",
                    "Traceback (most recent call last):\n  ...\nRuntimeError: boom",
                ),
            ]
        ),
    )
    tab = make_tab()
    choose_data(qtbot, tab, mini_data)
    tiny_recipe(tab)
    with qtbot.waitSignal(tab.controller.training_ended, timeout=30_000):
        click(qtbot, tab.recipe_page.start_button)
    page = tab.training_page
    assert not tab.is_training()
    assert page.banner.isVisible() and "boom in the data loader" in page.banner.text()
    log = page.log_text()
    assert "random initialisation" in log and "Traceback" in log and "RuntimeError: boom" in log
    assert page.phase_label.text() == "Failed."
    assert not page.retry_button.isVisible()  # not a memory problem
    assert tab.recipe_page.start_button.isEnabled()  # the user can change the recipe and retry


@pytest.mark.gui
def test_out_of_memory_lowers_the_batch_and_the_run_goes_on(
    qtbot: Any, make_tab: Any, mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real engine, with a GPU that cannot take 8 images (simulated on the CPU)."""
    import torch

    from trainer.train.engine import TrainingRun

    real_step = TrainingRun._train_step

    def small_gpu(self: Any, x: Any, y: Any, epoch: int, b: int) -> None:
        if len(y) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real_step(self, x, y, epoch, b)

    monkeypatch.setattr(TrainingRun, "_train_step", small_gpu)
    fake_probe(monkeypatch)
    tab = make_tab()
    told: list[str] = []  # the banner right after the warning arrived (pages render first)
    tab.controller.event_received.connect(
        lambda e: (
            told.append(tab.training_page.banner.text())
            if isinstance(e, LogMessage) and e.level == "warning"
            else None
        )
    )
    choose_data(qtbot, tab, mini_data)
    tiny_recipe(tab)
    tab.recipe_page.set_value("epochs", 1)
    tab.recipe_page.set_value("limit_per_class", 3)  # 12 training images: 3 batches of 4
    with qtbot.waitSignal(tab.controller.training_ended, timeout=RUN_S):
        click(qtbot, tab.recipe_page.start_button)
    progress, page = tab.controller.progress, tab.training_page
    assert progress.failed is None and progress.finished is not None
    assert progress.batch_lowered and progress.batch_size == 4
    assert told and "training goes on with batch size 4" in told[0]  # told at once
    assert "went on with batch size 4" in page.banner.text()  # and again at the end
    assert "WARNING: out of memory at batch size 8" in page.log_text()
    assert {k: page.plots.points(k) for k in SERIES} == dict.fromkeys(SERIES, 1)
    assert tab.results_page.results is not None


@pytest.mark.gui
def test_out_of_memory_failure_says_what_to_change_and_retries_smaller(
    qtbot: Any, make_tab: Any, mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import controller

    fake_probe(monkeypatch)
    monkeypatch.setattr(
        controller,
        "_fit",
        _fake_fit(
            [
                FitFailed(
                    "run",
                    "OutOfMemoryError: CUDA out of memory. Tried to allocate 1.2 GiB",
                    "torch.OutOfMemoryError: CUDA out of memory (during validation)",
                    "out_of_memory",
                ),
            ]
        ),
    )
    tab = make_tab()
    choose_data(qtbot, tab, mini_data)
    tiny_recipe(tab)
    tab.recipe_page.set_value("batch_size", 16)
    with qtbot.waitSignal(tab.controller.training_ended, timeout=30_000):
        click(qtbot, tab.recipe_page.start_button)
    page = tab.training_page
    assert tab.controller.progress.out_of_memory
    assert "Lower the batch size to 8" in page.banner.text() and "300 px" in page.banner.text()
    assert page.retry_button.isVisible() and "8" in page.retry_button.text()

    monkeypatch.setattr(controller, "_fit", _fake_fit([FitFinished("run", False, False, [])]))
    with qtbot.waitSignal(tab.controller.training_ended, timeout=30_000):
        click(qtbot, page.retry_button)
    assert tab.recipe_page.value("batch_size") == 8
    assert tab.controller.progress.config["batch_size"] == 8

    # the engine already went down to batch size 2: no smaller batch to offer, other advice
    monkeypatch.setattr(
        controller,
        "_fit",
        _fake_fit(
            [
                BatchSizeChanged(4, 2, 1),
                LogMessage(
                    "out of memory at batch size 4: continuing with batch size 2, restarting "
                    "epoch 1 from the current weights",
                    "warning",
                ),
                FitFailed(
                    "run",
                    "TrainingOutOfMemory: out of memory at batch size 2 on GPU",
                    "Traceback ...",
                    "out_of_memory",
                ),
            ]
        ),
    )
    tab.go_to(1)
    with qtbot.waitSignal(tab.controller.training_ended, timeout=30_000):
        click(qtbot, tab.recipe_page.start_button)
    assert "Even batch size 2 does not fit" in page.banner.text()
    assert not page.retry_button.isVisible()


@pytest.mark.gui
def test_closing_during_training_stops_safely_and_waits(
    qtbot: Any, make_tab: Any, mini_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from desktop_app.training import controller

    fake_probe(monkeypatch)
    saved: list[bool] = []

    def endless_fit(
        cfg: Any, run_dir: Any, cancel: CancelToken, resume: bool = False, overrides: Any = None
    ) -> Iterator[object]:
        yield EpochStarted(1, 2, 1000, 1e-3)
        for b in range(1, 1001):
            time.sleep(0.01)
            yield BatchEnded(1, b, 1000, 1.0, 0.5, 100.0, 50.0, 1e-3)
            if cancel.cancelled:
                saved.append(True)  # the engine writes its resumable state here
                yield FitFinished(str(run_dir), True, False, [])
                return

    monkeypatch.setattr(controller, "_fit", endless_fit)
    tab = make_tab()
    choose_data(qtbot, tab, mini_data)
    tiny_recipe(tab)
    with qtbot.waitSignal(tab.controller.training_started, timeout=30_000):
        click(qtbot, tab.recipe_page.start_button)
    qtbot.waitUntil(lambda: tab.training_page.batch_bar.value() > 0, timeout=10_000)
    assert tab.is_training()
    assert tab.request_stop_and_wait(10_000)
    assert not tab.is_training() and saved == [True]
    assert tab.request_stop_and_wait(10)  # nothing to stop: at once
