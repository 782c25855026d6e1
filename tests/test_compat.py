"""Backward compatibility: a run folder an earlier brainmri wrote still reads back.

``tests/data/compat/run-20261203/`` is a real, finished run (``brainmri train`` on the mini
data set, copied to ``/tmp/brainmri-compat/mini`` first: backbone ``test_efficientnet``,
pretrained none, 32 px, batch 8, 2 epochs, workers 0), checked in as the trainer wrote it on
2026-12-03, before the run folder's files had one owner (trainer.train.run_folder.RunFolder). Left
out to keep it small: ``state.pt`` (2 MB of optimizer moments) and
``best_weights.safetensors`` (a finished run's best weights are in its model file). So the
folder is finished and not resumable.

Its predictions file holds absolute paths under ``/tmp/brainmri-compat/mini``, which does not
exist here: the readers must not depend on where the run was made.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from trainer.api import Predictor, RunFolder, read_grey, read_metadata
from trainer.evaluation import evaluate_model
from trainer.train.run_evaluation import evaluate_run

COMPAT = Path(__file__).resolve().parent / "data" / "compat" / "run-20261203"
MINI = Path(__file__).resolve().parent / "data" / "mini"
TRAINED_ON = "/tmp/brainmri-compat/mini"  # the run's data folder, as its recipe says
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
TEST_IMAGES = [
    "Testing/glioma/Te-glTr_0001.jpg",
    "Testing/glioma/Te-glTr_0002.jpg",
    "Testing/meningioma/Te-meTr_0000.jpg",
    "Testing/meningioma/Te-meTr_0001.jpg",
    "Testing/notumor/Te-noTr_0000.jpg",
    "Testing/pituitary/Te-piTr_0002.jpg",
    "Testing/pituitary/Te-piTr_0004.jpg",
    "Testing/pituitary/Te-piTr_0006.jpg",
]


@pytest.fixture
def run() -> RunFolder:
    return RunFolder(COMPAT)


def test_its_recipe_reads_back_checked(run: RunFolder) -> None:
    cfg = run.config()
    assert cfg.backbone == "test_efficientnet" and cfg.pretrained == "none"
    assert (cfg.img_size, cfg.batch_size, cfg.epochs, cfg.workers) == (32, 8, 2, 0)
    assert (cfg.split, cfg.optimizer, cfg.schedule, cfg.seed) == ("paper", "adamax", "none", 0)
    assert cfg.data == TRAINED_ON and cfg.cache is None
    assert cfg.head.hidden == 256 and cfg.head.dropout == pytest.approx(0.45)
    assert cfg.augment.hflip and cfg.augment.rotation_deg == pytest.approx(5.0)


def test_its_history_reads_back(run: RunFolder) -> None:
    history = run.history()
    assert [h["epoch"] for h in history] == [1.0, 2.0]
    assert [h["is_best"] for h in history] == [1.0, 0.0]
    assert history[0]["loss"] == pytest.approx(1.3431309064229329)
    assert history[1]["val_loss"] == pytest.approx(1.4034403562545776)
    assert all(h["val_accuracy"] == 0.125 and h["lr"] == 0.001 for h in history)


def test_its_metrics_and_report_read_back(run: RunFolder) -> None:
    test, val = run.metrics("test"), run.metrics("val")
    assert test is not None and val is not None
    assert test["n"] == 8 and test["accuracy"] == 0.375 and test["classes"] == CLASSES
    assert test["loss"] == pytest.approx(1.373572826385498)
    assert test["confusion_matrix"] == [[0, 0, 0, 2], [0, 0, 0, 2], [0, 0, 0, 1], [0, 0, 0, 3]]
    assert test["ood_flagged"] == 2 and test["failed_files"] == []
    assert test["dedup"]["n"] == 8 and len(test["dedup"]["paths"]) == 8
    assert test["per_class"]["pituitary"]["recall"] == 1.0
    assert val["n"] == 8 and val["accuracy"] == 0.125 and val["temperature"] == 20.0
    report = run.report_text()
    assert report.startswith("Test split: 8 images.") and "macro avg" in report
    assert "De-duplicated test list (8 images" in report


def test_it_is_finished_and_not_resumable(run: RunFolder, tmp_path: Path) -> None:
    assert run.is_run() and run.is_finished()
    assert not run.has_state() and not run.is_resumable()
    assert run.error_text() is None
    # without its model it is still not resumable: there is no saved state to resume from
    copy = RunFolder(tmp_path / "run")
    shutil.copytree(COMPAT, copy.path)
    copy.model_path.unlink()
    assert copy.is_run() and not copy.is_finished() and not copy.is_resumable()


def test_its_predictions_read_back_wherever_the_data_is_now(run: RunFolder) -> None:
    rows = run.predictions()
    assert len(rows) == 8 and not any(r.failed for r in rows)
    # as written: absolute paths where the run was made (not here)
    assert all(r.path.startswith(TRAINED_ON + "/") for r in rows)
    assert [r.relative_to(TRAINED_ON) for r in rows] == TEST_IMAGES
    assert [r.true for r in rows] == [p.split("/")[1] for p in TEST_IMAGES]
    assert {r.predicted for r in rows} == {"pituitary"}
    assert sum(r.true == r.predicted for r in rows) / len(rows) == 0.375  # eval_test.json's
    first = rows[0].probabilities
    assert list(first) == CLASSES
    assert first["pituitary"] == pytest.approx(0.250947) and first["glioma"] == 0.249787
    assert all(math.isclose(sum(r.probabilities.values()), 1.0, abs_tol=1e-5) for r in rows)
    # the data set moved: the rows follow it
    moved = run.predictions(data_root=MINI)
    assert [Path(r.path) for r in moved] == [MINI / p for p in TEST_IMAGES]
    assert all(Path(r.path).is_file() for r in moved)


def test_its_model_file_loads_and_predicts_as_the_run_did(run: RunFolder) -> None:
    meta = read_metadata(run.model_path)
    assert meta["backbone"] == "test_efficientnet" and meta["input_size"] == 32
    assert meta["classes"] == CLASSES and meta["name"] == "run-20261203"
    assert meta["metrics"]["test"]["accuracy"] == 0.375 and meta["metrics"]["best_epoch"] == 1
    predictor = Predictor(run.model_path, device="cpu")
    assert list(predictor.classes) == CLASSES
    rows = run.predictions(data_root=MINI)
    probs, _ = predictor.predict_arrays([read_grey(r.path) for r in rows])
    for r, p in zip(rows, probs, strict=True):
        assert CLASSES[int(p.argmax())] == r.predicted
        assert list(p) == pytest.approx([r.probabilities[c] for c in CLASSES], abs=1e-5)


def test_evaluating_it_again_gives_what_it_wrote(run: RunFolder) -> None:
    """The one evaluation pipeline, on the run's own split of the data (now elsewhere)."""
    result = evaluate_run(run, "test", data=MINI)
    written = run.metrics("test")
    assert written is not None
    assert result.metrics["accuracy"] == written["accuracy"]
    assert result.metrics["loss"] == pytest.approx(written["loss"], rel=1e-5)
    assert result.temperature == 20.0 and result.ood_flagged == written["ood_flagged"]
    again = result.prediction_rows()
    assert [r.relative_to(MINI) for r in again] == TEST_IMAGES
    for new, old in zip(again, run.predictions(), strict=True):
        assert new.predicted == old.predicted
        assert {c: round(v, 6) for c, v in new.probabilities.items()} == pytest.approx(
            old.probabilities, abs=2e-6
        )
    cli = evaluate_model(run.model_path, MINI, device="cpu", workers=0)
    assert cli["accuracy"] == written["accuracy"] and cli["n"] == 8
    assert cli["dedup"]["paths"] == written["dedup"]["paths"]


