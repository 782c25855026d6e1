"""What the app remembers between sessions, behind typed accessors.

One class owns every key, so a typo cannot silently create a second setting and the types
that come back are the types that went in (QSettings' INI and registry back ends return
strings, and a one-element list comes back as a bare string).

Nothing identifying is stored: paths of recently opened files are kept because the user
opened them, but no DICOM attribute ever is.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from desktop_app.skipped import Skipped, shown_value
from trainer.api import MAP_METHODS

log = logging.getLogger(__name__)

ORGANIZATION = "brainmri"
APPLICATION = "brainmri-app"
MAX_RECENT = 10
DEFAULT_OPACITY = 0.6  # of the coloured part: the weak half of a map is never coloured
DEFAULT_CAM_METHOD = ""  # the model's own default map (trainer.cam.spec.DEFAULT_MAP)


class AppSettings:
    """Typed view of a :class:`QSettings` store.

    Pass a store to isolate tests (an INI file in a temporary folder) or to keep a
    screenshot run from touching the user's settings; by default the platform's usual place.

    A saved value that cannot be used (edited by hand, damaged, from another version) gives
    the default, and is listed in :meth:`skipped` until a new value is saved.
    """

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings(ORGANIZATION, APPLICATION)
        self._skipped: dict[str, Skipped] = {}

    def skipped(self) -> list[Skipped]:
        """The saved values read so far that could not be used (each gave its default)."""
        return list(self._skipped.values())

    def _skip(self, key: str, what: str, why: str) -> None:
        if key not in self._skipped:
            log.info("setting %s skipped: %s", key, why)
        self._skipped[key] = Skipped(what, why)

    def _set(self, key: str, value: Any) -> None:
        self._skipped.pop(key, None)
        self.store.setValue(key, value)

    @classmethod
    def in_file(cls, path: str | Path) -> AppSettings:
        return cls(QSettings(str(path), QSettings.Format.IniFormat))

    def sync(self) -> None:
        self.store.sync()

    # -- helpers --------------------------------------------------------------------------
    def _get(self, key: str, default: Any) -> Any:
        value = self.store.value(key, default)
        return default if value is None else value

    def _str_list(self, key: str) -> list[str]:
        value = self.store.value(key, [])
        if value is None or value == "":
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value]

    # -- folders and files ------------------------------------------------------------
    @property
    def last_folder(self) -> str:
        folder = str(self._get("files/last_folder", ""))
        return folder if folder and Path(folder).is_dir() else str(Path.home())

    @last_folder.setter
    def last_folder(self, folder: str | Path) -> None:
        self.store.setValue("files/last_folder", str(folder))

    @property
    def recent_files(self) -> list[str]:
        return self._str_list("files/recent")

    def add_recent(self, path: str | Path) -> None:
        path = str(path)
        recent = [p for p in self.recent_files if p != path]
        self.store.setValue("files/recent", [path, *recent][:MAX_RECENT])

    def clear_recent(self) -> None:
        self.store.setValue("files/recent", [])

    # -- display ------------------------------------------------------------------------
    @property
    def opacity(self) -> float:
        saved = self._get("display/opacity", DEFAULT_OPACITY)
        try:
            value = float(saved)
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):
            self._skip(
                "display/opacity",
                "Opacity (heat map setting)",
                f"the saved value {shown_value(saved)} is not a number, so the default "
                f"({DEFAULT_OPACITY:.0%}) is used",
            )
            return DEFAULT_OPACITY
        return min(1.0, max(0.0, value))

    @opacity.setter
    def opacity(self, value: float) -> None:
        self._set("display/opacity", float(value))

    @property
    def cam_method(self) -> str:
        method = str(self._get("display/cam_method", DEFAULT_CAM_METHOD))
        if method in MAP_METHODS or method == DEFAULT_CAM_METHOD:
            return method
        self._skip(
            "display/cam_method",
            "Method (heat map setting)",
            f"{shown_value(method)} is not a heat map method this version knows, so each "
            "model's own method is used",
        )
        return DEFAULT_CAM_METHOD

    @cam_method.setter
    def cam_method(self, method: str) -> None:
        self._set("display/cam_method", method)

    # -- models -------------------------------------------------------------------------
    @property
    def model_files(self) -> list[str]:
        """Model files the user opened by hand (the model menu lists them again)."""
        return self._str_list("models/files")

    @model_files.setter
    def model_files(self, paths: list[str]) -> None:
        self.store.setValue("models/files", list(paths))

    @property
    def active_model(self) -> str:
        """Path of the model last used, "" for the bundled default."""
        return str(self._get("models/active", ""))

    @active_model.setter
    def active_model(self, path: str) -> None:
        self.store.setValue("models/active", path)

    # -- window ---------------------------------------------------------------------------
    @property
    def geometry(self) -> QByteArray | None:
        return self._bytes("window/geometry", "Window size and position (setting)")

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._set("window/geometry", value)

    @property
    def window_state(self) -> QByteArray | None:
        return self._bytes("window/state", "Window layout (setting)")

    @window_state.setter
    def window_state(self, value: QByteArray) -> None:
        self._set("window/state", value)

    def _bytes(self, key: str, what: str) -> QByteArray | None:
        value = self.store.value(key)
        if isinstance(value, QByteArray) and not value.isEmpty():
            return value
        if value not in (None, "") and not isinstance(value, QByteArray):
            self._skip(key, what, "the saved value cannot be read, so the default is used")
        return None
