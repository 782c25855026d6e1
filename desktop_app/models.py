"""Which models the app knows, and which one is active.

:class:`QtModelRegistry` is the model the viewer, the status bar, the Model menu and the
Training tab share (they get it in their constructors). It lists the bundled default, the
models in the user's models folder and model files the user opened, and loads the active one
into a :class:`~trainer.predict.Predictor` in a worker: building an EfficientNet and reading
its weights takes a second or more, and the window must stay live meanwhile.

Signals (past tense):

* ``models_changed()``: the list changed (Model menu rebuilds itself).
* ``loading_started(entry)``: a model is being loaded (status bar says so).
* ``active_model_changed(entry)``: the new model is loaded; ``registry.predictor`` is ready.
* ``errored(entry, message)``: a model could not be loaded; the previous one stays active.
* ``fell_back(entry, message)``: the model used last time could not be loaded at start-up,
  so the bundled default is being loaded instead (said once, in the status bar).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop_app.gc_guard import installed_gc_guard
from desktop_app.messages import plain_message
from desktop_app.settings import AppSettings
from desktop_app.skipped import Skipped
from desktop_app.workers import QtGeneratorWorker
from trainer.api import ModelFileError, default_model_path, read_model_meta, user_models_dir

if TYPE_CHECKING:
    from trainer.api import ModelMeta, Predictor

__all__ = ["ModelEntry", "QtModelRegistry", "load_predictor"]

log = logging.getLogger(__name__)

BUNDLED, USER, FILE = "bundled", "user", "file"


@dataclass(frozen=True)
class ModelEntry:
    """One model the app can use. ``info`` is read from the file's header (no weights)."""

    path: Path
    origin: str  # "bundled", "user" (the user's models folder) or "file" (opened by hand)
    info: ModelMeta = field(compare=False, hash=False)

    @property
    def label(self) -> str:
        name = self.info.name or self.path.stem
        if self.origin == BUNDLED:
            return f"Default model ({name})"
        return f"{name} — {self.path.name}"

    @property
    def backbone(self) -> str:
        return self.info.backbone

    @property
    def test_accuracy(self) -> float | None:
        return self.info.test_accuracy

    @property
    def summary(self) -> str:
        """name, backbone, test accuracy: what the status bar shows."""
        acc = self.test_accuracy
        shown = f", test accuracy {acc:.1%}" if acc is not None else ", test accuracy unknown"
        return f"{self.info.name or self.path.stem} ({self.backbone}{shown})"


def load_predictor(path: Path, device: str) -> Generator[str, None, Predictor]:
    """Worker body: load the model, then run it once so the first real image is fast.

    The warm-up matters on a CPU: the first forward and backward passes allocate and pick
    kernels, which would otherwise land on the user's first image.
    """
    from trainer.api import Predictor

    yield f"loading {path.name}"
    predictor = Predictor(path, device=device)
    yield "warming up"
    blank = np.zeros((predictor.input_size, predictor.input_size), np.float32)
    blank[8:-8, 8:-8] = 0.5
    predictor.predict_arrays([blank])
    predictor.explain(blank, "gradcam")
    return predictor


