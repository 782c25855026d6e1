"""DICOM files into series: which files belong together, and in which order.

A scanner writes one file per slice with arbitrary names, and copies shuffle them; the order
must come from the files' own attributes, in the order the DICOM standard gives them meaning:
Instance Number, then the position along the slice normal, then the file name as a last resort.

What a reader expects of a folder of exports (Weasis, RadiAnt and OHIF all do it):

* one item per series (Series Instance UID), grouped by study (Study Instance UID), titled by
  series number, description, modality and slice count, never by a patient attribute;
* the same image twice (one SOP Instance UID, e.g. one image in several transfer syntaxes, or a
  folder copied into itself) is one slice, not several; the copies left out are counted;
* a "series" whose images differ in size or orientation (a localiser kept with its slices, a
  reformat) cannot be one stack: it becomes separate stacks, and the title says so.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydicom import Dataset

from trainer.errors import UnreadableInputError
from trainer.io import dicom
from trainer.io import dicom_values as values
from trainer.io.guard import release
from trainer.io.privacy import shown_name
from trainer.io.quiet import quietly
from trainer.io.scan import Scan, ScanSlice, SeriesInfo


class DicomFile(NamedTuple):
    path: Path
    header: Dataset  # read with stop_before_pixels and accepted by dicom.read_header


@dataclass
class SeriesGroup:
    """Files read as one item: a stack of one series, or a file on its own (``info`` None:
    a multi-frame file, a file without a series UID, a series of one file)."""

    files: list[DicomFile]
    info: SeriesInfo | None = None


#: A per-process secret: study keys group series within a run of the program and say nothing
#: about the Study Instance UID they come from (a plain hash of a UID could be looked up).
_STUDY_SALT = secrets.token_bytes(16)
#: Orientations closer than this (direction cosines) are the same orientation.
_ORIENTATION_DECIMALS = 3


@quietly  # grouping reads the headers' values
def group_series(files: Sequence[DicomFile]) -> list[SeriesGroup]:
    """Files of one Series Instance UID together, in the order of their first file; each
    group with a title (:class:`SeriesInfo`) and its study key.

    A multi-frame file is a volume by itself, and a file without a Series Instance UID cannot
    be matched with anything: each of those is a group of its own. Within a series, copies of
    one SOP Instance UID after the first are left out, and images of another size or
    orientation make another stack (see the module docstring).
    """
    series: dict[object, list[DicomFile]] = {}
    for position, file in enumerate(files):
        uid = str(values.get(file.header, "SeriesInstanceUID", ""))
        alone = not uid or dicom.number_of_frames(file.header) > 1
        series.setdefault(position if alone else uid, []).append(file)
    groups: list[SeriesGroup] = []
    for members in series.values():
        unique, copies = _unique_instances(members)
        if len(unique) == 1:
            groups.append(SeriesGroup(unique, None))
            continue
        stacks = _stacks(unique)
        notes = []
        if copies:
            notes.append(
                f"{copies} duplicate cop{'y' if copies == 1 else 'ies'} of the same "
                f"image{'s' * (copies > 1)} left out"
            )
        if len(stacks) > 1:
            notes.append(
                f"this series holds images of {len(stacks)} different sizes or orientations; "
                f"read as {len(stacks)} separate stacks"
            )
        for number, stack in enumerate(stacks, start=1):
            info = series_info(stack[0].header, len(stack), number, len(stacks), tuple(notes))
            groups.append(SeriesGroup(stack, info))
    return groups


def _unique_instances(files: list[DicomFile]) -> tuple[list[DicomFile], int]:
    """The first file of each SOP Instance UID (files without one are all kept), and how
    many copies were left out."""
    seen: set[str] = set()
    kept: list[DicomFile] = []
    for file in files:
        uid = str(values.get(file.header, "SOPInstanceUID", ""))
        if uid and uid in seen:
            continue
        if uid:
            seen.add(uid)
        kept.append(file)
    return kept, len(files) - len(kept)


def _stacks(files: list[DicomFile]) -> list[list[DicomFile]]:
    """Files of one series split by image size and orientation, in the order of their first
    file; one stack when they all agree."""
    stacks: dict[tuple[object, ...], list[DicomFile]] = {}
    for file in files:
        stacks.setdefault(_stack_key(file.header), []).append(file)
    return list(stacks.values())


def _stack_key(header: Dataset) -> tuple[object, ...]:
    size = (values.get(header, "Rows"), values.get(header, "Columns"))
    cosines = values.floats(header, "ImageOrientationPatient")
    if cosines is None or len(cosines) != 6:
        return (*size, None)
    return (*size, tuple(round(v, _ORIENTATION_DECIMALS) + 0.0 for v in cosines))  # -0.0 is 0.0


def study_key(header: Dataset) -> str:
    """An opaque key equal for the files of one study in this process ("" without a Study
    Instance UID): a salted hash, so the UID itself is never kept, shown or exported."""
    uid = str(values.get(header, "StudyInstanceUID", ""))
    if not uid:
        return ""
    return hashlib.sha256(_STUDY_SALT + uid.encode()).hexdigest()[:16]


def sort_slices(files: Sequence[DicomFile]) -> list[DicomFile]:
    """Slices of one series in anatomical order (see module docstring)."""
    return sorted(files, key=_order_key)


def read_series(group: SeriesGroup) -> tuple[Scan | None, list[UnreadableInputError]]:
    """Decode one group from :func:`group_series`: the Scan (None when no file could be
    decoded) and one error per file that could not be; the others still make the series."""
    files = group.files
    if group.info is None:
        try:
            return dicom.file_scan(files[0].path, files[0].header), []
        except UnreadableInputError as exc:
            return None, [exc]
    ordered = sort_slices(files)
    slices: list[ScanSlice] = []
    errors: list[UnreadableInputError] = []
    for item in iter_series(group, ordered):
        if isinstance(item, UnreadableInputError):
            errors.append(item)
        else:
            slices.append(item)
    if not slices:
        return None, errors
    source = _common_folder([file.path for file in ordered])
    info = group.info
    if len(slices) != len(files):  # the title counts the slices that could be read
        info = series_info(ordered[0].header, len(slices), info.stack, info.stacks, info.notes)
    scan = Scan(
        source=source, kind="dicom-series", slices=slices, description=info.title, series=info
    )
    return scan, errors


def iter_series(
    group: SeriesGroup, ordered: Sequence[DicomFile] | None = None
) -> Iterator[ScanSlice | UnreadableInputError]:
    """The slices of one group from :func:`group_series`, decoded one at a time, in
    anatomical order (``ordered``: the group's files already sorted by :func:`sort_slices`);
    a file that cannot be decoded comes as an error in its place and the others still make
    the series. A file on its own keeps its own frame numbering; in a series, ``index`` is
    the slice's position among the slices that could be read."""
    if group.info is None:
        yield from _file_slices(group.files[0].path)
        return
    position = 0
    for file in ordered if ordered is not None else sort_slices(group.files):
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


def series_info(
    header: Dataset, count: int, stack: int = 1, stacks: int = 1, notes: tuple[str, ...] = ()
) -> SeriesInfo:
    """The series' title and facts, from checked values only (see :func:`series_title`)."""
    number = values.checked_text(header, "SeriesNumber")
    description = shown_name(values.checked_text(header, "SeriesDescription"), header, "")
    modality = values.checked_text(header, "Modality")
    return SeriesInfo(
        title=series_title(number, description, modality, count, stack, stacks),
        study=study_key(header),
        number=number,
        description=description,
        modality=modality,
        stack=stack,
        stacks=stacks,
        notes=notes,
    )


def series_title(
    number: str, description: str, modality: str, count: int, stack: int = 1, stacks: int = 1
) -> str:
    """ "MR series 5 – T1 AX (24 slices)", "MR series 5 – T1 AX, stack 2 of 2 (3 slices)":
    modality, number, description and slice count; nothing else, so no identifier can get in
    (a description holding an identifier of the file is left out whole by the caller)."""
    label = f"{modality} series" if modality else "Series"
    if number:
        label += f" {number}"
    if not modality and not number:
        label = "DICOM series"
    if description:
        label += f" – {description}"
    if stacks > 1:
        label += f"{',' if description else ' –'} stack {stack} of {stacks}"
    return f"{label} ({count} slice{'s' * (count != 1)})"


def slice_position(header: Dataset) -> float | None:
    """Image Position (Patient) projected on the slice normal: the slice's place along the
    stack, whatever the acquisition plane; None when either attribute is missing or broken."""
    cosines = values.floats(header, "ImageOrientationPatient")
    position = values.floats(header, "ImagePositionPatient")
    if cosines is None or position is None or len(cosines) != 6 or len(position) != 3:
        return None
    # Plain Python: with NumPy on these three numbers this took 11 ms for a series' 300
    # headers and starved the other threads meanwhile (one asking for the interpreter waited
    # up to 16 ms, not its 5 ms turn: the GUI stalled while a series was read); now 4 ms.
    (rx, ry, rz, cx, cy, cz), (x, y, z) = cosines, position
    normal = (ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx)  # row × column
    return normal[0] * x + normal[1] * y + normal[2] * z


def _order_key(file: DicomFile) -> tuple[bool, float, bool, float, str, str]:
    instance = values.number(file.header, "InstanceNumber")
    position = slice_position(file.header)
    return (
        instance is None,
        instance if instance is not None else 0.0,
        position is None,
        position if position is not None else 0.0,
        file.path.name,
        str(file.path),
    )


def _common_folder(paths: Sequence[Path]) -> Path:
    try:
        return Path(os.path.commonpath([path.parent for path in paths]))
    except ValueError:  # relative and absolute paths mixed, or different drives
        return paths[0].parent
