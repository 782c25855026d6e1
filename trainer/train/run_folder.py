"""A run folder: the names of its files, typed readers, and its checkpoints.

A run folder is input like a model file: it may be damaged, edited by hand, copied from
someone else or made to harm. Resuming, the command line and the app read it only through
here, with the model file's schema rules (:mod:`trainer.modelfile`): a backbone is a name timm
knows, never ``hf-hub:…`` (which would make timm download code); every number is finite and
within bounds; the saved epoch is one the recipe can reach; ``state.pt`` is loaded without
running code. Anything else is a :class:`~trainer.errors.RunFolderError` naming the file and
the field, never a traceback deep in the training loop.

This module owns the name of every file a run writes (no other module spells one) and
:class:`RunFolder` owns the folder, the way timm's ``CheckpointSaver`` owns checkpoints:
where each file lives, what state the run is in (finished, resumable), the readers of its
recipe, history, metrics and predictions, and the writing and reading back of its training
state and best weights.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeGuard

from trainer.atomic import atomic_open, atomic_path, write_json, write_text
from trainer.config import AugmentConfig, RegularizationConfig, TrainConfig
from trainer.errors import RunFolderError
from trainer.prediction_row import FAILED, RunPrediction
from trainer.train.run_lock import LOCK_FILE, run_lock
from trainer.vocab import BATCHNORM_MODES, DEVICES, OPTIMIZERS, SCHEDULES, SPLIT_METHODS

if TYPE_CHECKING:
    import torch

__all__ = [
    "AUGMENTED_BATCH_FILE",
    "BEST_WEIGHTS",
    "CHECKPOINT_FILES",
    "CONFIG_FILE",
    "CONFUSION_FILE",
    "CURVES_FILE",
    "ERROR_FILE",
    "EVAL_TEST_FILE",
    "EVAL_VAL_FILE",
    "HISTORY_CSV",
    "HISTORY_FILE",
    "LIVE_CURVES_FILE",
    "LOCK_FILE",
    "MODEL_FILE",
    "PREDICTIONS_FILE",
    "REPORT_FILE",
    "RUN_OUTPUTS",
    "STATE_FILE",
    "Checkpoint",
    "RunFolder",
    "check_state",
    "clear_for_overwrite",
    "is_run_folder",
    "prediction_table",
    "read_prediction_table",
    "read_run_config",
    "read_state",
    "validate_run_config",
]

# --------------------------------------------------------------------------- the names

CONFIG_FILE = "config.json"  # the recipe (TrainConfig), checked when read back
STATE_FILE = "state.pt"  # the resumable training state (Checkpoint)
BEST_WEIGHTS = "best_weights.safetensors"  # the best epoch's weights, while training
MODEL_FILE = "model.safetensors"  # the finished model (trainer.modelfile): the run is done
HISTORY_FILE = "history.json"  # one object per epoch
HISTORY_CSV = "history.csv"
CURVES_FILE = "curves.png"
AUGMENTED_BATCH_FILE = "augmented_batch.png"  # one augmented batch, drawn as the run starts
EVAL_VAL_FILE = "eval_val.json"  # trainer.metrics.evaluate_logits of the validation split
EVAL_TEST_FILE = "eval_test.json"  # the same of the test split, with "dedup"
REPORT_FILE = "classification_report.txt"
CONFUSION_FILE = "confusion_matrix.png"
PREDICTIONS_FILE = "predictions_test.csv"  # path,true,predicted,p_<class>...,error
ERROR_FILE = "error.txt"  # the traceback of a failed run
LIVE_CURVES_FILE = "curves-live.png"  # the app's suggestion when saving its live curves
# LOCK_FILE ("run.lock") is trainer.train.run_lock's, re-exported here with the others

EVAL_FILES = {"val": EVAL_VAL_FILE, "test": EVAL_TEST_FILE}
#: What only an unfinished run needs: a kept model leaves them behind (the best weights are in
#: the model file; the state, with optimizer moments, is three times the model's size).
CHECKPOINT_FILES = (STATE_FILE, BEST_WEIGHTS)
#: Every file a finished run holds.
RUN_OUTPUTS = (
    MODEL_FILE,
    STATE_FILE,
    BEST_WEIGHTS,
    CONFIG_FILE,
    HISTORY_CSV,
    HISTORY_FILE,
    CURVES_FILE,
    AUGMENTED_BATCH_FILE,
    CONFUSION_FILE,
    REPORT_FILE,
    EVAL_TEST_FILE,
    EVAL_VAL_FILE,
    PREDICTIONS_FILE,
)

MAX_CONFIG_BYTES = 1_000_000  # a real one is about 1.5 kB
MAX_JSON_BYTES = 64_000_000  # history and metrics: a real history is 300 bytes an epoch
_MAX = 1e9  # the bound of any count or size not bounded more tightly below

# field: (smallest, largest); None allowed where the default is None
_INTS = {
    "epochs": (1, 100_000),
    "batch_size": (1, 65_536),
    "img_size": (32, 1024),  # trainer.modelfile.MIN_INPUT_SIZE, MAX_INPUT_SIZE
    "warmup_epochs": (0, 100_000),
    "freeze_stages": (0, 64),
    "bn_recalibration_images": (0, _MAX),
    "seed": (0, 2**63 - 1),
    "limit_per_class": (1, _MAX),
    "early_stopping_patience": (0, 100_000),
    "workers": (0, 1024),
}
_FLOATS = {
    "lr": (0.0, 100.0),
    "weight_decay": (0.0, 100.0),
    "label_smoothing": (0.0, 1.0),
    "val_fraction": (0.0, 1.0),
    "test_fraction": (0.0, 1.0),
    "max_minutes": (0.0, _MAX),
    "checkpoint_minutes": (0.0, _MAX),
}
_BOOLS = ("freeze_backbone", "amp", "channels_last", "in_memory")
_CHOICES: dict[str, tuple[str, ...]] = {  # trainer.vocab: the one list of each
    "split": SPLIT_METHODS,
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "batchnorm": BATCHNORM_MODES,
}
_DEVICE = re.compile("|".join(map(re.escape, DEVICES)) + r"|cuda:[0-9]{1,2}")
# "hf-hub:…", "timm/…", "local-dir:…", "http://…": a source that is not a local file
_NOT_A_FILE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:|timm/")
_NESTED_BOUND = 1000.0  # augmentation and regularisation numbers (degrees at most 360)


def is_run_folder(run_dir: str | Path) -> bool:
    """Does ``run_dir`` hold a run (a recipe, a saved state or a finished model)?"""
    path = Path(run_dir)
    return any((path / name).is_file() for name in (CONFIG_FILE, STATE_FILE, MODEL_FILE))


def clear_for_overwrite(run_dir: str | Path) -> None:
    """Before a new run starts in an old run's folder (asked for explicitly): remove what would
    make the folder a mix of two runs — the old state (it would be resumed), best weights and
    model. Every other file of a run is rewritten as the new run goes."""
    for name in (STATE_FILE, BEST_WEIGHTS, MODEL_FILE):
        (Path(run_dir) / name).unlink(missing_ok=True)


def read_run_config(run_dir: str | Path) -> TrainConfig:
    """The recipe of the run in ``run_dir``, checked; :class:`RunFolderError` otherwise."""
    path = Path(run_dir) / CONFIG_FILE
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise RunFolderError(f"{path}: too large for a run's settings")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing (not a training run folder)") from None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise RunFolderError(f"{path}: damaged (not valid JSON)") from None
    return validate_run_config(data, path)


def validate_run_config(data: Any, path: str | Path = CONFIG_FILE) -> TrainConfig:
    """``data`` (a parsed ``config.json``) as a :class:`TrainConfig`, every field checked."""
    from trainer.modelfile import _backbone, _head  # the model file's rules, not a copy

    def fail(message: str) -> RunFolderError:
        return RunFolderError(f"{path}: {message}")

    if not isinstance(data, dict):
        raise fail("must be a JSON object")
    defaults = TrainConfig()
    out: dict[str, Any] = {}
    for name, (lo, hi) in _INTS.items():
        out[name] = _int(data.get(name, getattr(defaults, name)), name, lo, hi, fail)
    for name, (flo, fhi) in _FLOATS.items():
        out[name] = _float(data.get(name, getattr(defaults, name)), name, flo, fhi, fail)
    for name in _BOOLS:
        value = data.get(name, getattr(defaults, name))
        if not isinstance(value, bool):
            raise fail(f"{name} must be true or false")
        out[name] = value
    for name, choices in _CHOICES.items():
        value = data.get(name, getattr(defaults, name))
        if value not in choices:
            raise fail(f"{name} must be one of {', '.join(choices)}")
        out[name] = value
    device = data.get("device", defaults.device)
    if not isinstance(device, str) or _DEVICE.fullmatch(device) is None:
        raise fail("device must be auto, cpu, cuda or mps")
    out["device"] = device
    out["data"] = _text(data.get("data", ""), "data", fail)
    cache = data.get("cache")
    out["cache"] = None if cache is None else _text(cache, "cache", fail)
    pretrained = _text(data.get("pretrained", defaults.pretrained), "pretrained", fail)
    if pretrained not in ("imagenet", "none") and _NOT_A_FILE.match(pretrained):
        raise fail("pretrained must be imagenet, none or the path of a local file")
    out["pretrained"] = pretrained
    split_files = data.get("split_files", {})
    if not isinstance(split_files, dict) or len(split_files) > 3:
        raise fail("split_files must map train, val or test to a file")
    out["split_files"] = {
        _text(k, "split_files", fail): _text(v, "split_files", fail) for k, v in split_files.items()
    }
    out["backbone"] = _backbone(data.get("backbone", defaults.backbone), fail)
    out["head"] = _head(data.get("head", defaults.head.to_dict()), fail)
    out["regularization"] = _nested(data, "regularization", RegularizationConfig, fail)
    out["augment"] = _nested(data, "augment", AugmentConfig, fail)
    return TrainConfig(**out)


def _int(value: Any, name: str, lo: float, hi: float, fail: Any) -> int | None:
    if value is None and name in ("limit_per_class", "early_stopping_patience", "workers"):
        return None
    if not (isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi):
        raise fail(f"{name} must be a whole number from {lo:g} to {hi:g}")
    return int(value)


def _float(value: Any, name: str, lo: float, hi: float, fail: Any) -> float | None:
    if value is None and name in ("val_fraction", "test_fraction", "max_minutes"):
        return None
    if not (_number(value) and lo <= value <= hi):
        raise fail(f"{name} must be a number from {lo:g} to {hi:g}")
    return float(value)


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any, name: str, fail: Any) -> str:
    if not isinstance(value, str) or len(value) > 4096 or "\x00" in value:
        raise fail(f"{name} must be a text of at most 4096 characters")
    return value


def _nested(data: dict[str, Any], section: str, typ: type, fail: Any) -> Any:
    """A flat dataclass of numbers and switches (augmentation, regularisation): known keys
    only, each of its default's type, numbers finite and in [0, 1000]."""
    value = data.get(section)
    if value is None:
        return typ()
    if not isinstance(value, dict):
        raise fail(f"{section} must be an object")
    defaults = typ()
    known = {f.name for f in dataclasses.fields(typ)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise fail(f"{section}: unknown setting {unknown[0]!r}")
    out = {}
    for key, item in value.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            ok, kind = isinstance(item, bool), "true or false"
        elif isinstance(default, int):
            ok = isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 1000
            kind = "a whole number from 0 to 1000"
        else:
            ok, kind = _number(item) and 0 <= item <= _NESTED_BOUND, "a number from 0 to 1000"
        if not ok:
            raise fail(f"{section}.{key} must be {kind}")
        out[key] = item
    return typ(**out)


# --------------------------------------------------------------------------- state


def read_state(path: str | Path, device: Any, epochs: int) -> dict[str, Any]:
    """A saved training state, loaded without running code and checked: a run at epoch −2 or
    with a NaN elapsed time must not train. ``epochs``: the run's recipe's epoch count."""
    import pickle

    import torch

    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: no resumable state in this run folder") from None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, TypeError):
        # torch's own message advises weights_only=False: never, for a file from anywhere
        raise RunFolderError(
            f"{path}: not a training state that brainmri wrote, or damaged; it was not loaded"
        ) from None
    check_state(state, path, epochs)
    return state


def check_state(state: Any, path: str | Path, epochs: int) -> None:
    """Raise :class:`RunFolderError` unless ``state`` is a plausible saved state."""

    def fail(message: str) -> RunFolderError:
        return RunFolderError(f"{path}: {message}")

    if not isinstance(state, dict):
        raise fail("not a training state")
    for key in ("model", "optimizer"):
        if not isinstance(state.get(key), dict):
            raise fail(f"has no {key} state")
    epoch, batch = state.get("epoch"), state.get("next_batch")
    if not (_whole(epoch) and 1 <= epoch <= epochs + 1):
        raise fail(f"its epoch must be a whole number from 1 to {epochs + 1}")
    if not (_whole(batch) and 0 <= batch <= _MAX):
        raise fail("its batch must be a whole number ≥ 0")
    progress = state.get("progress")
    if not (isinstance(progress, list) and len(progress) == 4 and all(map(_number, progress))):
        raise fail("its epoch sums are damaged")
    history = state.get("history")
    if not (isinstance(history, list) and all(isinstance(h, dict) for h in history)):
        raise fail("its history is damaged")
    best = state.get("best")
    if not (
        isinstance(best, (list, tuple))
        and len(best) == 3
        and _whole(best[0])
        and 0 <= best[0] <= epochs
        and all(isinstance(v, (int, float)) for v in best[1:])
    ):
        raise fail("its best epoch is damaged")
    elapsed = state.get("elapsed_s")
    if not (_number(elapsed) and elapsed >= 0):
        raise fail("its elapsed time is damaged")
    stale = state.get("stale_epochs", 0)
    if not (_whole(stale) and 0 <= stale <= epochs):
        raise fail("its count of epochs without improvement is damaged")


def _whole(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class Checkpoint:
    """A run's resumable state, as ``state.pt`` holds it (plain tensors and numbers: loaded
    with ``weights_only``, never by running code). The engine fills it; :class:`RunFolder`
    writes it and reads it back checked (:func:`check_state`)."""

    model: dict[str, Any]  # state dicts
    optimizer: dict[str, Any]
    scheduler: dict[str, Any]
    scaler: dict[str, Any]
    epoch: int  # the epoch in progress (1-based)
    next_batch: int  # its first batch not trained yet
    progress: list[float]  # the epoch's running sums: loss, penalty, correct, images
    history: list[dict[str, float]]  # one entry per finished epoch
    best: tuple[int, float, float]  # epoch, validation accuracy, validation loss
    elapsed_s: float
    stale_epochs: int = 0  # epochs since the best one (early stopping)

    def to_dict(self) -> dict[str, Any]:
        """The dictionary ``state.pt`` holds (its keys in the order brainmri always wrote)."""
        return {
            "model": self.model,
            "optimizer": self.optimizer,
            "scheduler": self.scheduler,
            "scaler": self.scaler,
            "epoch": self.epoch,
            "next_batch": self.next_batch,
            "progress": list(self.progress),
            "history": self.history,
            "best": list(self.best),
            "elapsed_s": self.elapsed_s,
            "stale_epochs": self.stale_epochs,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Checkpoint:
        """A state :func:`check_state` accepted, typed."""
        best = state["best"]
        return cls(
            model=state["model"],
            optimizer=state["optimizer"],
            scheduler=state.get("scheduler") or {},
            scaler=state.get("scaler") or {},
            epoch=int(state["epoch"]),
            next_batch=int(state["next_batch"]),
            progress=[float(v) for v in state["progress"]],
            history=[dict(h) for h in state["history"]],
            best=(int(best[0]), float(best[1]), float(best[2])),
            elapsed_s=float(state["elapsed_s"]),
            stale_epochs=int(state.get("stale_epochs", 0)),
        )


# --------------------------------------------------------------------------- predictions


def prediction_table(rows: Iterable[RunPrediction], classes: Sequence[str]) -> str:
    """``predictions_test.csv``'s text: probabilities with six decimals, a failed row's
    probabilities empty and its reason in the last column."""
    from trainer.csv_cells import csv_table

    out = []
    for r in rows:
        if r.failed:
            out.append([r.path, r.true, FAILED, *[""] * len(classes), r.error])
        else:
            probs = [f"{r.probabilities[c]:.6f}" for c in classes]
            out.append([r.path, r.true, r.predicted, *probs, r.error])
    header = ["path", "true", "predicted", *[f"p_{c}" for c in classes], "error"]
    return csv_table(header, out)


def read_prediction_table(path: str | Path) -> list[RunPrediction]:
    """The rows of a ``predictions_test.csv``; :class:`RunFolderError` when it is damaged."""
    from trainer.csv_cells import read_cell  # the writer neutralised spreadsheet formulas

    path = Path(path)
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for raw in csv.DictReader(fh):
                r = {read_cell(k): read_cell(v or "") for k, v in raw.items() if k is not None}
                probs = {k[2:]: float(v) for k, v in r.items() if k.startswith("p_") and v != ""}
                error = r.get("error", "")
                rows.append(RunPrediction(r["path"], r["true"], r["predicted"], probs, error))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (KeyError, ValueError, csv.Error):  # UnicodeDecodeError is a ValueError
        raise RunFolderError(f"{path}: damaged (not the predictions brainmri writes)") from None
    return rows


# --------------------------------------------------------------------------- the folder


class RunFolder:
    """One run folder: where each of its files lives, what state the run is in, typed
    readers of what it wrote, and the saving and loading of its checkpoints.

    Readers of what the app only shows (history, metrics, the report) are lenient: a file
    that is missing or damaged reads as empty (None, ``[]``, ``""``), never as an error. The
    readers of what a run acts on (the recipe, the state) check everything and raise
    :class:`RunFolderError`."""

    __slots__ = ("path",)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    @property
    def name(self) -> str:
        return self.path.name

    # ------------------------------------------------------------------ where
    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    @property
    def best_weights_path(self) -> Path:
        return self.path / BEST_WEIGHTS

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY_FILE

    @property
    def history_csv_path(self) -> Path:
        return self.path / HISTORY_CSV

    @property
    def curves_path(self) -> Path:
        return self.path / CURVES_FILE

    @property
    def live_curves_path(self) -> Path:
        return self.path / LIVE_CURVES_FILE

    @property
    def augmented_batch_path(self) -> Path:
        return self.path / AUGMENTED_BATCH_FILE

    def metrics_path(self, split: str) -> Path:
        """``eval_val.json`` or ``eval_test.json``."""
        if split not in EVAL_FILES:
            raise ValueError(f"a run evaluates val and test, not {split!r}")
        return self.path / EVAL_FILES[split]

    @property
    def report_path(self) -> Path:
        return self.path / REPORT_FILE

    @property
    def confusion_path(self) -> Path:
        return self.path / CONFUSION_FILE

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def error_path(self) -> Path:
        return self.path / ERROR_FILE

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    # ------------------------------------------------------------------ what state
    def is_run(self) -> bool:
        """Does it hold a run (a recipe, a saved state or a finished model)?"""
        return is_run_folder(self.path)

    def has_state(self) -> bool:
        return self.state_path.is_file()

    def is_finished(self) -> bool:
        return self.model_path.is_file()

    def is_resumable(self) -> bool:
        """A saved state and no model yet: stopped, interrupted or crashed. (Whether its
        recipe passes the checks is :meth:`config`'s to say.)"""
        return self.has_state() and not self.is_finished()

    def has_predictions(self) -> bool:
        return self.predictions_path.is_file()

    # ------------------------------------------------------------------ readers
    def config(self) -> TrainConfig:
        """The recipe, checked; :class:`RunFolderError` otherwise."""
        return read_run_config(self.path)

    def history(self) -> list[dict[str, float]]:
        """The finished epochs (``history.json``); ``[]`` when missing or damaged. Entries
        that are not an epoch's numbers are left out."""
        data = _read_json(self.history_path)
        if not isinstance(data, list):
            return []
        return [dict(h) for h in data if isinstance(h, dict) and _number(h.get("epoch"))]

    def metrics(self, split: Literal["val", "test"] = "test") -> dict[str, Any] | None:
        """``eval_<split>.json`` (:func:`trainer.metrics.evaluate_logits`; the test split's
        with ``dedup``, ``failed_files`` and ``ood_flagged``); None when missing or damaged."""
        data = _read_json(self.metrics_path(split))
        return data if isinstance(data, dict) else None

    def report_text(self) -> str:
        """``classification_report.txt`` as written; ``""`` when missing."""
        try:
            return self.report_path.read_text(encoding="utf-8")
        except (OSError, ValueError):
            return ""

    def error_text(self) -> str | None:
        """The traceback of the run's last failure, if it failed."""
        try:
            return self.error_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def predictions(self, data_root: str | Path | None = None) -> list[RunPrediction]:
        """The rows of ``predictions_test.csv`` (FileNotFoundError when the run has none;
        :class:`RunFolderError` when damaged). Paths are as written, absolute where the run
        was trained; with ``data_root`` the ones under the run's data folder are moved under
        ``data_root`` (the data set is somewhere else now)."""
        rows = read_prediction_table(self.predictions_path)
        if data_root is None:
            return rows
        old = self.config().data
        return [r.moved_to(old, data_root) for r in rows] if old else rows

    # ------------------------------------------------------------------ writers
    def write_config(self, cfg: TrainConfig) -> None:
        write_json(self.config_path, cfg.to_dict())

    def write_metrics(self, split: str, metrics: dict[str, Any]) -> None:
        write_json(self.metrics_path(split), metrics)

    def write_report(self, text: str) -> None:
        write_text(self.report_path, text)

    def write_predictions(self, rows: Iterable[RunPrediction], classes: Sequence[str]) -> None:
        write_text(self.predictions_path, prediction_table(rows, classes))

    def write_error(self, text: str) -> None:
        write_text(self.error_path, text)

    def lock(self) -> contextlib.AbstractContextManager[Path]:
        """Hold the folder's lock for a training or a resume (:mod:`trainer.train.run_lock`)."""
        return run_lock(self.path)

    def clear_for_overwrite(self) -> None:
        clear_for_overwrite(self.path)

    def clean_leftovers(self) -> None:
        """Remove what a killed run left behind: temporary files of interrupted atomic
        writes (``.name.XXXX.ext.tmp``) and the error report of an earlier failed attempt."""
        if not self.path.is_dir():
            return
        for tmp in self.path.glob(".*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
        with contextlib.suppress(OSError):
            self.error_path.unlink()

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``state.pt``. Serialised in memory, then written by Python: a full disk is
        then an OSError that says so, not a RuntimeError from inside torch's zip writer."""
        import torch

        buffer = io.BytesIO()
        torch.save(checkpoint.to_dict(), buffer)
        with atomic_open(self.state_path, "wb") as fh:
            fh.write(buffer.getbuffer())

    def load_checkpoint(self, device: Any, epochs: int) -> Checkpoint:
        """``state.pt``, loaded without running code and checked against a recipe of
        ``epochs`` epochs; :class:`RunFolderError` otherwise."""
        return Checkpoint.from_dict(read_state(self.state_path, device, epochs))

    def save_best_weights(self, model: torch.nn.Module) -> None:
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(self.best_weights_path) as tmp:
            save_file(tensors, str(tmp))

    def load_best_weights(self, model: torch.nn.Module, device: Any) -> bool:
        """Load the best epoch's weights into ``model``; False when there are none."""
        from safetensors.torch import load_file

        if not self.best_weights_path.is_file():
            return False
        model.load_state_dict(load_file(str(self.best_weights_path), device=str(device)))
        return True


def _read_json(path: Path) -> Any:
    """Parsed JSON, or None when missing, unreadable, too large or not JSON."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return None
        return json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
