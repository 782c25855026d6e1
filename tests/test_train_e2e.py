"""End to end on real images: train, every output, evaluate, resume, DDP, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from trainer.cli.main import main as cli
from trainer.config import preset_config
from trainer.modelfile import load_model_file, read_metadata
from trainer.train.engine import fit
from trainer.train.events import (
    BatchEnded,
    BatchSizeChanged,
    CancelToken,
    FileSkipped,
    FitFinished,
    LogMessage,
    RunStarted,
)

RUN_OUTPUTS = (
    "model.safetensors",
    "state.pt",
    "config.json",
    "history.csv",
    "history.json",
    "curves.png",
    "augmented_batch.png",
    "confusion_matrix.png",
    "classification_report.txt",
    "eval_test.json",
    "eval_val.json",
    "predictions_test.csv",
)
TINY_ARGS = [
    "--preset",
    "paper",
    "--backbone",
    "test_efficientnet",
    "--pretrained",
    "none",
    "--img-size",
    "48",
    "--batch-size",
    "8",
    "--workers",
    "0",
    "--quiet",
]


def evaluate_json(run: Path, data: Path, capsys, dedup: bool = True) -> dict:
    """``brainmri evaluate --json`` on a run's model; returns the parsed result."""
    args = ["evaluate", "--model", str(run / "model.safetensors"), "--data", str(data), "--json"]
    assert cli(args if dedup else [*args, "--no-dedup"]) == 0
    return json.loads(capsys.readouterr().out)


def tiny_config(data: Path, epochs: int = 2):
    return preset_config(
        "paper",
        data=str(data),
        backbone="test_efficientnet",
        pretrained="none",
        img_size=48,
        batch_size=8,
        workers=0,
        epochs=epochs,
    )