class QtModelRegistry(QObject):
    """The list of known models and the one in use (see the module docstring)."""

    models_changed = Signal()
    loading_started = Signal(object)  # ModelEntry
    active_model_changed = Signal(object)  # ModelEntry
    errored = Signal(object, str)  # ModelEntry | None, message
    fell_back = Signal(object, str)  # the ModelEntry that failed, message for the status bar

    def __init__(
        self, settings: AppSettings, device: str = "auto", parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.device = device
        self.predictor: Predictor | None = None
        self.active: ModelEntry | None = None
        self.loading: ModelEntry | None = None
        self.last_error: str | None = None  # the latest load failure, for scripts and tests
        self.skipped: list[Skipped] = []  # model files left out of the list, and why
        self._models: list[ModelEntry] = []
        self._worker: QtGeneratorWorker | None = None
        self.refresh()

    # -- the list -------------------------------------------------------------------------
    def models(self) -> list[ModelEntry]:
        return list(self._models)

    @property
    def default_model_path(self) -> Path:
        return default_model_path()

    def refresh(self) -> None:
        """Re-read the bundled model, the user's models folder and the opened files."""
        entries: list[ModelEntry] = []
        self.skipped = []
        bundled = default_model_path()
        if bundled.is_file():
            entries += self._entries([bundled], BUNDLED)
        user_dir = user_models_dir()
        if user_dir.is_dir():
            entries += self._entries(_model_files(user_dir), USER)
        entries += self._entries([Path(p) for p in self.settings.model_files], FILE)
        seen: set[Path] = set()
        self._models = []
        for entry in entries:
            key = entry.path.resolve()
            if key not in seen:
                seen.add(key)
                self._models.append(entry)
        self.models_changed.emit()

    def _entries(self, paths: list[Path], origin: str) -> list[ModelEntry]:
        out = []
        for path in paths:
            try:
                # timm's check of the backbone's name waits for the load (it imports torch)
                info = read_model_meta(path, check_backbone=False)
                out.append(ModelEntry(path, origin, info))
            except ModelFileError as exc:  # a stale or foreign file: not listed, but said
                log.info("skipping model %s", exc)
                why = plain_message(exc).removeprefix(f"{path}: ").replace(" ;", ";")
                if all(s.what != str(path) for s in self.skipped):
                    self.skipped.append(Skipped(str(path), why))
        return out

    def find(self, path: str | Path) -> ModelEntry | None:
        key = Path(path).resolve()
        return next((e for e in self._models if e.path.resolve() == key), None)

    def add_model(self, path: str | Path, activate: bool = True) -> ModelEntry:
        """Make a model file known (and by default load it). The Training tab's "Use in viewer".

        Raises:
            ModelFileError: not a brainmri model file; the message names the file.
        """
        path = Path(path)
        info = read_model_meta(path)  # fails fast, before anything changes
        entry = self.find(path)
        if entry is None:
            try:
                inside_user_dir = path.resolve().is_relative_to(user_models_dir().resolve())
            except OSError:
                inside_user_dir = False
            origin = USER if inside_user_dir else FILE
            entry = ModelEntry(path, origin, info)
            self._models.append(entry)
            if origin == FILE:
                files = [p for p in self.settings.model_files if Path(p) != path]
                self.settings.model_files = [*files, str(path)]
            self.models_changed.emit()
        if activate:
            self.activate(entry)
        return entry

    # -- the active model -----------------------------------------------------------------
    def load_initial(self) -> None:
        """Activate the model used last time if it still exists, else the bundled default."""
        last = self.settings.active_model
        entry = self.find(last) if last else None
        if entry is None:
            entry = next((e for e in self._models if e.origin == BUNDLED), None)
        if entry is None:
            entry = self._models[0] if self._models else None
        if entry is None:
            self._fail(
                None,
                f"No model installed: the default model is missing ({default_model_path()}). "
                "Open a model file (Model → Open model file…) or train one in the Training tab.",
            )
            return
        self.activate(entry)

    def activate(self, entry: ModelEntry) -> None:
        """Load ``entry`` in the background; the current model stays usable meanwhile."""
        if self._worker is not None:
            self._worker.quit()  # its result is ignored (see _on_loaded)
        self.loading = entry
        self.loading_started.emit(entry)
        worker = QtGeneratorWorker(
            load_predictor, entry.path, self.device, name=f"loading {entry.path.name}", owner=self
        )
        worker.returned.connect(lambda predictor: self._on_loaded(worker, entry, predictor))
        worker.errored.connect(lambda exc: self._on_errored(worker, entry, exc))
        self._worker = worker
        worker.start()

    def _on_loaded(self, worker: QtGeneratorWorker, entry: ModelEntry, predictor: Any) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        self.loading = None
        replaced, self.predictor = self.predictor, predictor
        self.active = entry
        self.last_error = None
        self.settings.active_model = "" if entry.origin == BUNDLED else str(entry.path)
        collector = installed_gc_guard()
        if collector is not None:  # full collections skip the start-up heap (gc_guard.py)
            if replaced is None:
                collector.freeze_long_lived()
            else:
                collector.thaw_until_collected(replaced)
        self.active_model_changed.emit(entry)

    def _on_errored(self, worker: QtGeneratorWorker, entry: ModelEntry, exc: Exception) -> None:
        if worker is not self._worker:
            return
        self._worker = None
        self.loading = None
        message = _message(entry.path, exc)
        default = next((e for e in self._models if e.origin == BUNDLED), None)
        if self.active is None and default is not None and entry != default:
            # Start-up with a remembered model that no longer loads: a working app with the
            # default model beats "Model: none" on every start. Once the default has loaded
            # it is remembered instead, so this is said once.
            log.warning("model not loaded, using the default instead: %s", message)
            self.last_error = message
            self.fell_back.emit(
                entry,
                f"The model used last time could not be opened, so the default model is used "
                f"instead ({message})",
            )
            self.activate(default)
            return
        self._fail(entry, message)

    def _fail(self, entry: ModelEntry | None, message: str) -> None:
        log.warning("model not loaded: %s", message)
        self.last_error = message
        self.errored.emit(entry, message)

    @property
    def is_loading(self) -> bool:
        return self._worker is not None


def _model_files(folder: Path) -> list[Path]:
    """The model files in the user's models folder and its subfolders, hidden ones left out:
    "Keep model" builds a model in a hidden staging folder (``.<name>.….partial``) and then
    renames it into place, and a half-made copy (or one a crash left) is no model to offer."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            Path(root) / name
            for name in sorted(files)
            if name.endswith(".safetensors") and not name.startswith(".")
        ]
    return sorted(found)


def _message(path: Path, exc: BaseException) -> str:
    """One line naming the file: ModelFileError messages already do, others get it added."""
    text = plain_message(exc)
    return text if str(path) in text else f"{path}: {text}"
