"""The wizard's "Reproduce the default model": the model card's recipe, every value shown under
Advanced, frozen stages and early stopping reaching the engine (a toy run stands in)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_gui_training import (  # noqa: F401 (fixtures)
    RUN_S,
    choose_data,
    fake_probe,
    make_tab,
    record_events,
    user_home,
)
from trainer.train.events import FitFinished, LogMessage, RunStarted
from trainer.train.recipes import DEFAULT_MODEL_RECIPE

pytestmark = pytest.mark.gui


def test_reproduce_recipe_sets_the_model_cards_values(qtbot: Any, make_tab: Any) -> None:  # noqa: F811
    tab = make_tab()
    page = tab.recipe_page
    page.apply_preset(DEFAULT_MODEL_RECIPE.key)
    assert page.preset() == DEFAULT_MODEL_RECIPE.preset
    assert page.preset_note.text() == DEFAULT_MODEL_RECIPE.note()
    got = page.config("", tab.data_page.split_spec()).to_dict()
    want = DEFAULT_MODEL_RECIPE.config().to_dict()
    for key in ("data", "split", "val_fraction", "test_fraction", "split_files"):
        got.pop(key), want.pop(key)
    assert got == want
    # every value the recipe changes is a field under Advanced (or the basic box)
    for key, value in DEFAULT_MODEL_RECIPE.settings:
        assert page.value(key) == value, key
    assert page.value("schedule") == "onecycle"
    # changing a value there changes the recipe that trains
    page.set_value("freeze_stages", 3)
    assert page.config("", tab.data_page.split_spec()).freeze_stages == 3
    page.set_value("early_stopping_patience", 2)
    assert page.config("", tab.data_page.split_spec()).early_stopping_patience == 2
    page.set_value("early_stopping_patience", 0)
    assert page.config("", tab.data_page.split_spec()).early_stopping_patience is None


def test_frozen_stages_and_early_stopping_reach_the_engine(
    qtbot: Any,
    make_tab: Any,  # noqa: F811 (the wizard's fixture, imported above)
    mini_data: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_probe(monkeypatch)
    tab = make_tab()
    events = record_events(tab)
    choose_data(qtbot, tab, mini_data)
    tab.go_to(1)
    page = tab.recipe_page
    page.apply_preset(DEFAULT_MODEL_RECIPE.key)
    toy = {
        "backbone": "test_efficientnet",
        "pretrained": "none",
        "img_size": 32,
        "batch_size": 8,
        "epochs": 6,
        "workers": 0,
        "device": "cpu",
        "lr": 1.0,  # a step far too large: validation stops improving at once
        "early_stopping_patience": 1,
    }
    for key, value in toy.items():
        page.set_value(key, value)
    with qtbot.waitSignal(tab.controller.training_ended, timeout=RUN_S):
        page.start_button.click()
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.config["freeze_stages"] == 2 and started.config["seed"] == 1
    assert started.config["early_stopping_patience"] == 1
    assert any(isinstance(e, LogMessage) and "stages 0-1 frozen" in e.message for e in events), (
        "the engine froze the stem and stages 0-1"
    )
    finished = next(e for e in events if isinstance(e, FitFinished))
    assert finished.stopped_early and len(finished.history) < 6


def test_the_accuracy_axis_zooms_to_the_curves_and_the_loss_gap_is_explained() -> None:
    from desktop_app.training.state import accuracy_range, loss_gap_note

    assert accuracy_range([0.97, 0.99, 1.0]) == (0.95, 1.0)
    assert accuracy_range([0.31, 0.6]) == (0.3, 1.0)
    assert accuracy_range([]) == (0.0, 1.0)
    note = loss_gap_note(DEFAULT_MODEL_RECIPE.config().to_dict())
    assert "label smoothing" in note and "dropout" in note and "mirrored" in note
    bare = DEFAULT_MODEL_RECIPE.config()
    bare.label_smoothing = 0.0
    assert "label smoothing" not in loss_gap_note(bare.to_dict())


def test_the_data_step_shows_slices_per_class_and_near_duplicate_pairs(
    qtbot: Any,
    make_tab: Any,  # noqa: F811 (the wizard's fixture, imported above)
    mini_data: Path,
) -> None:
    import shutil

    from desktop_app.training.data_preview import PER_CLASS

    shutil.copy(
        mini_data / "Testing" / "glioma" / "Te-glTr_0000.jpg",
        mini_data / "Training" / "glioma" / "a-twin.jpg",
    )
    tab = make_tab()
    choose_data(qtbot, tab, mini_data)
    preview = tab.data_page.pictures
    qtbot.waitUntil(lambda: not preview._worker.is_running, timeout=60_000)
    qtbot.waitUntil(lambda: preview.pair_count() >= 1, timeout=10_000)
    assert preview.sample_count() == 4 * PER_CLASS
    assert preview.samples_box.isVisibleTo(tab) and preview.pairs_box.isVisibleTo(tab)
    first = preview.pairs_grid.itemAtPosition(0, 2).widget().text()
    assert "a-twin.jpg" in first and "Te-glTr_0000.jpg" in first  # across folders first
