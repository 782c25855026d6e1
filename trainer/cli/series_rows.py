"""The ``"kind": "series"`` rows of ``brainmri predict``: one after the slice rows of each
DICOM series, with its slice count, per-class counts, strongest slices and call.

Why a tracker rather than a loop per series: the predictor batches slices across files (a
folder of single images runs eight at a time), so the stream of slices stays one stream, and
this module remembers which series each item came from. Results come back in the order of the
items (:meth:`trainer.predict.Predictor.predict_stream`), so the owner of each result is the
next one in a queue.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["SeriesRows"]


class SeriesRows:
    """Feed :meth:`track` to the predictor, call :meth:`before` with every result and
    :meth:`add` with every slice row, then :meth:`finish` once at the end."""

    def __init__(self, classes: list[str]) -> None:
        self.classes = classes
        self._owners: deque[Any] = deque()
        self._group: Any = None
        self._rows: list[dict[str, Any]] = []
        self._studies: dict[str, int] = {}

    def track(self, groups: Iterable[Any]) -> Iterator[Any]:
        """The items of :func:`trainer.io.iter_groups`, one stream, each owner remembered."""
        for group in groups:
            for item in group.items:
                self._owners.append(group)
                yield item

    def before(self, result: Any) -> list[dict[str, Any]]:
        """The series row of a series that ends before ``result`` (or nothing)."""
        owner = self._owners.popleft() if self._owners else None
        if owner is self._group:
            return []
        done = self._close()
        self._group, self._rows = owner, []
        return done

    def add(self, row: dict[str, Any]) -> None:
        """A slice row of the current item; kept only when the item is a DICOM series."""
        if self._group is not None and self._group.series is not None:
            self._rows.append(row)

    def finish(self) -> list[dict[str, Any]]:
        """The last series' row, once every result has been seen."""
        done = self._close()
        self._group, self._rows = None, []
        return done

    def _close(self) -> list[dict[str, Any]]:
        group, rows = self._group, self._rows
        if group is None or group.series is None or not rows:
            return []
        return [self._row(group.series, rows)]

    def _row(self, info: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
        from trainer.io.series import series_title
        from trainer.series_call import NOT_MRI, series_call

        call = series_call(rows, self.classes, [r["slice"] for r in rows])
        study = self._studies.setdefault(info.study, len(self._studies) + 1)
        title = series_title(
            info.number, info.description, info.modality, len(rows), info.stack, info.stacks
        )
        try:
            folder = os.path.commonpath([str(Path(r["path"]).parent) for r in rows])
        except ValueError:  # relative and absolute paths mixed, or different drives
            folder = str(Path(rows[0]["path"]).parent)
        return {
            "kind": "series",
            "path": folder,
            "slice": None,
            "series": title,
            "study": study,
            **call.to_json(),
            "predicted_class": call.predicted_class,
            "probabilities": None,
            "ood": call.state == NOT_MRI,
            "ood_score": None,
            "warnings": list(info.notes),
            "error": None,
            "cam": None,
        }