def test_cli_train_writes_every_output_and_evaluates(mini_data: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    assert (
        cli(["train", "--data", str(mini_data), "--epochs", "2", "--out", str(run), *TINY_ARGS])
        == 0
    )
    out = capsys.readouterr().out
    assert "epoch   1/2" in out and "epoch   2/2" in out and "val_acc" in out
    assert "trainable parameters" in out  # the parameter table
    for name in RUN_OUTPUTS:
        assert (run / name).is_file(), name
    history = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    report = json.loads((run / "eval_test.json").read_text())
    assert report["n"] == 8 and len(report["confusion_matrix"]) == 4
    assert {"precision", "recall", "f1", "support"} <= set(report["per_class"]["glioma"])
    assert "macro avg" in (run / "classification_report.txt").read_text()

    meta = read_metadata(run / "model.safetensors")
    assert meta["backbone"] == "test_efficientnet" and meta["input_size"] == 48
    assert meta["classes"] == ["glioma", "meningioma", "notumor", "pituitary"]
    assert meta["data"]["fingerprint"].startswith("files-sha256:")
    assert meta["metrics"]["test"]["accuracy"] == pytest.approx(report["accuracy"])
    assert "ood" in meta and meta["temperature"] > 0
    loaded = load_model_file(run / "model.safetensors")
    assert loaded.ood is not None

    evaluated = evaluate_json(run, mini_data, capsys, dedup=False)
    assert evaluated["accuracy"] == pytest.approx(report["accuracy"])
    assert evaluated["loss"] == pytest.approx(report["loss"], rel=1e-4)
    # the de-duplicated test list: evaluate finds the same one as training did
    with_dedup = evaluate_json(run, mini_data, capsys, dedup=True)
    assert with_dedup["dedup"]["paths"] == report["dedup"]["paths"]
    assert with_dedup["dedup"]["accuracy"] == pytest.approx(report["dedup"]["accuracy"])
    assert cli(["info", str(run / "model.safetensors")]) == 0
    assert "test_efficientnet" in capsys.readouterr().out


def _drive(events) -> list:
    return list(events)


def test_interrupt_and_resume_equals_uninterrupted(mini_data: Path, tmp_path: Path):
    full = tmp_path / "full"
    done = _drive(fit(tiny_config(mini_data), full))
    assert isinstance(done[-1], FitFinished) and not done[-1].cancelled

    part = tmp_path / "part"
    cancel = CancelToken()
    seen = 0
    for ev in fit(tiny_config(mini_data), part, cancel):
        if isinstance(ev, BatchEnded):
            seen += 1
            if seen == 4:  # mid-epoch 2 (3 batches per epoch)
                cancel.cancel()
        last = ev
    assert isinstance(last, FitFinished) and last.cancelled
    assert not (part / "model.safetensors").exists()
    resumed = _drive(fit(None, part, resume=True))
    assert isinstance(resumed[-1], FitFinished) and not resumed[-1].cancelled

    a = load_file(str(full / "model.safetensors"))
    b = load_file(str(part / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ha = json.loads((full / "history.json").read_text())
    hb = json.loads((part / "history.json").read_text())
    for x, y in zip(ha, hb, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert x[key] == pytest.approx(y[key], abs=1e-9), key


def test_other_threads_drawing_random_numbers_do_not_change_a_run(mini_data: Path, tmp_path):
    """The run owns its generators: a thread hammering torch's process-wide generator (as a
    viewer, a speed probe or any library in the same app may) changes nothing, whether the
    run goes straight through or is stopped and resumed."""
    import threading

    def noisy(events):
        stop = threading.Event()

        def draw() -> None:
            while not stop.is_set():
                torch.rand(64)
                time.sleep(0.0005)  # often, but leaving the interpreter to the run

        thread = threading.Thread(target=draw, daemon=True)
        try:
            for ev in events:
                if isinstance(ev, RunStarted):
                    thread.start()  # the model is built: from here on the run trains
                yield ev
        finally:
            stop.set()
            if thread.is_alive():
                thread.join()

    quiet = tmp_path / "quiet"
    _drive(fit(tiny_config(mini_data), quiet))
    loud = tmp_path / "loud"
    cancel = CancelToken()
    seen = 0
    for ev in noisy(fit(tiny_config(mini_data), loud, cancel)):
        if isinstance(ev, BatchEnded):
            seen += 1
            if seen == 4:
                cancel.cancel()
    assert list(noisy(fit(None, loud, resume=True)))[-1].cancelled is False
    a = load_file(str(quiet / "model.safetensors"))
    b = load_file(str(loud / "model.safetensors"))
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_broken_files_are_skipped_with_their_path(mini_data: Path, tmp_path: Path):
    glioma = mini_data / "Training" / "glioma"
    (glioma / "empty.jpg").write_bytes(b"")
    good = next(glioma.glob("*.jpg")).read_bytes()
    (glioma / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (glioma / "notes.txt").write_text("not an image")
    events = _drive(fit(tiny_config(mini_data, epochs=1), tmp_path / "run"))
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    for name in ("empty.jpg", "truncated.jpg", "notes.txt"):
        assert any(name in w for w in warnings), name
    skipped = {e.rel for e in events if isinstance(e, FileSkipped)}
    assert {"Training/glioma/empty.jpg", "Training/glioma/truncated.jpg"} <= skipped
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled
    counts = read_metadata(tmp_path / "run" / "model.safetensors")["data"]["counts"]
    assert counts["train"]["glioma"] == 6


def test_a_file_that_breaks_mid_run_is_reported_and_keeps_its_row(mini_data: Path, tmp_path):
    """Checked up front, then damaged while the run trains: a typed event, the run goes on,
    and the test predictions keep one row per test file (the broken one marked failed)."""
    import csv

    train_file = sorted((mini_data / "Training" / "glioma").glob("*.jpg"))[0]
    test_file = sorted((mini_data / "Testing" / "pituitary").glob("*.jpg"))[0]
    events = []
    for ev in fit(tiny_config(mini_data, epochs=1), tmp_path / "run"):
        events.append(ev)
        if isinstance(ev, RunStarted):  # after the up-front check
            for f in (train_file, test_file):
                f.write_bytes(f.read_bytes()[:200])
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled, events[-1]
    skipped = {e.rel for e in events if isinstance(e, FileSkipped)}
    assert f"Training/glioma/{train_file.name}" in skipped
    assert f"Testing/pituitary/{test_file.name}" in skipped
    with open(tmp_path / "run" / "predictions_test.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 8  # every test file keeps its row, in the split's order
    failed = [r for r in rows if r["predicted"] == "failed"]
    assert [Path(r["path"]).name for r in failed] == [test_file.name] and failed[0]["error"]
    report = json.loads((tmp_path / "run" / "eval_test.json").read_text())
    assert report["n"] == 7 and report["failed_files"] == [f"Testing/pituitary/{test_file.name}"]


def test_cache_path_end_to_end(mini_data: Path, tmp_path: Path, capsys):
    """prepare -> train from the cache -> evaluate on the original files and on the cache:
    the path a GPU run depends on."""
    cache = tmp_path / "cache.safetensors"
    assert (
        cli(
            [
                "prepare",
                "--data",
                str(mini_data),
                "--img-size",
                "48",
                "--out",
                str(cache),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    capsys.readouterr()
    run = tmp_path / "run"
    args = [
        "train",
        "--cache",
        str(cache),
        "--data",
        str(mini_data),
        "--epochs",
        "1",
        "--out",
        str(run),
        *TINY_ARGS,
    ]
    assert cli(args) == 0
    meta = read_metadata(run / "model.safetensors")
    assert meta["data"]["fingerprint"].startswith("cache-squares:")
    assert meta["data"]["counts"]["train"]["glioma"] == 6
    capsys.readouterr()
    on_files = evaluate_json(run, mini_data, capsys)
    assert on_files["n"] == 8 and on_files["dedup"]["paths"]
    base = ["evaluate", "--model", str(run / "model.safetensors"), "--json"]
    assert cli([*base, "--cache", str(cache), "--data", str(mini_data)]) == 0
    on_cache = json.loads(capsys.readouterr().out)
    assert on_cache["n"] == 8
    report = json.loads((run / "eval_test.json").read_text())
    assert on_cache["accuracy"] == pytest.approx(report["accuracy"])  # the squares it saw


def test_torchrun_two_cpu_processes(mini_data: Path, tmp_path: Path, capsys):
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29531",
        "-m",
        "trainer",
        "train",
        "--data",
        str(mini_data),
        "--epochs",
        "1",
        "--out",
        str(run),
        "--device",
        "cpu",
        *TINY_ARGS,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("epoch   1/1") == 1  # rank 0 alone reports
    report = json.loads((run / "eval_test.json").read_text())
    # the metrics rank 0 wrote are what a single process computes from the checkpoint
    single = evaluate_json(run, mini_data, capsys, dedup=False)
    assert single["accuracy"] == pytest.approx(report["accuracy"])
    assert single["loss"] == pytest.approx(report["loss"], rel=1e-4)
    assert single["confusion_matrix"] == report["confusion_matrix"]


@pytest.mark.shared_data
@pytest.mark.slow
def test_issue_done_command_on_the_shared_data(shared_data: Path, tmp_path: Path):
    """The issue's definition of done, verbatim (B3, 96 px, 20 images per class, 1 epoch)."""
    run = tmp_path / "run"
    code = cli(
        [
            "train",
            "--data",
            str(shared_data),
            "--preset",
            "paper",
            "--pretrained",
            "none",
            "--epochs",
            "1",
            "--limit-per-class",
            "20",
            "--img-size",
            "96",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert code == 0
    for name in RUN_OUTPUTS:
        assert (run / name).is_file(), name


def test_out_of_memory_halves_the_batch_and_goes_on(mini_data: Path, tmp_path: Path, monkeypatch):
    from trainer.train.engine import TrainingRun

    real_step = TrainingRun._train_step
    calls = {"n": 0}

    def flaky_step(self, x, y, epoch, b):
        calls["n"] += 1
        if calls["n"] == 2 and self.cfg.batch_size == 8:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_step(self, x, y, epoch, b)

    monkeypatch.setattr(TrainingRun, "_train_step", flaky_step)
    events = _drive(fit(tiny_config(mini_data, epochs=1), tmp_path / "run"))
    warnings = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert any("batch size 4" in w for w in warnings)
    assert [e for e in events if isinstance(e, BatchSizeChanged)] == [BatchSizeChanged(8, 4, 1)]
    assert isinstance(events[-1], FitFinished) and not events[-1].cancelled
    assert json.loads((tmp_path / "run" / "config.json").read_text())["batch_size"] == 4


def test_ood_statistics_from_a_random_subset_of_training(mini_data, tmp_path, monkeypatch):
    import trainer.train.finalize as finalize

    monkeypatch.setattr(finalize, "OOD_TRAIN_LIMIT", 10)
    seen = {}
    real_fit = finalize.fit_ood

    def spy(emb, labels, n_classes, val_emb=None):
        seen["labels"] = labels
        return real_fit(emb, labels, n_classes, val_emb)

    monkeypatch.setattr(finalize, "fit_ood", spy)
    events = _drive(fit(tiny_config(mini_data, epochs=1), tmp_path / "run"))
    assert isinstance(events[-1], FitFinished)
    assert len(seen["labels"]) == 10
    assert len(set(seen["labels"].tolist())) > 1  # not just the first class of the sorted split
    assert load_model_file(tmp_path / "run" / "model.safetensors").ood is not None


def test_ctrl_c_saves_a_resumable_state(mini_data: Path, tmp_path: Path):
    import signal
    import time

    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "trainer",
        "train",
        "--data",
        str(mini_data),
        "--epochs",
        "50",
        "--out",
        str(run),
        *TINY_ARGS,
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # wait until the loop runs, then press Ctrl-C
        lines.append(line)
        if "val_acc" in line or time.monotonic() > deadline:
            proc.send_signal(signal.SIGINT)
            break
    out = "".join(lines) + proc.communicate(timeout=300)[0]
    assert proc.returncode == 3, out[-2000:]
    assert "resume with" in out and (run / "state.pt").is_file()
    assert not (run / "model.safetensors").exists()
    saved = torch.load(run / "state.pt", weights_only=True)
    assert saved["epoch"] >= 2  # at least one whole epoch was kept
