"""The viewer's state: loaded items, the current one, display settings and cached results.

Every viewer widget receives this object in its constructor and listens to its signals, so
no widget talks to another one directly (napari's layer/dims pattern). Results are cached by
what they depend on, never by "what is on screen": a prediction that arrives late for an item
the user has left is still right and is kept, it is just not shown. That removes a whole
class of races between workers and the selection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from desktop_app.settings import DEFAULT_CAM_METHOD, DEFAULT_OPACITY
from desktop_app.viewer.items import (
    CAM_LABELS,
    MAX_CAMS,
    NO_TUMOUR,
    PREDICTED,
    CamKey,
    SliceKey,
    ViewerItem,
)

if TYPE_CHECKING:
    from trainer.api import ModelMeta, Prediction, SeriesCall, SliceCall, Window

__all__ = [
    "CAM_LABELS",
    "NO_TUMOUR",
    "PREDICTED",
    "CamKey",
    "DisplaySettings",
    "QtViewerState",
    "SliceKey",
    "ViewerItem",
]


@dataclass
class DisplaySettings:
    invert: bool = False
    overlay: bool = True
    opacity: float = DEFAULT_OPACITY
    cam_method: str = DEFAULT_CAM_METHOD
    target: str = PREDICTED  # a class name, or PREDICTED
    side_by_side: bool = False
    show_identifiers: bool = False


class QtViewerState(QObject):
    """Holds the items and everything the viewer shows about them; emits when they change."""

    items_added = Signal(list)  # list[ViewerItem]
    items_cleared = Signal()
    item_updated = Signal(object)  # ViewerItem whose label/status changed
    current_changed = Signal(object)  # ViewerItem | None
    view_changed = Signal()  # slice, window or display setting: the canvas redraws
    results_changed = Signal()  # a prediction, CAM or error arrived (or the cache was cleared)
    classes_changed = Signal(list)  # the active model's classes
    slice_classified = Signal(int)  # item id: one of its slices has its prediction now
    # what the viewer asks the model about changed (the item, the slice, the map or the model):
    # the tab plans the analysis again (planner.py); results arriving do not emit it
    wanted_changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[ViewerItem] = []
        self.current: ViewerItem | None = None
        self.display = DisplaySettings()
        self.classes: list[str] = []
        self.model_meta: dict[str, Any] = {}  # the active model's metadata (what it says of itself)
        self.predictions: dict[SliceKey, Prediction] = {}
        self.cams: dict[CamKey, np.ndarray] = {}  # float maps in [0, 1] (exports use these)
        self.heats: dict[CamKey, np.ndarray] = {}  # the same maps coloured, uint8 RGB (display)
        self.errors: dict[SliceKey, str] = {}  # prediction failed: nothing more is tried
        self.cam_errors: dict[CamKey, str] = {}  # one CAM failed: other methods may still work
        self.identifiers: dict[int, dict[str, str]] = {}  # only while the user asks for them

    # -- items --------------------------------------------------------------------------
    def add_items(self, items: list[ViewerItem]) -> None:
        if not items:
            return
        self.items.extend(items)
        self.items_added.emit(items)
        if self.current is None:
            self.select(next((i for i in items if i.scan is not None), None))
        self.wanted_changed.emit()  # new items are classified in the background

    def clear(self) -> None:
        self.items.clear()
        self.predictions.clear()
        self.cams.clear()
        self.heats.clear()
        self.errors.clear()
        self.cam_errors.clear()
        self.identifiers.clear()
        self.items_cleared.emit()
        self.select(None)

    def select(self, item: ViewerItem | None) -> None:
        if item is self.current:
            return
        self.current = item
        # A target class chosen for one image means nothing for the next one (it showed a
        # blank overlay and went into its PDF report): each image starts at its prediction.
        self.display.target = PREDICTED
        self.current_changed.emit(item)
        self.view_changed.emit()
        self.results_changed.emit()
        self.wanted_changed.emit()

    # -- slices and window ------------------------------------------------------------------
    def set_position(self, position: int) -> None:
        item = self.current
        if item is None or item.n_slices == 0:
            return
        position = max(0, min(int(position), item.n_slices - 1))
        if position == item.position:
            return
        item.position = position
        self.view_changed.emit()
        self.results_changed.emit()
        self.item_updated.emit(item)
        self.wanted_changed.emit()

    def step(self, delta: int) -> None:
        if self.current is not None:
            self.set_position(self.current.position + delta)

    def set_window(self, window: Window | None) -> None:
        if self.current is None:
            return
        self.current.window = window
        self.view_changed.emit()

    # -- display settings -----------------------------------------------------------------
    def set_display(self, **changes: Any) -> None:
        """Change display settings (``opacity=0.3``, ``cam_method="eigencam"``...)."""
        changed = False
        for name, value in changes.items():
            if not hasattr(self.display, name):
                raise AttributeError(f"no display setting {name!r}")
            if getattr(self.display, name) != value:
                setattr(self.display, name, value)
                changed = True
        if changed:
            self.view_changed.emit()
            self.results_changed.emit()
            self.wanted_changed.emit()

    def set_classes(self, classes: list[str], info: ModelMeta | None = None) -> None:
        """A new model: its classes and checked metadata (``Predictor.info``; None when no
        model is active), and every cached result is void. ``model_meta`` keeps the metadata
        object as the file holds it (what ``localization_sentence`` reads)."""
        self.classes = list(classes)
        self.model_meta = dict(info.raw) if info is not None else {}
        if self.display.target not in self.classes:
            self.display.target = PREDICTED
        self.predictions.clear()
        self.cams.clear()
        self.heats.clear()
        self.errors.clear()
        self.cam_errors.clear()
        self.classes_changed.emit(self.classes)
        for item in self.items:
            self.item_updated.emit(item)
        self.view_changed.emit()
        self.results_changed.emit()
        self.wanted_changed.emit()

    # -- results ----------------------------------------------------------------------------
    def slice_key(self, item: ViewerItem | None = None) -> SliceKey | None:
        item = item if item is not None else self.current
        if item is None or item.scan is None:
            return None
        return (item.id, item.position)

    def cam_key(self, item: ViewerItem | None = None) -> CamKey | None:
        key = self.slice_key(item)
        if key is None:
            return None
        return (*key, self.display.cam_method, self.display.target)

    def prediction(self, item: ViewerItem | None = None) -> Prediction | None:
        key = self.slice_key(item)
        return self.predictions.get(key) if key else None

    def cam(self, item: ViewerItem | None = None) -> np.ndarray | None:
        key = self.cam_key(item)
        return self.cams.get(key) if key else None

    def error(self, item: ViewerItem | None = None) -> str | None:
        """Why the prediction failed (None if it did not)."""
        key = self.slice_key(item)
        return self.errors.get(key) if key else None

    def cam_error(self, item: ViewerItem | None = None) -> str | None:
        """Why the CAM asked for now failed (None if it did not)."""
        key = self.cam_key(item)
        return self.cam_errors.get(key) if key else None

    def store_prediction(self, key: SliceKey, prediction: Prediction) -> None:
        self.predictions[key] = prediction
        self._announce(key)
        self.slice_classified.emit(key[0])

    def store_predictions(self, results: list[tuple[SliceKey, Prediction]]) -> None:
        """A batch of the strip's background work: stored at once, then one
        ``slice_classified`` per item, so that the widgets redraw once per batch."""
        for key, prediction in results:
            self.predictions[key] = prediction
        current = self.slice_key()
        positions = {item.id: item.position for item in self.items}
        for key, _ in results:
            if key == current or positions.get(key[0]) == key[1]:
                self._announce(key)
        for item_id in dict.fromkeys(key[0] for key, _ in results):
            self.slice_classified.emit(item_id)

    # -- the series: every slice's call, and the series' summary ----------------------------
    def slice_calls(self, item: ViewerItem) -> list[SliceCall | None]:
        """Each slice's call (trainer.series_call), None where there is no prediction yet."""
        from trainer.api import slice_call

        calls: list[SliceCall | None] = []
        for position in range(item.n_slices):
            prediction = self.predictions.get((item.id, position))
            calls.append(slice_call(prediction) if prediction is not None else None)
        return calls

    def series_result(self, item: ViewerItem) -> SeriesCall | None:
        """The series call (trainer.series_call) once every slice of the series has its
        prediction or its error; None before that, and for an item that is not a series."""
        from trainer.api import series_call

        if not item.is_series:
            return None
        keys = [(item.id, position) for position in range(item.n_slices)]
        done = [key for key in keys if key in self.predictions]
        if not done or any(key not in self.predictions and key not in self.errors for key in keys):
            return None
        predictions = [self.predictions[key] for key in done]
        return series_call(predictions, self.classes, [key[1] for key in done])

    def series_summary(self, item: ViewerItem) -> str:
        """The series call's summary once every slice is classified, else how far it got;
        "" for an item that is not a series."""
        if not item.is_series:
            return ""
        result = self.series_result(item)
        if result is None:
            done = sum((item.id, p) in self.predictions for p in range(item.n_slices))
            return f"classifying slices: {done} of {item.n_slices}"
        failed = item.n_slices - result.slices
        return result.summary + (f" ({failed} could not be classified)" if failed else "")

    def map_withheld(self, item: ViewerItem | None = None) -> bool:
        """Is the map for this slice withheld? For a "no tumour" answer explained as the
        predicted class there is no lesion to point at, and a coloured patch on a healthy
        brain is the first thing a reader takes for one; the user can still ask for the map
        of any class under "Explain"."""
        pred = self.prediction(item)
        return (
            self.display.target == PREDICTED
            and pred is not None
            and (pred.predicted_class == NO_TUMOUR)
        )

    def heat(self, item: ViewerItem | None = None) -> np.ndarray | None:
        key = self.cam_key(item)
        return self.heats.get(key) if key else None

    def store_cam(self, key: CamKey, cam: np.ndarray, heat: np.ndarray) -> None:
        self.cams[key] = cam
        self.heats[key] = heat
        # Maps are big (about 2 MB for a 512² slice with its colours); keep the latest ones.
        # Predictions are small and are all kept.
        while len(self.cams) > MAX_CAMS:
            oldest = next(iter(self.cams))
            del self.cams[oldest]
            self.heats.pop(oldest, None)
        if key == self.cam_key():
            self.view_changed.emit()
            self.results_changed.emit()

    def store_error(self, key: SliceKey | CamKey, message: str) -> None:
        if len(key) == 2:
            self.errors[key[:2]] = message
        else:
            self.cam_errors[key] = message  # type: ignore[index]
        self._announce(key[:2])

    def _announce(self, key: SliceKey) -> None:
        item = next((i for i in self.items if i.id == key[0]), None)
        if item is not None and item.position == key[1]:
            self.item_updated.emit(item)
        if key == self.slice_key():
            self.view_changed.emit()  # the target class of the overlay may now be known
            self.results_changed.emit()

    def item_by_id(self, item_id: int) -> ViewerItem | None:
        return next((i for i in self.items if i.id == item_id), None)
