"""Issue 23 in the app: a broken remembered model, a broken run folder.

The app starts, with the default model when the remembered one fails (said once in the
status bar), and lists a run folder whose settings are damaged as unreadable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QMessageBox
from test_errors_cli import nan_model

from desktop_app.main_window import QtMainWindow
from desktop_app.models import BUNDLED, QtModelRegistry
from desktop_app.settings import AppSettings
from desktop_app.workers import wait_for_all

WAIT_MS = 30_000


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_file: Path) -> Path:
    """A user folder and an assets folder whose default model is the tiny one."""
    monkeypatch.setenv("BRAINMRI_HOME", str(tmp_path / "home"))
    assets = tmp_path / "assets"
    (assets / "models").mkdir(parents=True)
    from trainer.assets import DEFAULT_MODEL_NAME

    shutil.copy(tiny_model_file, assets / "models" / DEFAULT_MODEL_NAME)
    monkeypatch.setenv("BRAINMRI_ASSETS", str(assets))
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    return tmp_path / "home"


def test_a_broken_remembered_model_falls_back_to_the_default(
    qtbot, home: Path, tiny_model_file: Path, tmp_path: Path
) -> None:
    bad = nan_model(tiny_model_file, tmp_path / "nan.safetensors")
    settings = AppSettings.in_file(tmp_path / "settings.ini")
    settings.model_files = [str(bad)]
    settings.active_model = str(bad)
    registry = QtModelRegistry(settings, device="cpu")
    win = QtMainWindow(registry, settings)
    qtbot.addWidget(win)
    fell_back: list[str] = []
    registry.fell_back.connect(lambda entry, message: fell_back.append(message))
    with qtbot.waitSignal(registry.active_model_changed, timeout=WAIT_MS) as loaded:
        registry.load_initial()
    assert loaded.args[0].origin == BUNDLED and registry.predictor is not None
    assert len(fell_back) == 1 and "default model" in fell_back[0]
    assert "NaN" in fell_back[0] and "Error" not in fell_back[0]
    assert "default model" in win.statusBar().currentMessage()
    assert "none" not in win.model_label.text()
    assert settings.active_model == ""  # next start: the default, nothing more to say
    assert wait_for_all(30.0)


def test_the_app_lists_a_damaged_run_folder_and_starts(qtbot, home: Path) -> None:
    from desktop_app.training.data_page import QtDataPage

    for name, epochs in (("bad", '"many"'), ("inf", "1e999"), ("list", "[3]")):
        run = home / "runs" / name
        run.mkdir(parents=True)
        (run / "state.pt").write_bytes(b"x")
        (run / "config.json").write_text(
            json.dumps({"backbone": "test_efficientnet"})[:-1] + f', "epochs": {epochs}}}',
            encoding="utf-8",
        )
    page = QtDataPage()  # the old code raised here, and the app exited with a traceback
    qtbot.addWidget(page)
    page.refresh_resumable()
    items = [page.resume_combo.itemText(k) for k in range(page.resume_combo.count())]
    assert len(items) == 3 and all("unreadable" in text for text in items)
    assert not page.resume_button.isEnabled()


def test_the_app_says_a_folder_holds_a_run_without_command_line_flags(
    qtbot, mini_data: Path, tmp_path: Path
) -> None:
    """The same failure the command line explains with --resume/--overwrite
    (tests/test_errors_runs.py): the app explains it in its own words."""
    from test_train_e2e import tiny_config

    from desktop_app.training.training_page import QtTrainingPage
    from trainer.api import fit

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}", encoding="utf-8")
    failed = list(fit(tiny_config(mini_data, epochs=1), run))[-1]
    page = QtTrainingPage()
    qtbot.addWidget(page)
    page.progress.run_dir = str(run)
    page.progress.update(failed)
    page.handle_event(failed)
    text = page.banner.text()
    assert "holds a training run already" in text
    assert "folder of its own" in text
    assert "--" not in text and "Error" not in text and "brainmri" not in text


def test_keep_says_a_full_disk_in_words(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: "Not saved: [Errno 28] No space left on device: '…'"."""
    import errno
    from types import SimpleNamespace

    from desktop_app.training import keep_page

    target = tmp_path / "models" / "mine"

    def full_disk(run_dir, name, models_dir, **_):
        raise OSError(errno.ENOSPC, "No space left on device", str(target / "model.safetensors"))

    monkeypatch.setattr(keep_page, "keep_model", full_disk)
    monkeypatch.setattr(keep_page, "user_models_dir", lambda: tmp_path / "models")
    page = keep_page.QtKeepPage(registry=None)
    qtbot.addWidget(page)
    page.results = SimpleNamespace(run_dir=tmp_path / "run")
    page.name_edit.setText("mine")
    assert page.save() is None
    text = page.status_label.text()
    assert "Not saved" in text and "the disk is full" in text and str(target) in text
    assert "Errno" not in text and "No space left" not in text


