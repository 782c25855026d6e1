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

Also here, so that ``trainer.io`` can tell what a file is without loading pydicom, which only
DICOM files need: :func:`looks_like_dicom` (the content test) and :class:`DicomDirIndex`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainer.errors import UnreadableInputError
from trainer.io.quiet import quietly

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["DicomDirIndex", "listed_images", "looks_like_dicom"]

_IMAGE_RECORD = "IMAGE"
_BAD_PARTS = {"", ".", ".."}


def looks_like_dicom(head: bytes) -> bool:
    """DICOM by content: "DICM" after the 128-byte preamble, or, for files written without the
    preamble and file meta, a first element of group 0x0002 or 0x0008 (little or big endian)."""
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    if group_le not in (0x0002, 0x0008) and group_be != 0x0008:
        return False
    if head[4:6].isalpha() and head[4:6].isupper():  # explicit VR: two capital letters
        return True
    length = int.from_bytes(head[4:8], "little")  # implicit VR little endian: a sane length
    return group_le == 0x0008 and length < 1024


class DicomDirIndex(UnreadableInputError):
    """A DICOMDIR: not an image itself, but an index of the images of a CD or USB export.

    Raised by ``trainer.io.dicom.read_header`` like any file that is not an image (a
    single-file reader has nothing to show), and recognised by its type where a whole input
    is planned, which reads the images it lists (:func:`listed_images`) instead.
    """

    def __init__(self, path: Path, dataset: Dataset) -> None:
        super().__init__(path, "a DICOMDIR index of other files, not an image")
        self.dataset = dataset


@quietly  # the records' values are read here
def listed_images(path: Path, index: Any) -> list[Path | UnreadableInputError]:
    """The image files a DICOMDIR (read as ``index``, a pydicom Dataset) lists, in its order,
    each found on disk, or an error naming the file that is missing or that would lie outside
    the file set. A DICOMDIR that lists no image at all is one error of its own."""
    from trainer.io import dicom_values as values  # pydicom: loaded with the DICOMDIR

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
    from trainer.io import dicom_values as values

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
