"""The Keep step: notes saved in the model file's metadata, and the ONNX export of the kept
model (offscreen; the tiny model file stands in for a finished run's)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.test_onnx_export import assert_answers_alike

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("BRAINMRI_HOME", str(home))
    return home


def test_notes_go_into_the_model_file_and_onnx_export_answers_alike(
    qtbot: Any, tmp_path: Path, tiny_model_file: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from desktop_app.training.keep_page import QtKeepPage, note_lines
    from desktop_app.training.runs import load_results
    from trainer.modelfile import read_metadata

    run = tmp_path / "runs" / "run-1"
    run.mkdir(parents=True)
    shutil.copy(tiny_model_file, run / "model.safetensors")
    (run / "eval_test.json").write_text(json.dumps({"accuracy": 0.5, "n": 16}))

    page = QtKeepPage(registry=None)
    qtbot.addWidget(page)
    page.set_results(load_results(run))
    page.name_edit.setText("my model")
    page.notes_edit.setPlainText("trained for a class exercise\n\n  =not a formula  \n")
    assert note_lines(page.notes_edit.toPlainText()) == [
        "trained for a class exercise",
        "=not a formula",
    ]
    dest = tmp_path / "out" / "my model.onnx"
    with qtbot.waitSignal(page.onnx_exported, timeout=120_000):
        assert page.export_onnx(dest)
    kept = page.kept_path
    assert kept is not None and read_metadata(kept)["notes"] == [
        "trained for a class exercise",
        "=not a formula",
    ]
    assert dest.is_file() and json.loads(dest.with_suffix(".json").read_text())["notes"] == [
        "trained for a class exercise",
        "=not a formula",
    ]
    assert "Exported" in page.status_label.text()
    assert_answers_alike(dest, kept)
    assert not page.notes_edit.isEnabled()
    assert page.shutdown()