def test_keep_staging_folders_are_not_listed_as_models(
    qtbot, home: Path, tiny_model_file: Path, tmp_path: Path
) -> None:
    """The "Keep model" step stages into ``<models>/.<name>.XXXX.partial`` before renaming: a
    model list read meanwhile (or after a crash) must not offer that half-made copy."""
    from trainer.api import user_models_dir

    models = user_models_dir()
    for folder in ("mine", ".other.k3j2.partial", ".hidden", "mine/.cache"):
        (models / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_model_file, models / folder / "model.safetensors")
    shutil.copy(tiny_model_file, models / "mine" / ".model.safetensors.tmp.safetensors")
    registry = QtModelRegistry(AppSettings.in_file(tmp_path / "s.ini"), device="cpu")
    users = [e.path for e in registry.models() if e.origin == "user"]
    assert users == [models / "mine" / "model.safetensors"]
    assert registry.skipped == []  # left out by rule, not skipped as unreadable


def test_skipped_settings_and_models_are_listed_in_a_notice(
    qtbot, home: Path, tiny_model_file: Path, tmp_path: Path
) -> None:
    """Before: each was only logged (at INFO); the user was never told."""
    from PySide6.QtCore import Qt

    from desktop_app.skipped import QtSkippedDialog
    from trainer.api import user_models_dir

    (user_models_dir() / "broken").mkdir(parents=True)
    (user_models_dir() / "broken" / "model.safetensors").write_bytes(b"\x00garbage" * 40)
    settings = AppSettings.in_file(tmp_path / "settings.ini")
    settings.store.setValue("display/opacity", "lots")
    settings.store.setValue("display/cam_method", "<b>evil</b>")
    settings.store.setValue("window/geometry", "not a geometry")
    gone = tmp_path / "gone.safetensors"
    settings.model_files = [str(gone)]
    registry = QtModelRegistry(settings, device="cpu")
    win = QtMainWindow(registry, settings)
    qtbot.addWidget(win)
    button = win.skipped_button
    assert not button.isHidden() and button.text() == "5 items skipped — show"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = win.findChild(QtSkippedDialog)
    assert dialog is not None and dialog.isVisible()
    rows = dialog.rows()
    assert len(rows) == 5
    text = "\n".join(f"{what} | {why}" for what, why in rows)
    for expected in ("Opacity", "Method", "Window", "broken", str(gone), "lots"):
        assert expected in text, text
    assert "Error" not in text and "Traceback" not in text and "--" not in text
    assert all(why for _, why in rows)
    dialog.close()

    # a setting saved again is no longer skipped; nothing skipped: no button
    settings.opacity = 0.5
    settings.cam_method = ""
    settings.geometry = win.saveGeometry()
    settings.model_files = []
    (user_models_dir() / "broken" / "model.safetensors").unlink()
    registry.refresh()
    assert button.isHidden()