def test_the_app_reads_it_as_a_finished_run(run: RunFolder) -> None:
    from desktop_app.training.runs import load_results, resumable_info
    from desktop_app.training.state import RunProgress

    assert resumable_info(COMPAT) is None
    results = load_results(COMPAT)
    assert results.classes == CLASSES and results.model_path == run.model_path
    assert results.val is not None and results.val["accuracy"] == 0.125
    progress = RunProgress.from_run_dir(COMPAT)
    assert progress.epochs == 2 and progress.best_epoch == 1 and progress.config["img_size"] == 32
    assert progress.finished is not None and progress.finished.model_path == str(run.model_path)


def test_the_gallery_of_a_run_without_predictions_predicts_as_the_run_did(
    run: RunFolder, tmp_path: Path
) -> None:
    """A run folder with no predictions file (made before the trainer wrote one): the app
    predicts its test split through the trainer's evaluation pipeline and shows the same
    misclassified images, with the probabilities the run wrote."""
    from desktop_app.training.jobs import Misclassified, PredictionProgress, misclassified_images

    old = RunFolder(tmp_path / "run")
    shutil.copytree(COMPAT, old.path)
    old.predictions_path.unlink()
    config = json.loads(old.config_path.read_text())
    old.config_path.write_text(json.dumps({**config, "data": str(MINI)}))  # the data moved

    jobs = misclassified_images(old.path, thumbnail_px=16)
    shown, progress = [], []
    while True:
        try:
            item = next(jobs)
        except StopIteration as stop:
            summary = stop.value
            break
        (shown if isinstance(item, Misclassified) else progress).append(item)
    assert summary == {"test_images": 8, "misclassified": 5}
    assert any(isinstance(p, PredictionProgress) and p.message == "predicting" for p in progress)
    written = {r.relative_to(TRAINED_ON): r for r in run.predictions() if r.true != r.predicted}
    assert [Path(m.path).relative_to(MINI).as_posix() for m in shown] == list(written)
    for m, r in zip(shown, written.values(), strict=True):
        assert (m.true, m.predicted) == (r.true, r.predicted)
        assert m.confidence == pytest.approx(r.probabilities[r.predicted], abs=2e-6)
        assert m.thumbnail is not None and m.thumbnail.shape == (16, 16)
