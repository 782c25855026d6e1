"""The public API of :mod:`trainer`: everything the desktop app (or any script) may use.

The app imports from here and from the package root only (an import-linter contract checks
it), so the modules behind these names can be reorganised without touching a view.

The names are loaded on first use (a module-level ``__getattr__``, as in
:mod:`trainer.cam`): importing this module costs nothing, and ``from trainer.api import
Predictor`` loads only what ``Predictor`` needs. So the app's window shows before torch,
timm or matplotlib are imported; each loads when the first name that needs it is used
(docs/results.md, "Start-up and folder speed").
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from trainer import NOT_FOR_CLINICAL_USE, __version__

if TYPE_CHECKING:  # the real imports, for type checkers and readers; at run time see _MODULES
    from trainer.assets import (
        assets_dir,
        default_model_path,
        samples_dir,
        user_data_dir,
        user_models_dir,
    )
    from trainer.atomic import atomic_path, write_text
    from trainer.cam.overlay import HEAT_FLOOR, heat_rgba, legend_rgba, render_overlay, side_by_side
    from trainer.cam.record import localization_sentence, read_localization
    from trainer.cam.spec import (
        DEFAULT_MAP,
        MAP_METHOD_LABELS,
        MAP_METHODS,
        MapSpec,
        parse_map_spec,
    )
    from trainer.config import PRESETS, TrainConfig, apply_overrides, preset_config
    from trainer.csv_cells import read_cell
    from trainer.data.checks import check_dataset
    from trainer.data.discovery import TESTING_DIR, discover
    from trainer.data.splits import DEFAULT_VAL_FRACTION, SplitSpec, make_split
    from trainer.device import (
        DeviceChoice,
        available_devices,
        describe_device,
        device_choices,
        has_gpu,
        may_have_gpu,
    )
    from trainer.errors import (
        BrainMRIError,
        ModelFileError,
        RunFolderError,
        RunLockedError,
        UnreadableInputError,
        os_error_text,
    )
    from trainer.evaluation import EvalProgress, EvalResult
    from trainer.io import (
        Scan,
        ScanSlice,
        SeriesInfo,
        Window,
        display_metadata,
        load_paths,
        read_grey,
    )
    from trainer.io.dicom import read_header
    from trainer.io.geometry import SliceGeometry
    from trainer.io.scan import quantise
    from trainer.metrics import classification_report_text
    from trainer.model_facts import ModelMeta
    from trainer.modelfile import META_KEY, read_metadata, read_model_meta, with_metadata
    from trainer.onnx_export import export_onnx
    from trainer.practice import (
        PracticeAnswer,
        PracticeItem,
        PracticeSession,
        PracticeSummary,
        clear_saved_answers,
        practice_set_dir,
        summary_lines,
        write_summary_pdf,
    )
    from trainer.predict import Predictor
    from trainer.prediction_row import Prediction, PredictionRow, PredictionWarning, RunPrediction
    from trainer.prediction_table import prediction_csv
    from trainer.preprocess import to_model_square
    from trainer.report import write_pdf_report
    from trainer.series_call import (
        CLASS,
        NOT_MRI,
        UNSURE,
        SeriesCall,
        SliceCall,
        series_call,
        slice_call,
    )
    from trainer.strip_colours import SeriesStrip, cell_colour
    from trainer.train.engine import failure_kind, fit
    from trainer.train.events import (
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
    from trainer.train.pretrained import weights_available, weights_cached
    from trainer.train.probe import ProbeProgress, ProbeResult, probe_key, probe_speed
    from trainer.train.recipes import DEFAULT_MODEL_RECIPE, RECIPES, Recipe
    from trainer.train.run_data import split_for
    from trainer.train.run_evaluation import evaluate_run_steps
    from trainer.train.run_folder import (
        CHECKPOINT_FILES,
        MODEL_FILE,
        STATE_FILE,
        RunFolder,
        read_run_config,
    )
    from trainer.vocab import DEVICES, OPTIMIZERS, SCHEDULE_LABELS, SCHEDULES, SPLIT_METHODS

# module -> the public names it defines; a name's module is imported when the name is first used
_MODULES: dict[str, tuple[str, ...]] = {
    "trainer.assets": (
        "assets_dir",
        "default_model_path",
        "samples_dir",
        "user_data_dir",
        "user_models_dir",
    ),
    "trainer.atomic": ("atomic_path", "write_text"),
    "trainer.cam.overlay": (
        "HEAT_FLOOR",
        "heat_rgba",
        "legend_rgba",
        "render_overlay",
        "side_by_side",
    ),
    "trainer.cam.record": ("localization_sentence", "read_localization"),
    "trainer.cam.spec": (
        "DEFAULT_MAP",
        "MAP_METHODS",
        "MAP_METHOD_LABELS",
        "MapSpec",
        "parse_map_spec",
    ),
    "trainer.config": ("PRESETS", "TrainConfig", "apply_overrides", "preset_config"),
    "trainer.csv_cells": ("read_cell",),
    "trainer.data.checks": ("check_dataset",),
    "trainer.data.discovery": ("TESTING_DIR", "discover"),
    "trainer.data.splits": ("DEFAULT_VAL_FRACTION", "SplitSpec", "make_split"),
    "trainer.device": (
        "DeviceChoice",
        "available_devices",
        "describe_device",
        "device_choices",
        "has_gpu",
        "may_have_gpu",
    ),
    "trainer.evaluation": ("EvalProgress", "EvalResult"),
    "trainer.errors": (
        "BrainMRIError",
        "ModelFileError",
        "RunFolderError",
        "RunLockedError",
        "UnreadableInputError",
        "os_error_text",
    ),
    "trainer.io": (
        "Scan",
        "ScanSlice",
        "SeriesInfo",
        "Window",
        "display_metadata",
        "load_paths",
        "read_grey",
    ),
    "trainer.io.dicom": ("read_header",),
    "trainer.io.geometry": ("SliceGeometry",),
    "trainer.io.scan": ("quantise",),
    "trainer.metrics": ("classification_report_text",),
    "trainer.modelfile": ("META_KEY", "read_metadata", "read_model_meta", "with_metadata"),
    "trainer.onnx_export": ("export_onnx",),
    "trainer.practice": (
        "PracticeAnswer",
        "PracticeItem",
        "PracticeSession",
        "PracticeSummary",
        "clear_saved_answers",
        "practice_set_dir",
        "summary_lines",
        "write_summary_pdf",
    ),
    "trainer.model_facts": ("ModelMeta",),
    "trainer.predict": ("Predictor",),
    "trainer.prediction_row": ("Prediction", "PredictionRow", "PredictionWarning", "RunPrediction"),
    "trainer.prediction_table": ("prediction_csv",),
    "trainer.preprocess": ("to_model_square",),
    "trainer.report": ("write_pdf_report",),
    "trainer.series_call": (
        "CLASS",
        "NOT_MRI",
        "UNSURE",
        "SeriesCall",
        "SliceCall",
        "series_call",
        "slice_call",
    ),
    "trainer.strip_colours": ("SeriesStrip", "cell_colour"),
    "trainer.train.engine": ("failure_kind", "fit"),
    "trainer.train.events": (
        "BatchEnded",
        "BatchSizeChanged",
        "CancelToken",
        "EpochEnded",
        "EpochStarted",
        "Event",
        "FileSkipped",
        "FitFailed",
        "FitFinished",
        "LogMessage",
        "PhaseChanged",
        "RunStarted",
    ),
    "trainer.train.pretrained": ("weights_available", "weights_cached"),
    "trainer.train.probe": ("ProbeProgress", "ProbeResult", "probe_key", "probe_speed"),
    "trainer.train.recipes": ("DEFAULT_MODEL_RECIPE", "RECIPES", "Recipe"),
    "trainer.train.run_data": ("split_for",),
    "trainer.train.run_evaluation": ("evaluate_run_steps",),
    "trainer.train.run_folder": (
        "CHECKPOINT_FILES",
        "MODEL_FILE",
        "STATE_FILE",
        "RunFolder",
        "read_run_config",
    ),
    "trainer.vocab": ("DEVICES", "OPTIMIZERS", "SCHEDULES", "SCHEDULE_LABELS", "SPLIT_METHODS"),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'trainer.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CHECKPOINT_FILES",
    "CLASS",
    "DEFAULT_MAP",
    "DEFAULT_MODEL_RECIPE",
    "DEFAULT_VAL_FRACTION",
    "DEVICES",
    "HEAT_FLOOR",
    "MAP_METHODS",
    "MAP_METHOD_LABELS",
    "META_KEY",
    "MODEL_FILE",
    "NOT_FOR_CLINICAL_USE",
    "NOT_MRI",
    "OPTIMIZERS",
    "PRESETS",
    "RECIPES",
    "SCHEDULES",
    "SCHEDULE_LABELS",
    "SPLIT_METHODS",
    "STATE_FILE",
    "TESTING_DIR",
    "UNSURE",
    "BatchEnded",
    "BatchSizeChanged",
    "BrainMRIError",
    "CancelToken",
    "DeviceChoice",
    "EpochEnded",
    "EpochStarted",
    "EvalProgress",
    "EvalResult",
    "Event",
    "FileSkipped",
    "FitFailed",
    "FitFinished",
    "LogMessage",
    "MapSpec",
    "ModelFileError",
    "ModelMeta",
    "PhaseChanged",
    "PracticeAnswer",
    "PracticeItem",
    "PracticeSession",
    "PracticeSummary",
    "Prediction",
    "PredictionRow",
    "PredictionWarning",
    "Predictor",
    "ProbeProgress",
    "ProbeResult",
    "Recipe",
    "RunFolder",
    "RunFolderError",
    "RunLockedError",
    "RunPrediction",
    "RunStarted",
    "Scan",
    "ScanSlice",
    "SeriesCall",
    "SeriesInfo",
    "SeriesStrip",
    "SliceCall",
    "SliceGeometry",
    "SplitSpec",
    "TrainConfig",
    "UnreadableInputError",
    "Window",
    "__version__",
    "apply_overrides",
    "assets_dir",
    "atomic_path",
    "available_devices",
    "cell_colour",
    "check_dataset",
    "classification_report_text",
    "clear_saved_answers",
    "default_model_path",
    "describe_device",
    "device_choices",
    "discover",
    "display_metadata",
    "evaluate_run_steps",
    "export_onnx",
    "failure_kind",
    "fit",
    "has_gpu",
    "heat_rgba",
    "legend_rgba",
    "load_paths",
    "localization_sentence",
    "make_split",
    "may_have_gpu",
    "os_error_text",
    "parse_map_spec",
    "practice_set_dir",
    "prediction_csv",
    "preset_config",
    "probe_key",
    "probe_speed",
    "quantise",
    "read_cell",
    "read_grey",
    "read_header",
    "read_localization",
    "read_metadata",
    "read_model_meta",
    "read_run_config",
    "render_overlay",
    "samples_dir",
    "series_call",
    "side_by_side",
    "slice_call",
    "split_for",
    "summary_lines",
    "to_model_square",
    "user_data_dir",
    "user_models_dir",
    "weights_available",
    "weights_cached",
    "with_metadata",
    "write_pdf_report",
    "write_summary_pdf",
    "write_text",
]
