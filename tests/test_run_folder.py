"""trainer.train.run_folder.RunFolder: its readers, its predictions table, its checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainer.errors import RunFolderError
from trainer.prediction_row import RunPrediction
from trainer.train.run_folder import (
    CHECKPOINT_FILES,
    RUN_OUTPUTS,
    Checkpoint,
    RunFolder,
    prediction_table,
    read_prediction_table,
)

CLASSES = ("glioma", "notumor")


def test_every_name_is_distinct_and_a_plain_file_name() -> None:
    assert len(set(RUN_OUTPUTS)) == len(RUN_OUTPUTS)
    assert set(CHECKPOINT_FILES) <= set(RUN_OUTPUTS)
    assert all("/" not in name and "\\" not in name for name in RUN_OUTPUTS)


def test_the_predictions_table_reads_back_as_written(tmp_path: Path) -> None:
    rows = [
        RunPrediction(
            "/data/a b/=evil.jpg", "glioma", "notumor", {"glioma": 0.25, "notumor": 0.75}
        ),
        RunPrediction("/data/broken.jpg", "notumor", "failed", {}, "truncated JPEG"),
    ]
    text = prediction_table(rows, CLASSES)
    assert text.splitlines()[0] == "path,true,predicted,p_glioma,p_notumor,error"
    assert "0.750000" in text and ",failed,,,truncated JPEG" in text
    run = RunFolder(tmp_path)
    run.write_predictions(rows, CLASSES)
    assert run.has_predictions()
    back = run.predictions()
    assert back == rows  # the formula guard of the path cell is undone
    assert back[1].failed and not back[0].failed


def test_a_damaged_or_missing_predictions_table(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    with pytest.raises(FileNotFoundError):
        run.predictions()
    run.predictions_path.write_text("path,true,predicted,p_glioma\nx,glioma,glioma,not-a-number\n")
    with pytest.raises(RunFolderError, match="damaged"):
        run.predictions()
    run.predictions_path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(RunFolderError):
        read_prediction_table(run.predictions_path)


def test_paths_written_on_another_computer_are_moved_as_text() -> None:
    posix = RunPrediction("/old/data/Testing/glioma/1.jpg", "glioma", "glioma")
    assert posix.relative_to("/old/data") == "Testing/glioma/1.jpg"
    assert posix.relative_to("/elsewhere") is None
    assert posix.moved_to("/elsewhere", "/new") == posix
    assert Path(posix.moved_to("/old/data", "/new").path) == Path("/new/Testing/glioma/1.jpg")
    windows = RunPrediction(r"C:\Users\me\data\Testing\glioma\1.jpg", "glioma", "glioma")
    assert windows.relative_to(r"C:\Users\me\data") == "Testing/glioma/1.jpg"


def test_what_the_app_only_shows_reads_leniently(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    assert run.history() == [] and run.metrics("test") is None and run.report_text() == ""
    run.history_path.write_text('[{"epoch": 1, "loss": 0.5}, {"no": 1}, 3]')
    assert run.history() == [{"epoch": 1, "loss": 0.5}]
    run.history_path.write_text("{not json")
    run.metrics_path("test").write_text("[1, 2]")
    assert run.history() == [] and run.metrics("test") is None
    with pytest.raises(ValueError):
        run.metrics_path("train")
    # what a run acts on is checked, never lenient
    run.config_path.write_text(json.dumps({"backbone": "hf-hub:attacker/evil"}))
    with pytest.raises(RunFolderError):
        run.config()


def test_a_checkpoint_round_trips_through_state_pt(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    saved = Checkpoint(
        model=model.state_dict(),
        optimizer=opt.state_dict(),
        scheduler={},
        scaler={},
        epoch=3,
        next_batch=7,
        progress=[1.5, 0.25, 4.0, 8.0],
        history=[{"epoch": 1.0, "loss": 0.9}, {"epoch": 2.0, "loss": 0.7}],
        best=(2, 0.75, 0.6),
        elapsed_s=12.5,
        stale_epochs=0,
    )
    run = RunFolder(tmp_path)
    run.save_checkpoint(saved)
    assert run.has_state() and run.is_resumable() and not run.is_finished()
    raw = torch.load(run.state_path, weights_only=True)  # the format of every earlier version
    assert list(raw) == [
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "epoch",
        "next_batch",
        "progress",
        "history",
        "best",
        "elapsed_s",
        "stale_epochs",
    ]
    assert raw["best"] == [2, 0.75, 0.6]
    back = run.load_checkpoint("cpu", epochs=5)
    assert (back.epoch, back.next_batch, back.best, back.elapsed_s) == (3, 7, (2, 0.75, 0.6), 12.5)
    assert back.history == saved.history and back.progress == saved.progress
    assert torch.equal(back.model["weight"], model.state_dict()["weight"])
    with pytest.raises(RunFolderError, match="epoch"):
        run.load_checkpoint("cpu", epochs=1)  # a recipe of 1 epoch cannot be at epoch 3

    other = torch.nn.Linear(3, 2)
    assert not run.load_best_weights(other, "cpu")
    run.save_best_weights(model)
    assert run.load_best_weights(other, "cpu")
    assert torch.equal(other.weight, model.weight)


def test_leftovers_of_a_killed_run_are_cleaned(tmp_path: Path) -> None:
    run = RunFolder(tmp_path)
    run.write_error("Traceback …")
    (tmp_path / ".state.pt.abc123.pt.tmp").write_bytes(b"half")
    assert run.error_text() == "Traceback …"
    run.clean_leftovers()
    assert run.error_text() is None and not list(tmp_path.glob(".*.tmp"))
