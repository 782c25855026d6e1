"""Run folders seen from the app: where new runs go, which can be resumed, keeping a model.

No Qt here. Runs the app starts live in the user's data folder (``<user data>/runs``), never
next to the program, so an installed or bundled app can always write them; a model the user
keeps is copied, with its reports, to ``<user data>/models/<name>/``.
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from desktop_app.messages import plain_message
from trainer.api import (
    CHECKPOINT_FILES,
    MODEL_FILE,
    RunFolder,
    RunFolderError,
    user_data_dir,
    user_models_dir,
)

log = logging.getLogger(__name__)
# Left behind when a model is kept: the resumable state is only useful to an unfinished run
# (and, with optimizer moments, is three times the model's size); the best weights are in the
# model file already.
NOT_KEPT = CHECKPOINT_FILES


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
    """A run folder with a saved state and no model yet: stopped, interrupted or crashed.

    ``problem`` is set (and the other facts are placeholders) when the folder's settings
    cannot be read or fail their checks: such a run is listed as unreadable, never resumed,
    and never stops the app from starting."""

    path: Path
    backbone: str
    epochs: int
    epochs_done: int
    modified: float
    problem: str | None = None

    @property
    def can_resume(self) -> bool:
        return self.problem is None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.modified))
        if self.problem is not None:
            return f"{self.path.name} — unreadable, skipped ({self.problem})"
        return (
            f"{self.path.name} — {self.backbone}, {self.epochs_done} of {self.epochs} epochs "
            f"done ({when})"
        )


def resumable_info(run_dir: str | Path) -> ResumableRun | None:
    """The facts about ``run_dir`` if it has a saved state and no model, else None; a run
    whose settings fail the trainer's checks comes back with ``problem`` set."""
    folder = RunFolder(run_dir)
    path = folder.path
    try:
        if not folder.is_resumable():
            return None
        modified = folder.state_path.stat().st_mtime
    except OSError:
        return None
    try:
        cfg = folder.config()  # the one checked reader (resume uses it too)
    except RunFolderError as exc:
        log.warning("run folder not resumable: %s", exc)
        return ResumableRun(path, "?", 0, 0, modified, problem=_reason(exc, path))
    done = len(folder.history())
    return ResumableRun(path, cfg.backbone, cfg.epochs, min(done, cfg.epochs), modified)


def _reason(exc: BaseException, path: Path) -> str:
    """The checker's reason without the folder's path (the list shows the folder's name)."""
    text = plain_message(exc)
    return text.split(": ", 1)[1] if text.startswith(str(path)) and ": " in text else text


def resumable_runs(root: Path | None = None) -> list[ResumableRun]:
    """Runs under ``root`` with a saved state, newest first; unreadable ones included, marked
    (:attr:`ResumableRun.problem`). A folder that cannot even be listed is skipped."""
    root = root or runs_root()
    try:
        folders = [d for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    except OSError:
        return []
    found = [info for d in folders if (info := resumable_info(d))]
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

    @property
    def val(self) -> dict[str, Any] | None:
        """The validation split's metrics (the split that chose the epoch); None if absent."""
        return RunFolder(self.run_dir).metrics("val")


def load_results(run_dir: str | Path) -> RunResults:
    """Read a finished run; raises FileNotFoundError naming what is missing."""
    folder = RunFolder(run_dir)
    test = folder.metrics("test")
    if test is None:
        raise FileNotFoundError(f"{folder.metrics_path('test')}: missing or unreadable")
    return RunResults(folder.path, test, folder.report_text(), folder.model_path)


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


def keep_model(
    run_dir: str | Path, name: str, models_dir: Path | None = None, notes: list[str] | None = None
) -> Path:
    """Copy a finished run to ``<models>/<name>/`` and return the model file's path there.

    The model file's metadata gets ``name``, so every list that shows models shows the name
    the user chose, and ``notes`` (lines the user wrote: what it was made for, what to watch
    for) after the notes it already has. Written into a staging folder of its own (unique to
    this call, so two keeps at once never share one) that is renamed onto ``dest`` at the end:
    a model folder is either complete or absent, and of two keeps under one name exactly one
    wins. Raises FileExistsError when the name is taken.
    """
    src = Path(run_dir)
    if not (src / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{src}: the run has no {MODEL_FILE} (it did not finish)")
    dest = model_folder_for(name, models_dir)
    if dest.exists():
        raise FileExistsError(f"a model named {dest.name!r} already exists in {dest.parent}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        shutil.copytree(
            src, stage, ignore=shutil.ignore_patterns(*NOT_KEPT, MODEL_FILE), dirs_exist_ok=True
        )
        _copy_model_renamed(src / MODEL_FILE, stage / MODEL_FILE, name.strip(), notes or [])
        _rename_new(stage, dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return dest / MODEL_FILE


def _rename_new(stage: Path, dest: Path) -> None:
    """Rename ``stage`` to ``dest`` unless ``dest`` exists. A folder rename is atomic and
    fails onto a folder with files in it (ENOTEMPTY or EEXIST): the other keep won."""
    if dest.exists():
        raise FileExistsError(f"a model named {dest.name!r} already exists in {dest.parent}")
    try:
        stage.rename(dest)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) or dest.exists():
            raise FileExistsError(
                f"a model named {dest.name!r} already exists in {dest.parent}"
            ) from None
        raise


def _copy_model_renamed(src: Path, dest: Path, name: str, notes: list[str]) -> None:
    """Copy a brainmri model file with ``meta["name"] = name`` and ``notes`` added (tensors
    untouched; :func:`trainer.modelfile.with_metadata` writes the model-file format)."""
    from trainer.api import read_metadata, with_metadata

    updates: dict[str, Any] = {"name": name}
    if notes:  # after the notes the model already has
        updates["notes"] = [*read_metadata(src).get("notes", []), *notes]
    with_metadata(src, dest, updates)
