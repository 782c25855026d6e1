"""A run folder read back: its ``config.json`` and ``state.pt``, typed and checked.

A run folder is input like a model file: it may be damaged, edited by hand, copied from
someone else or made to harm. Resuming, the command line and the app read it only through
here, with the model file's schema rules (:mod:`trainer.modelfile`): a backbone is a name timm
knows, never ``hf-hub:…`` (which would make timm download code); every number is finite and
within bounds; the saved epoch is one the recipe can reach. Anything else is a
:class:`~trainer.errors.RunFolderError` naming the file and the field, never a traceback deep
in the training loop.

This module also owns the names of the files that make a folder a run folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any

from trainer.config import AugmentConfig, RegularizationConfig, TrainConfig
from trainer.errors import RunFolderError

__all__ = [
    "BEST_WEIGHTS",
    "CONFIG_FILE",
    "MODEL_FILE",
    "STATE_FILE",
    "check_state",
    "clear_for_overwrite",
    "is_run_folder",
    "read_run_config",
    "read_state",
    "validate_run_config",
]

CONFIG_FILE = "config.json"
STATE_FILE = "state.pt"
BEST_WEIGHTS = "best_weights.safetensors"
MODEL_FILE = "model.safetensors"
MAX_CONFIG_BYTES = 1_000_000  # a real one is about 1.5 kB
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
_CHOICES = {
    "split": ("paper", "fraction", "files"),
    "optimizer": ("adamax", "adam", "adamw", "sgd"),  # trainer.step.make_optimizer
    "schedule": ("none", "cosine", "onecycle", "plateau"),  # trainer.step.lr_factor
    "batchnorm": ("train", "frozen"),
}
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:[0-9]{1,2})?")
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


def _number(value: Any) -> bool:
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


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
