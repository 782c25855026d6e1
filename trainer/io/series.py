"""DICOM files into series: which files belong together, and in which order.

A scanner writes one file per slice with arbitrary names, and copies shuffle them; the order
must come from the files' own attributes, in the order the DICOM standard gives them meaning:
Instance Number, then the position along the slice normal, then the file name as a last resort.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from pydicom import Dataset

from trainer.errors import UnreadableInputError
from trainer.io import dicom
from trainer.io.guard import release
from trainer.io.privacy import checked_text, shown_name
from trainer.io.quiet import quietly
from trainer.io.scan import Scan, ScanSlice


class DicomFile(NamedTuple):
    path: Path
    header: Dataset  # read with stop_before_pixels and accepted by dicom.read_header


@quietly  # grouping reads the headers' values
def group_series(files: Sequence[DicomFile]) -> list[list[DicomFile]]:
    """Files of one SeriesInstanceUID together, groups in the order of their first file.

    A multi-frame file is a volume by itself, and a file without a Series Instance UID cannot
    be matched with anything: each of those is a group of its own.
    """
    groups: dict[object, list[DicomFile]] = {}
    for position, file in enumerate(files):
        uid = str(dicom.attribute(file.header, "SeriesInstanceUID", ""))
        alone = not uid or dicom.number_of_frames(file.header) > 1
        groups.setdefault(position if alone else uid, []).append(file)
    return list(groups.values())


def sort_slices(files: Sequence[DicomFile]) -> list[DicomFile]:
    """Slices of one series in anatomical order (see module docstring)."""
    return sorted(files, key=_order_key)


def read_series(files: Sequence[DicomFile]) -> tuple[Scan | None, list[UnreadableInputError]]:
    """Decode one group from :func:`group_series`: the Scan (None when no file could be
    decoded) and one error per file that could not be; the others still make the series."""
    if len(files) == 1:
        try:
            return dicom.file_scan(files[0].path, files[0].header), []
        except UnreadableInputError as exc:
            return None, [exc]
    ordered = sort_slices(files)
    slices: list[ScanSlice] = []
    errors: list[UnreadableInputError] = []
    for item in iter_series(ordered):
        if isinstance(item, UnreadableInputError):
            errors.append(item)
        else:
            slices.append(item)
    if not slices:
        return None, errors
    source = _common_folder([file.path for file in ordered])
    description = series_description(ordered[0].header, len(slices))
    return Scan(source=source, kind="dicom-series", slices=slices, description=description), errors


def iter_series(files: Sequence[DicomFile]) -> Iterator[ScanSlice | UnreadableInputError]:
    """The slices of one group from :func:`group_series`, decoded one at a time, in
    anatomical order; a file that cannot be decoded comes as an error in its place and the
    others still make the series. A group of one file keeps its own frame numbering; in a
    series, ``index`` is the slice's position among the slices that could be read."""
    if len(files) == 1:
        yield from _file_slices(files[0].path)
        return
    position = 0
    for file in sort_slices(files):
        for item in _file_slices(file.path):
            if isinstance(item, ScanSlice):
                item.index = position
                position += 1
            held = release(item)
            del item
            yield held.pop()


def _file_slices(path: Path) -> Iterator[ScanSlice | UnreadableInputError]:
    try:
        yield from dicom.iter_slices(path)
    except UnreadableInputError as exc:
        yield exc


def series_description(header: Dataset, count: int) -> str:
    """ "Series 5 – T1 AX (24 slices)": number and description only; a description holding an
    identifier of the file is left out whole."""
    number = checked_text(header, "SeriesNumber")
    text = shown_name(checked_text(header, "SeriesDescription"), header, "")
    label = f"Series {number}" if number else "DICOM series"
    if text:
        label += f" – {text}"
    return f"{label} ({count} slices)"


def slice_position(header: Dataset) -> float | None:
    """Image Position (Patient) projected on the slice normal: the slice's place along the
    stack, whatever the acquisition plane; None when either attribute is missing or broken."""
    try:
        orientation = np.asarray(
            [float(v) for v in dicom.attribute(header, "ImageOrientationPatient", [])]
        )
        position = np.asarray(
            [float(v) for v in dicom.attribute(header, "ImagePositionPatient", [])]
        )
    except (TypeError, ValueError):
        return None
    if orientation.shape != (6,) or position.shape != (3,):
        return None
    normal = np.cross(orientation[:3], orientation[3:])
    return float(np.dot(normal, position))


def _order_key(file: DicomFile) -> tuple[bool, float, bool, float, str, str]:
    instance = _instance_number(file.header)
    position = slice_position(file.header)
    return (
        instance is None,
        instance if instance is not None else 0.0,
        position is None,
        position if position is not None else 0.0,
        file.path.name,
        str(file.path),
    )


def _instance_number(header: Dataset) -> float | None:
    try:
        value = dicom.attribute(header, "InstanceNumber")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _common_folder(paths: Sequence[Path]) -> Path:
    try:
        return Path(os.path.commonpath([path.parent for path in paths]))
    except ValueError:  # relative and absolute paths mixed, or different drives
        return paths[0].parent
