"""What the viewer holds, as plain data: the loaded items and the keys its results are cached by.

Qt-free, so that the parts of the viewer that only decide (``planner.py``) or compute
(``analysis.py``) can be imported, and tested, without a Qt binding. ``state.py`` wraps these
in the Qt object every widget listens to, and re-exports them.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trainer.api import MAP_METHOD_LABELS

if TYPE_CHECKING:
    import numpy as np

    from trainer.api import Scan, ScanSlice, Window

__all__ = [
    "CAM_LABELS",
    "MAX_CAMS",
    "NO_TUMOUR",
    "PREDICTED",
    "CamKey",
    "SliceKey",
    "ViewerItem",
]

# the heat-map choices in words: the model's own map (its file's, else the default), then
# every method as trainer names it (``trainer.cam.spec``)
CAM_LABELS: dict[str, str] = dict([("", "Default map"), *MAP_METHOD_LABELS.items()])
PREDICTED = ""  # target-class value meaning "the predicted class"
NO_TUMOUR = "notumor"  # the data set's class name for a slice without a tumour
MAX_CAMS = 64  # CAM maps kept in memory (a series scrolled end to end would hold hundreds)

CamKey = tuple[int, int, str, str]  # item id, position, method, target
SliceKey = tuple[int, int]  # item id, position

_ids = itertools.count(1)


@dataclass(eq=False)
class ViewerItem:
    """One entry of the item list: a readable scan, or a path with the reason it is not."""

    source: Path
    scan: Scan | None = None
    error: str | None = None
    thumbnail: np.ndarray | None = None  # uint8 grey, at most 96 px
    position: int = 0  # index into scan.slices
    window: Window | None = None  # the user's window; None = each slice's default
    details: list[str] = field(default_factory=list)  # per-file reasons behind ``error``
    id: int = field(default_factory=lambda: next(_ids))

    @property
    def name(self) -> str:
        return self.source.name or str(self.source)

    @property
    def n_slices(self) -> int:
        return len(self.scan.slices) if self.scan is not None else 0

    @property
    def is_series(self) -> bool:
        return self.n_slices > 1

    @property
    def is_dicom(self) -> bool:
        return self.scan is not None and self.scan.kind.startswith("dicom")

    @property
    def current_slice(self) -> ScanSlice | None:
        if self.scan is None or not self.scan.slices:
            return None
        return self.scan.slices[min(self.position, self.n_slices - 1)]

    @property
    def position_label(self) -> str:
        return f"slice {self.position + 1} of {self.n_slices}" if self.is_series else ""
