"""The public API of :mod:`trainer`: everything the desktop app (or any script) may use.

The app imports from here and from the package root only (an import-linter contract checks
it), so the modules behind these names can be reorganised without touching a view. Importing
this module loads torch; ``trainer`` itself stays light (``NOT_FOR_CLINICAL_USE``,
``__version__``), for code that must start fast.
"""

from __future__ import annotations

from trainer import NOT_FOR_CLINICAL_USE, __version__
from trainer.assets import (
    assets_dir,
    default_model_path,
    samples_dir,
    user_data_dir,
    user_models_dir,
)
from trainer.atomic import atomic_path, write_text
from trainer.cam import CAM_METHODS, render_overlay, side_by_side
from trainer.config import PRESETS, TrainConfig, apply_overrides, preset_config
from trainer.data.checks import check_dataset
from trainer.data.discovery import TESTING_DIR, discover
from trainer.data.splits import make_split
from trainer.device import describe_device
from trainer.engine import failure_kind, fit
from trainer.errors import BrainMRIError, ModelFileError, UnreadableInputError
from trainer.events import (
    BatchEnded,
    BatchSizeChanged,
    CancelToken,
    EpochEnded,
    EpochStarted,
    Event,
    FileSkipped,
    FitFailed,
    FitFinished,
    LogMessage,
    PhaseChanged,
    RunStarted,
)
from trainer.io import Scan, ScanSlice, Window, display_metadata, load_paths, read_grey
from trainer.io.dicom import read_header
from trainer.metrics import classification_report_text
from trainer.modelfile import META_KEY, read_metadata
from trainer.predict import Prediction, Predictor
from trainer.prediction_table import prediction_csv
from trainer.preprocess import to_model_square
from trainer.pretrained import weights_available, weights_cached
from trainer.probe import ProbeProgress, ProbeResult, probe_key, probe_speed
from trainer.report import write_pdf_report
from trainer.run_data import split_for

__all__ = [
    "CAM_METHODS",
    "META_KEY",
    "NOT_FOR_CLINICAL_USE",
    "PRESETS",
    "TESTING_DIR",
    "BatchEnded",
    "BatchSizeChanged",
    "BrainMRIError",
    "CancelToken",
    "EpochEnded",
    "EpochStarted",
    "Event",
    "FileSkipped",
    "FitFailed",
    "FitFinished",
    "LogMessage",
    "ModelFileError",
    "PhaseChanged",
    "Prediction",
    "Predictor",
    "ProbeProgress",
    "ProbeResult",
    "RunStarted",
    "Scan",
    "ScanSlice",
    "TrainConfig",
    "UnreadableInputError",
    "Window",
    "__version__",
    "apply_overrides",
    "assets_dir",
    "atomic_path",
    "check_dataset",
    "classification_report_text",
    "default_model_path",
    "describe_device",
    "discover",
    "display_metadata",
    "failure_kind",
    "fit",
    "load_paths",
    "make_split",
    "prediction_csv",
    "preset_config",
    "probe_key",
    "probe_speed",
    "read_grey",
    "read_header",
    "read_metadata",
    "render_overlay",
    "samples_dir",
    "side_by_side",
    "split_for",
    "to_model_square",
    "user_data_dir",
    "user_models_dir",
    "weights_available",
    "weights_cached",
    "write_pdf_report",
    "write_text",
]
