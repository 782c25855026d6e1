"""Issue 23: run folders are untrusted input, used by one training at a time, and a kept
model is complete or absent.

A run folder with a bad ``config.json`` or ``state.pt``, two trainings into one folder, a
stale lock, a new run onto an old one, two "Keep model" under one name at once.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.errors import RunFolderError
from trainer.train.run_folder import check_state, read_run_config, read_state

BAD_EPOCHS = ['"many"', "1e999", "[3]", "-2", "true"]


def _run_folder(root: Path, name: str, config_text: str) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "state.pt").write_bytes(b"not a real state")
    (run / "config.json").write_text(config_text, encoding="utf-8")
    return run


def test_a_bad_run_folder_is_listed_as_unreadable_never_fatal(tmp_path: Path) -> None:
    from desktop_app.training.runs import resumable_info, resumable_runs

    good = json.dumps({"backbone": "test_efficientnet", "epochs": 3, "data": "d"})
    _run_folder(tmp_path, "good", good)
    for k, epochs in enumerate(BAD_EPOCHS):
        _run_folder(tmp_path, f"bad{k}", good.replace('"epochs": 3', f'"epochs": {epochs}'))
    _run_folder(tmp_path, "hub", good.replace("test_efficientnet", "hf-hub:attacker/evil"))
    _run_folder(tmp_path, "garbage", "\xff{[")
    runs = resumable_runs(tmp_path)  # the old code raised here: the app did not start
    by_name = {r.path.name: r for r in runs}
    assert by_name["good"].can_resume and by_name["good"].epochs == 3
    unreadable = [r for r in runs if not r.can_resume]
    assert len(unreadable) == len(BAD_EPOCHS) + 2
    assert all("unreadable" in r.describe() for r in unreadable)
    assert "epochs" in by_name["bad0"].describe() and "backbone" in by_name["hub"].describe()
    assert resumable_info(tmp_path / "hub").problem is not None


def test_the_config_reader_applies_the_model_file_rules(tmp_path: Path) -> None:
    from trainer.config import TrainConfig

    base = TrainConfig(data="d", backbone="test_efficientnet").to_dict()
    run = tmp_path / "run"
    run.mkdir()
    bad_values = {
        "backbone": "hf-hub:attacker/evil-model",
        "pretrained": "hf-hub:attacker/weights",
        "lr": float("nan"),
        "img_size": 40000,
        "batch_size": 0,
        "optimizer": "os.system",
        "head": {"hidden": -1},
        "augment": {"rotation_deg": "x"},
    }
    for key, value in bad_values.items():
        (run / "config.json").write_text(json.dumps({**base, key: value}), encoding="utf-8")
        with pytest.raises(RunFolderError, match=key.split("_")[0]):
            read_run_config(run)
    (run / "config.json").write_text(json.dumps(base), encoding="utf-8")
    assert read_run_config(run) == TrainConfig.from_dict(base)


def test_a_resume_of_a_hub_backbone_fails_in_one_line_without_the_network(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainer.cli.main import main as cli

    def no_network(*args, **kwargs):
        raise AssertionError("the hub was contacted")

    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    config = json.dumps({"backbone": "hf-hub:attacker/evil", "epochs": 2, "data": "d"})
    run = _run_folder(tmp_path, "run", config)
    assert cli(["train", "--resume", str(run), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "backbone" in err and "Traceback" not in err
    assert not (run / "error.txt").exists()


def _state(**changes) -> dict:
    state = {
        "model": {},
        "optimizer": {},
        "epoch": 2,
        "next_batch": 0,
        "progress": [0.0, 0.0, 0.0, 0.0],
        "history": [{"epoch": 1.0}],
        "best": [1, 0.5, 1.0],
        "elapsed_s": 3.0,
        "stale_epochs": 0,
    }
    return {**state, **changes}


def test_a_saved_state_is_checked(tmp_path: Path) -> None:
    check_state(_state(), "state.pt", epochs=3)
    for change in (
        {"epoch": -2},
        {"epoch": 0},
        {"epoch": 9},
        {"next_batch": -1},
        {"elapsed_s": float("nan")},
        {"best": [-1, 0.5, 1.0]},
        {"progress": "x"},
    ):
        with pytest.raises(RunFolderError):
            check_state(_state(**change), "state.pt", epochs=3)

    class Payload:  # what an attacker's state.pt would run with weights_only=False
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    hostile = tmp_path / "state.pt"
    hostile.write_bytes(pickle.dumps({"model": Payload()}, protocol=2))
    with pytest.raises(RunFolderError) as caught:
        read_state(hostile, "cpu", 3)
    assert "weights_only" not in str(caught.value) and str(hostile) in str(caught.value)


def test_one_training_per_run_folder(mini_data: Path, tmp_path: Path) -> None:
    """Two trainings into one folder, a resume of a run in progress, a new run onto an old
    one, a stale lock, a state at epoch -2: each refused or handled, nothing mixed."""
    from test_train_e2e import tiny_config

    from trainer.train.engine import fit
    from trainer.train.events import BatchEnded, CancelToken, FitFailed, FitFinished
    from trainer.train.run_lock import LOCK_FILE

    run = tmp_path / "run"
    cancel = CancelToken()
    first = fit(tiny_config(mini_data, epochs=1), run, cancel)
    for event in first:  # the first run is training (and holds the lock)
        if isinstance(event, BatchEnded):
            break
    config_before = (run / "config.json").read_bytes()
    for second in (
        lambda: fit(tiny_config(mini_data, epochs=1), run),
        lambda: fit(None, run, resume=True),
        lambda: fit(tiny_config(mini_data, epochs=1), run, overwrite=True),
    ):
        events = list(second())
        assert isinstance(events[-1], FitFailed), events[-1]
        assert "another training is using this run folder" in events[-1].error
    assert (run / "config.json").read_bytes() == config_before
    cancel.cancel()
    last = list(first)[-1]
    assert isinstance(last, FitFinished) and last.cancelled
    assert not (run / LOCK_FILE).exists()  # released

    # a new run onto an old one is refused unless asked to overwrite
    events = list(fit(tiny_config(mini_data, epochs=1), run))
    assert isinstance(events[-1], FitFailed) and "holds a training run" in events[-1].error
    assert (run / "state.pt").is_file() and not (run / "error.txt").exists()

    # a state at epoch -2 (edited, or from elsewhere) is refused, not trained from -2
    state = torch.load(run / "state.pt", weights_only=True)
    torch.save({**state, "epoch": -2}, run / "state.pt")
    events = list(fit(None, run, resume=True))
    assert isinstance(events[-1], FitFailed) and "epoch" in events[-1].error
    torch.save(state, run / "state.pt")

    # a lock left by a killed run on this computer is stale: resuming goes on
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = {"pid": dead.pid, "host": socket.gethostname(), "started": "x", "token": "t"}
    (run / LOCK_FILE).write_text(json.dumps(owner), encoding="utf-8")
    resumed = list(fit(None, run, resume=True))
    assert isinstance(resumed[-1], FitFinished) and not resumed[-1].cancelled, resumed[-1]
    assert (run / "model.safetensors").is_file() and not (run / LOCK_FILE).exists()

    # a lock from another computer cannot be checked: refused, naming the lock file
    (run / LOCK_FILE).write_text(json.dumps({**owner, "host": "elsewhere"}), encoding="utf-8")
    events = list(fit(None, run, resume=True))
    assert isinstance(events[-1], FitFailed) and str(run / LOCK_FILE) in events[-1].error


def _finished_run(root: Path, model: Path) -> Path:
    run = root / "run"
    run.mkdir()
    shutil.copy(model, run / "model.safetensors")
    for name in ("history.json", "eval_test.json", "curves.png"):
        (run / name).write_text("{}", encoding="utf-8")
    return run


def test_two_keeps_under_one_name_give_one_complete_model(
    tiny_model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second keep starts while the first is half-way: before, both shared one
    ``.partial`` folder (the second deleted the first's files)."""
    from desktop_app.training import runs

    run = _finished_run(tmp_path, tiny_model_file)
    models = tmp_path / "models"
    real = runs._copy_model_renamed
    outcomes: list[str] = []

    def interleaved(src: Path, dest: Path, name: str, *rest: object) -> None:
        if not outcomes:
            outcomes.append("first started")
            try:
                runs.keep_model(run, "same", models)  # the other process, mid-way
                outcomes.append("second kept")
            except FileExistsError:
                outcomes.append("second refused")
        real(src, dest, name, *rest)

    monkeypatch.setattr(runs, "_copy_model_renamed", interleaved)
    with pytest.raises(FileExistsError):
        runs.keep_model(run, "same", models)
    assert outcomes == ["first started", "second kept"]
    kept = models / "same"
    assert sorted(p.name for p in kept.iterdir()) == sorted(
        ["model.safetensors", "history.json", "eval_test.json", "curves.png"]
    )
    from trainer.modelfile import load_model_file

    assert load_model_file(kept / "model.safetensors").info.name == "same"
    assert [p.name for p in models.iterdir()] == ["same"]  # no staging folder left


def test_a_new_run_onto_an_old_one_says_how_to_resume_or_overwrite_on_the_command_line(
    mini_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The engine says only what is wrong; the command line adds its flags (the app, its
    buttons: tests/test_errors_gui.py)."""
    from test_train_e2e import TINY_ARGS

    from trainer.cli.main import main as cli
    from trainer.errors import RunExistsError
    from trainer.train.engine import failure_kind, fit
    from trainer.train.events import FitFailed

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}", encoding="utf-8")  # a run's recipe: a run folder
    args = ["train", "--data", str(mini_data), "--epochs", "1", "--out", str(run), *TINY_ARGS]
    assert cli(args) == 1
    err = capsys.readouterr().err
    assert "holds a training run already" in err and err.count("\n") == 1, err
    assert f"--resume {run}" in err and "--overwrite" in err
    assert failure_kind(RunExistsError("x")) == "run_exists"
    from test_train_e2e import tiny_config

    event = list(fit(tiny_config(mini_data, epochs=1), run))[-1]
    assert isinstance(event, FitFailed) and event.kind == "run_exists"
    assert "--" not in event.error  # no flag in what every face shows
