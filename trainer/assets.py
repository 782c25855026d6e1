"""Finding bundled assets and the user's own folders, frozen (PyInstaller) or not.

The one place that knows where things live: bundled, read-only assets (default model,
sample scans, icons) come from the bundle or the source tree; models a user trains and
settings go to the user's data folder, never into the bundle or the installation.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DEFAULT_MODEL_NAME = "default.safetensors"


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def assets_dir() -> Path:
    """``BRAINMRI_ASSETS`` if set; the bundle's ``assets`` when frozen; else the source tree's."""
    env = os.environ.get("BRAINMRI_ASSETS")
    if env:
        return Path(env)
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent)) / "assets"
    return Path(__file__).resolve().parent.parent / "assets"


def default_model_path() -> Path:
    return assets_dir() / "models" / DEFAULT_MODEL_NAME


def samples_dir() -> Path:
    return assets_dir() / "samples"


def user_data_dir() -> Path:
    """Per-user folder for trained models and runs (XDG on Linux, the usual places elsewhere)."""
    env = os.environ.get("BRAINMRI_HOME")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "brainmri"


def user_models_dir() -> Path:
    return user_data_dir() / "models"


def practice_set_dir() -> Path:
    """The shipped practice set: ``<class>/`` folders of Testing-folder slices that the
    default model never trained on (trainer.practice; assets/practice/README.md)."""
    return assets_dir() / "practice"


def user_practice_dir() -> Path:
    """A student's practice answers: kept on this machine, in the user's folder only."""
    return user_data_dir() / "practice"


def user_cache_dir() -> Path:
    """Per-user folder for what can be rebuilt at any time (exported inference graphs, the
    speed calibration): ``BRAINMRI_CACHE`` if set, else the platform's cache folder. Deleting
    it costs one slower start, never data."""
    env = os.environ.get("BRAINMRI_CACHE")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
        return base / "brainmri" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "brainmri"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "brainmri"
