"""One reader for every scan a user can drop on the app: image files, DICOM files, DICOM series.

Formats are recognised by content, never by extension, and every failure is an
:class:`~trainer.errors.UnreadableInputError` naming the file, so that a batch goes on past it.
See ``docs/dicom.md`` for what is supported and for the privacy rule.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from trainer.errors import UnreadableInputError
from trainer.io import dicom, images, series
from trainer.io.privacy import display_metadata
from trainer.io.scan import MAX_IMAGE_PIXELS, Scan, ScanSlice, VoiLut, Window

__all__ = [
    "MAX_IMAGE_PIXELS",
    "Scan",
    "ScanSlice",
    "UnreadableInputError",
    "VoiLut",
    "Window",
    "display_metadata",
    "load_paths",
    "read_grey",
    "read_scan",
]

_HEAD_BYTES = 132  # 128-byte DICOM preamble + "DICM"


def read_scan(path: str | Path) -> Scan:
    """One file, recognised by its content: DICOM (with or without preamble) or an image."""
    path = Path(path)
    if _sniff(path) == "dicom":
        return dicom.read_dicom(path)
    return images.read_image(path)


def read_grey(path: str | Path) -> np.ndarray:
    """float32 (H, W) in [0, 1], equal to ``read_scan(path).slices[0].render()``.

    The training loader calls this for every image, so a JPEG or PNG costs one 132-byte read to
    rule out DICOM, then Pillow alone, and only the first frame is decoded.
    """
    path = Path(path)
    if _sniff(path) == "dicom":
        return dicom.read_dicom(path).slices[0].render()
    return images.read_first_slice(path).render()


def load_paths(
    paths: Iterable[str | Path],
) -> tuple[list[Scan], list[UnreadableInputError]]:
    """Files and folders (walked recursively, sorted, hidden entries skipped) into Scans.

    DICOM files are grouped into series (see :mod:`trainer.io.series`), images are one Scan
    each. Every file that cannot be read, including files in a folder that are not scans at
    all, becomes one error in the second list, and loading goes on with the rest. Scans and
    errors come in the order of their (first) file.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    order: dict[Path, int] = {}
    errors: list[UnreadableInputError] = []
    found: list[tuple[int, Scan]] = []
    dicom_files: list[series.DicomFile] = []
    for path in _files(paths):
        if isinstance(path, UnreadableInputError):  # a missing input or an unreadable folder
            order.setdefault(path.path, len(order))
            errors.append(path)
            continue
        order[path] = len(order)
        try:
            if _sniff(path) == "dicom":
                dicom_files.append(series.DicomFile(path, dicom.read_header(path)))
            else:
                found.append((order[path], images.read_image(path)))
        except UnreadableInputError as exc:
            errors.append(exc)
    for group in series.group_series(dicom_files):
        scan, failures = series.read_series(group)
        errors.extend(failures)
        if scan is not None:
            found.append((order[group[0].path], scan))
    found.sort(key=lambda item: item[0])
    errors.sort(key=lambda error: order.get(error.path, -1))
    return [scan for _, scan in found], errors


def _sniff(path: Path) -> str:
    """ "dicom" or "image" from the first bytes; an image that Pillow cannot open is reported
    by the image reader, which knows whether the content matched the extension."""
    if path.is_dir():
        raise UnreadableInputError(path, "is a folder, not a file")
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD_BYTES)
    except FileNotFoundError as exc:
        raise UnreadableInputError(path, "file not found") from exc
    except PermissionError as exc:
        raise UnreadableInputError(path, "permission denied") from exc
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    if not head:
        raise UnreadableInputError(path, "file is empty")
    return "dicom" if dicom.looks_like_dicom(head) else "image"


def _files(paths: Iterable[str | Path]) -> Iterator[Path | UnreadableInputError]:
    """Every file named or inside a named folder, once each, in a stable order; an input that
    does not exist or a folder that cannot be listed comes as an error in its place."""
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            candidates: Iterable[Path | UnreadableInputError] = _walk(path)
        elif path.exists():
            candidates = [path]
        else:
            candidates = [UnreadableInputError(path, "file not found")]
        for candidate in candidates:
            if isinstance(candidate, UnreadableInputError):
                yield candidate
                continue
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                yield candidate


def _walk(folder: Path) -> Iterator[Path | UnreadableInputError]:
    failures: list[OSError] = []
    for root, dirs, names in os.walk(folder, onerror=failures.append):
        yield from _folder_errors(failures, folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root) / name
    yield from _folder_errors(failures, folder)


def _folder_errors(failures: list[OSError], folder: Path) -> Iterator[UnreadableInputError]:
    while failures:
        exc = failures.pop(0)
        yield UnreadableInputError(
            exc.filename or folder, f"folder cannot be read ({exc.strerror})"
        )
