"""Run folders seen from the app: where new runs go, which can be resumed, keeping a model.

No Qt here. Runs the app starts live in the user's data folder (``<user data>/runs``), never
next to the program, so an installed or bundled app can always write them; a model the user
keeps is copied, with its reports, to ``<user data>/models/<name>/``.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainer.api import user_data_dir, user_models_dir

STATE_FILE = "state.pt"  # the engine's resumable state (trainer.engine.STATE_FILE)
MODEL_FILE = "model.safetensors"
# Left behind when a model is kept: the resumable state is only useful to an unfinished run
# (and, with optimizer moments, is three times the model's size); the best weights are in the
# model file already.
NOT_KEPT = (STATE_FILE, "best_weights.safetensors")


def runs_root() -> Path:
    """Where the app's training runs go."""
    return user_data_dir() / "runs"


def new_run_dir(backbone: str, root: Path | None = None) -> Path:
    """A fresh, not yet existing folder ``<timestamp>-<backbone>`` (suffixed if taken)."""
    root = root or runs_root()
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(backbone) or 'model'}"
    path = root / stem
    n = 2
    while path.exists():
        path = root / f"{stem}-{n}"
        n += 1
    return path


@dataclass(frozen=True)
class ResumableRun:
    """A run folder with a saved state and no model yet: stopped, interrupted or crashed."""

    path: Path
    backbone: str
    epochs: int
    epochs_done: int
    modified: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.modified))
        return (
            f"{self.path.name} — {self.backbone}, {self.epochs_done} of {self.epochs} epochs "
            f"done ({when})"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def resumable_info(run_dir: str | Path) -> ResumableRun | None:
    """The facts about ``run_dir`` if it can be resumed, else None."""
    path = Path(run_dir)
    state = path / STATE_FILE
    if not state.is_file() or (path / MODEL_FILE).is_file():
        return None
    cfg = _read_json(path / "config.json")
    if not isinstance(cfg, dict):
        return None
    history = _read_json(path / "history.json")
    done = len(history) if isinstance(history, list) else 0
    return ResumableRun(
        path,
        str(cfg.get("backbone", "?")),
        int(cfg.get("epochs", 0) or 0),
        done,
        state.stat().st_mtime,
    )


def resumable_runs(root: Path | None = None) -> list[ResumableRun]:
    """Runs under ``root`` that can be resumed, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    found = [info for d in root.iterdir() if d.is_dir() and (info := resumable_info(d))]
    return sorted(found, key=lambda r: r.modified, reverse=True)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class RunResults:
    """What the results page shows, read from a finished run folder."""

    run_dir: Path
    test: dict[str, Any]  # eval_test.json: accuracy, loss, per_class, confusion_matrix, ...
    report_text: str  # classification_report.txt as written by the trainer
    model_path: Path

    @property
    def classes(self) -> list[str]:
        return list(self.test.get("classes", []))

    @property
    def dedup(self) -> dict[str, Any] | None:
        d = self.test.get("dedup")
        return d if isinstance(d, dict) and d.get("n") else None


def load_results(run_dir: str | Path) -> RunResults:
    """Read a finished run; raises FileNotFoundError naming what is missing."""
    path = Path(run_dir)
    test = _read_json(path / "eval_test.json")
    if not isinstance(test, dict):
        raise FileNotFoundError(f"{path / 'eval_test.json'}: missing or unreadable")
    try:
        report = (path / "classification_report.txt").read_text(encoding="utf-8")
    except OSError:
        report = ""
    return RunResults(path, test, report, path / MODEL_FILE)


# --------------------------------------------------------------------------- keeping a model


def _slug(name: str) -> str:
    """A folder name that is safe on every platform and still reads like the name."""
    s = re.sub(r"[^\w.\- ]+", "_", name.strip(), flags=re.UNICODE).strip(" .")
    return re.sub(r"\s+", " ", s)[:80]


def model_folder_for(name: str, models_dir: Path | None = None) -> Path:
    slug = _slug(name)
    if not slug:
        raise ValueError("give the model a name")
    return (models_dir or user_models_dir()) / slug


def keep_model(run_dir: str | Path, name: str, models_dir: Path | None = None) -> Path:
    """Copy a finished run to ``<models>/<name>/`` and return the model file's path there.

    The model file's metadata gets ``name``, so every list that shows models shows the name
    the user chose. Written into a temporary folder that is renamed at the end: a model folder
    is either complete or absent. Raises FileExistsError when the name is taken.
    """
    src = Path(run_dir)
    if not (src / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{src}: the run has no {MODEL_FILE} (it did not finish)")
    dest = model_folder_for(name, models_dir)
    if dest.exists():
        raise FileExistsError(f"a model named {dest.name!r} already exists in {dest.parent}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(*NOT_KEPT, MODEL_FILE))
        _copy_model_renamed(src / MODEL_FILE, tmp / MODEL_FILE, name.strip())
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest / MODEL_FILE


def _copy_model_renamed(src: Path, dest: Path, name: str) -> None:
    """Copy a brainmri model file with ``meta["name"] = name`` (tensors untouched)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from trainer.api import META_KEY, read_metadata

    meta = read_metadata(src)  # validates the file before anything is written
    meta["name"] = name
    with safe_open(str(src), framework="pt") as fh:
        raw_meta = dict(fh.metadata() or {})
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 (not a dict)
    raw_meta[META_KEY] = json.dumps(meta)
    save_file(tensors, str(dest), metadata=raw_meta)
