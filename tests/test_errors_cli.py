"""Issue 23: the command line answers every failure with one line, and loses no finished row.

A model with NaN weights, a destination that cannot be written (a file in the way, a full
disk simulated by a file-size limit), Ctrl-C and SIGTERM in the middle of ``predict``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from trainer.cli.main import main as cli

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"


def _brainmri(*args: str, fsize: int | None = None, cwd: Path = ROOT):
    def limit() -> None:  # a full disk without root: writes past `fsize` bytes fail (EFBIG)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run(
        [sys.executable, "-m", "trainer", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=limit if fsize is not None else None,
    )


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    return done.stderr


def nan_model(tiny_model_file: Path, out: Path) -> Path:
    """The tiny model with one weight tensor set to NaN (a diverged or damaged file)."""
    with safe_open(str(tiny_model_file), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    key = next(k for k in tensors if k.startswith("model.") and tensors[k].is_floating_point())
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, str(out), metadata=meta)
    return out


def test_a_nan_model_is_refused_in_one_line(tiny_model_file: Path, tmp_path: Path) -> None:
    bad = nan_model(tiny_model_file, tmp_path / "nan.safetensors")
    image = next(MINI.rglob("*.jpg"))
    done = _brainmri("predict", "--model", str(bad), str(image), "--json")
    assert done.returncode == 2 and done.stdout == ""  # 2: a model-file error (documented)
    assert "NaN or infinite" in _one_line(done) and str(bad) in done.stderr


def test_outputs_are_checked_before_the_model_loads(tmp_path: Path) -> None:
    """A file where the destination's folder should be: one line, status 1, before the
    (here bogus) model is even opened; the same for --cam-dir and export."""
    (tmp_path / "in-the-way").write_text("a file, not a folder")
    image = next(MINI.rglob("*.jpg"))
    model = str(tmp_path / "no-model.safetensors")
    blocked = str(tmp_path / "in-the-way" / "o.csv")
    done = _brainmri("predict", "--model", model, str(image), "--csv", blocked)
    assert done.returncode == 1 and "in-the-way" in _one_line(done)
    assert "model" not in done.stderr
    done = _brainmri("predict", "--model", model, str(image), "--cam-dir", blocked)
    assert done.returncode == 1 and "in-the-way" in _one_line(done)
    done = _brainmri("export", model, blocked)
    assert done.returncode == 1 and "in-the-way" in _one_line(done)


def test_a_full_disk_is_one_plain_line_and_leaves_no_partial_file(
    tiny_model_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "copy.safetensors"
    done = _brainmri("export", str(tiny_model_file), str(out), fsize=64 * 1024)
    assert done.returncode == 1
    line = _one_line(done)
    assert str(out) in line and "larger than this disk" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial or temporary file


def _stop_after(monkeypatch: pytest.MonkeyPatch, n: int, signum: int) -> None:
    """Deliver ``signum`` to this process after ``n`` predictions, as a user or a scheduler
    would in the middle of a long batch."""
    from trainer.cli import predict as command

    real = command._results

    def results(*args, **kwargs):
        for k, item in enumerate(real(*args, **kwargs)):
            yield item
            if k + 1 == n:
                os.kill(os.getpid(), signum)

    monkeypatch.setattr(command, "_results", results)


def _scans(tmp_path: Path, n: int = 6) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    for k, image in enumerate(sorted(MINI.rglob("*.jpg"))[:n]):
        (folder / f"{k:02d}.jpg").write_bytes(image.read_bytes())
    return folder


def test_ctrl_c_during_predict_writes_the_rows_finished(
    tiny_model_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    folder = _scans(tmp_path)
    _stop_after(monkeypatch, 2, signal.SIGINT)
    code = cli(["predict", "--model", str(tiny_model_file), str(folder), "--json"])
    out, err = capsys.readouterr()
    assert code == 130
    rows = json.loads(out)  # valid JSON: the list is closed
    assert 2 <= len(rows) < 6 and all(r["error"] is None for r in rows)
    assert "stopped" in err and "empty" not in err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_sigterm_during_predict_writes_the_csv_so_far(
    tiny_model_file: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    folder = _scans(tmp_path)
    _stop_after(monkeypatch, 3, signal.SIGTERM)
    table = tmp_path / "o.csv"
    code = cli(["predict", "--model", str(tiny_model_file), str(folder), "--csv", str(table)])
    assert code == 143
    rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert 3 <= len(rows) - 1 < 6
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_in_training_saves_state_like_ctrl_c() -> None:
    """The training command's handler: SIGTERM asks the loop to stop and save (rc 3 path)."""
    from trainer.cli.train import _install_sigint
    from trainer.train.events import CancelToken

    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    cancel = CancelToken()
    try:
        _install_sigint(cancel)
        os.kill(os.getpid(), signal.SIGTERM)
        assert cancel.cancelled
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
