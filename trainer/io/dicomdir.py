"""A DICOMDIR read the way a CD or USB export is meant to be read: by the images it lists.

A DICOMDIR (PS3.10, Media Storage Directory) is the index of a file set: patient, study and
series records, and one IMAGE record per image naming its file by Referenced File ID, a path
of at most eight components relative to the DICOMDIR's folder. Weasis and RadiAnt open it;
here too, given alone or found in a folder, it stands for the images it lists and is itself
neither a scan nor an error. Only IMAGE records are followed: a file set may also list
reports or presentation states, which are not images and are not part of what was asked for.

Referenced File IDs are untrusted: a component that is empty, "." or "..", or that holds a
path separator would name a file outside the file set, and is refused. Exports made on
Windows or from ISO 9660 media often differ from the index in letter case only, so a
component not found as written is looked up without regard to case.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trainer.errors import UnreadableInputError
from trainer.io import dicom_values as values
from trainer.io.quiet import quietly

__all__ = ["listed_images"]

_IMAGE_RECORD = "IMAGE"
_BAD_PARTS = {"", ".", ".."}


@quietly  # the records' values are read here
def listed_images(path: Path, index: Any) -> list[Path | UnreadableInputError]:
    """The image files a DICOMDIR (read as ``index``, a pydicom Dataset) lists, in its order,
    each found on disk, or an error naming the file that is missing or that would lie outside
    the file set. A DICOMDIR that lists no image at all is one error of its own."""
    records = values.sequence(index, "DirectoryRecordSequence")  # none when malformed
    folder = path.parent
    found: list[Path | UnreadableInputError] = []
    for record in records:
        if values.checked_text(record, "DirectoryRecordType") != _IMAGE_RECORD:
            continue
        parts = _file_id(record)
        if parts is None:
            continue  # an IMAGE record without a file (the image lives elsewhere)
        if any(part in _BAD_PARTS or "/" in part or "\\" in part or "\0" in part for part in parts):
            found.append(
                UnreadableInputError(path, "DICOMDIR lists a file outside its folder; not read")
            )
            continue
        found.append(_locate(folder, parts))
    if not found:
        return [UnreadableInputError(path, "a DICOMDIR index that lists no images")]
    return found


def _file_id(record: Any) -> list[str] | None:
    value = values.get(record, "ReferencedFileID")
    if value is None:
        return None
    parts = [value] if isinstance(value, str) else list(value)
    return [str(part).strip() for part in parts]


def _locate(folder: Path, parts: list[str]) -> Path | UnreadableInputError:
    """``folder / parts``, each component matched as written, else regardless of case."""
    current = folder
    for part in parts:
        exact = current / part
        if os.path.lexists(exact):
            current = exact
            continue
        match = _case_insensitive(current, part)
        if match is None:
            missing = folder.joinpath(*parts)
            return UnreadableInputError(missing, "listed in the DICOMDIR but not found")
        current = match
    return current


def _case_insensitive(folder: Path, name: str) -> Path | None:
    try:
        with os.scandir(folder) as listing:
            for entry in listing:
                if entry.name.lower() == name.lower():
                    return folder / entry.name
    except OSError:
        return None
    return None
