"""One reader for every scan a user can drop on the app: image files, DICOM files, DICOM series.

Formats are recognised by content, never by extension, and every failure is an
:class:`~trainer.errors.UnreadableInputError` naming the file, so that a batch goes on past it.
See ``docs/dicom.md`` for what is supported and for the privacy rule.

pydicom is loaded only once a file's first bytes say DICOM (:func:`_sniff`): the modules that
need it (``dicom``, ``series``, ``privacy``, ``dicom_values``) are imported where such a file
is read, and on first use as attributes of this package (``trainer.io.dicom``), so reading a
JPEG or PNG does not pay for pydicom (about 0.2 s; tests/test_io_images.py checks it).
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from trainer.errors import UnreadableInputError
from trainer.io import dicomdir, images
from trainer.io.guard import guarded, iterate_guarded
from trainer.io.scan import (
    DEFAULT_MAX_FRAMES,
    MAX_IMAGE_PIXELS,
    Scan,
    ScanSlice,
    SeriesInfo,
    VoiLut,
    Window,
    max_frames,
)
from trainer.io.walk import NOT_REGULAR, walk_files

if TYPE_CHECKING:  # at run time from __getattr__, on first use
    from trainer.io import dicom as dicom
    from trainer.io import dicom_values as dicom_values
    from trainer.io import privacy as privacy
    from trainer.io import series as series
    from trainer.io.privacy import display_metadata

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "MAX_IMAGE_PIXELS",
    "Scan",
    "ScanSlice",
    "SeriesInfo",
    "SliceGroup",
    "UnreadableInputError",
    "VoiLut",
    "Window",
    "display_metadata",
    "first_slice",
    "iter_groups",
    "iter_slices",
    "load_paths",
    "max_frames",
    "read_grey",
    "read_scan",
    "walk_files",
]

_HEAD_BYTES = 132  # 128-byte DICOM preamble + "DICM"
_READ_FAILED = "could not be read"
#: What this package offers that needs pydicom: imported on first use (module docstring).
_WITH_PYDICOM = frozenset({"dicom", "dicom_values", "privacy", "series"})


def __getattr__(name: str) -> Any:
    if name in _WITH_PYDICOM:
        return importlib.import_module(f"{__name__}.{name}")
    if name == "display_metadata":
        return importlib.import_module(f"{__name__}.privacy").display_metadata
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def read_scan(path: str | Path) -> Scan:
    """One file, recognised by its content: DICOM (with or without preamble) or an image."""
    path = Path(path)
    with guarded(path, _READ_FAILED):
        if _sniff(path) == "dicom":
            from trainer.io import dicom

            return dicom.read_dicom(path)
        return images.read_image(path)


def read_grey(path: str | Path) -> np.ndarray:
    """float32 (H, W) in [0, 1], equal to ``read_scan(path).slices[0].render()``.

    The training loader calls this for every image, so a JPEG or PNG costs one 132-byte read to
    rule out DICOM, then Pillow alone, and only the first frame is decoded.
    """
    path = Path(path)
    with guarded(path, _READ_FAILED):
        if _sniff(path) == "dicom":
            from trainer.io import dicom

            dicom.read_header(path)
            return _first(path, dicom.iter_slices(path)).render()
        return images.read_first_slice(path).render()


def first_slice(path: str | Path) -> tuple[ScanSlice, int]:
    """The first slice of a file and how many it holds, decoding the first one only (what a
    data-set check needs to know about a file, at the cost of one frame)."""
    path = Path(path)
    with guarded(path, _READ_FAILED):
        if _sniff(path) == "dicom":
            from trainer.io import dicom

            header = dicom.read_header(path)
            return _first(path, dicom.iter_slices(path)), dicom.number_of_frames(header)
        pages = images.PageCount()
        return _first(path, images.iter_pages(path, pages)), pages.count


def _first(path: Path, slices: Iterator[ScanSlice]) -> ScanSlice:
    try:
        return next(slices)
    except StopIteration:
        raise UnreadableInputError(path, "file holds no image") from None
    finally:
        slices.close()  # type: ignore[attr-defined]


def load_paths(
    paths: Iterable[str | Path],
) -> tuple[list[Scan], list[UnreadableInputError]]:
    """Files and folders (walked, sorted, hidden entries skipped) into Scans, all decoded.

    DICOM files are grouped into series (see :mod:`trainer.io.series`), images are one Scan
    each. Every file that cannot be read, including files in a folder that are not scans at
    all, becomes one error in the second list, and loading goes on with the rest. Scans and
    errors come in the order of their (first) file. See :func:`iter_slices` for the same
    inputs one slice at a time.
    """
    found: list[Scan] = []
    errors: list[tuple[int, UnreadableInputError]] = []
    for job in _plan(paths):
        if job.error is not None:
            errors.append((job.order, job.error))
            continue
        try:
            with guarded(job.path, _READ_FAILED):
                if job.group is None:
                    found.append(images.read_image(job.path))
                    continue
                from trainer.io import series  # a DICOM group: pydicom is loaded

                scan, failures = series.read_series(job.group)
        except UnreadableInputError as exc:
            errors.append((job.order, exc))
            continue
        errors += [(job.order_of(failure.path), failure) for failure in failures]
        if scan is not None:
            found.append(scan)
    errors.sort(key=lambda item: item[0])
    return found, [error for _, error in errors]


def iter_slices(paths: Iterable[str | Path]) -> Iterator[ScanSlice | UnreadableInputError]:
    """The inputs of :func:`load_paths` as a stream of slices and per-file errors, in the same
    order, each slice decoded only when it is asked for: a consumer that drops each slice
    before asking for the next one holds one decoded frame at a time, whatever the files.

    Headers are read first (DICOM files must be grouped into series before any is decoded).
    A file that fails part-way (frame 7 of 10 is corrupt) gives its first slices, then its
    error.
    """
    for group in iter_groups(paths):
        yield from group.items


@dataclass
class SliceGroup:
    """One input of :func:`iter_groups`: the slices of a file or of a DICOM series (``series``
    set, a :class:`SeriesInfo`), or a single error, as a lazy stream."""

    path: Path
    items: Iterator[ScanSlice | UnreadableInputError]
    series: SeriesInfo | None = None


def iter_groups(paths: Iterable[str | Path]) -> Iterator[SliceGroup]:
    """:func:`iter_slices`, one group at a time: what a consumer needs to say something about
    a whole series after its slices (``brainmri predict`` adds a series row)."""
    for job in _plan(paths):
        if job.error is not None:
            yield SliceGroup(job.path, iter([job.error]))
            continue
        info = job.group.info if job.group is not None else None
        yield SliceGroup(job.path, _job_stream(job), info)


def _job_stream(job: _Job) -> Iterator[ScanSlice | UnreadableInputError]:
    if job.group is None:
        stream: Iterator[ScanSlice | UnreadableInputError] = images.iter_pages(job.path)
    else:
        from trainer.io import series  # a DICOM group: pydicom is loaded

        stream = series.iter_series(job.group)
    try:
        yield from iterate_guarded(job.path, stream, _READ_FAILED)
    except UnreadableInputError as exc:
        yield exc


@dataclass
class _Job:
    """One image file, one DICOM group (a series or a file), or one error; ``order`` is the
    position of its (first) file among the inputs."""

    order: int
    path: Path
    group: series.SeriesGroup | None = None
    error: UnreadableInputError | None = None
    orders: dict[Path, int] = field(default_factory=dict)

    def order_of(self, path: Path) -> int:
        return self.orders.get(path, self.order)


def _plan(paths: Iterable[str | Path]) -> list[_Job]:
    """Walk, sniff each file and read DICOM headers: what is to be decoded, in input order.

    A DICOMDIR stands for the images it lists (:mod:`trainer.io.dicomdir`), which are planned
    right after it; a file reached both through a DICOMDIR and through the walk is read once
    (recognised by device and inode, as the walk does).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    jobs: list[_Job] = []
    dicom_files: list[tuple[int, series.DicomFile]] = []
    seen: set[tuple[int, int]] = set()
    pending: list[Path | UnreadableInputError] = []
    walk = iter(walk_files(paths))
    order = 0
    while True:
        path = pending.pop(0) if pending else next(walk, None)
        if path is None:
            break
        if isinstance(path, UnreadableInputError):  # missing input, unreadable folder, a pipe
            jobs.append(_Job(order, path.path, error=path))
            order += 1
            continue
        if not _first_time(path, seen):
            continue
        try:
            with guarded(path, _READ_FAILED):
                if _sniff(path) == "dicom":
                    dicom_files.append((order, _dicom_file(path)))
                else:
                    jobs.append(_Job(order, path))
        except dicomdir.DicomDirIndex as index:
            pending[:0] = dicomdir.listed_images(path, index.dataset)
        except UnreadableInputError as exc:
            jobs.append(_Job(order, path, error=exc))
        order += 1
    if dicom_files:
        jobs += _series_jobs(dicom_files)
    jobs.sort(key=lambda job: job.order)
    return jobs


def _dicom_file(path: Path) -> series.DicomFile:
    """The header of a file that :func:`_sniff` found to be DICOM (the first loads pydicom)."""
    from trainer.io import dicom, series

    return series.DicomFile(path, dicom.read_header(path))


def _series_jobs(dicom_files: list[tuple[int, series.DicomFile]]) -> list[_Job]:
    """One job per series or lone file, at the place of its first file among the inputs."""
    from trainer.io import series

    position = {file.path: order for order, file in dicom_files}
    jobs = []
    for group in series.group_series([file for _, file in dicom_files]):
        first = group.files[0].path
        orders = {file.path: position[file.path] for file in group.files}
        jobs.append(_Job(position[first], first, group=group, orders=orders))
    return jobs


def _first_time(path: Path, seen: set[tuple[int, int]]) -> bool:
    """False for a file planned already (same device and inode); a file that cannot be
    looked up is left for the reader to report."""
    try:
        info = path.stat()
    except OSError:
        return True
    identity = (info.st_dev, info.st_ino)
    if identity in seen:
        return False
    seen.add(identity)
    return True


def _sniff(path: Path) -> str:
    """ "dicom" or "image" from the first bytes; an image that Pillow cannot open is reported
    by the image reader, which knows whether the content matched the extension.

    Opened without blocking and checked to be a regular file before anything is read: a pipe
    named ``scan.jpg`` would otherwise block the first read forever.
    """
    if path.is_dir():
        raise UnreadableInputError(path, "is a folder, not a file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as exc:
        raise UnreadableInputError(path, "file not found") from exc
    except PermissionError as exc:
        raise UnreadableInputError(path, "permission denied") from exc
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnreadableInputError(path, NOT_REGULAR)
        head = os.read(fd, _HEAD_BYTES)
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot be read ({exc.strerror or exc})") from exc
    finally:
        os.close(fd)
    if not head:
        raise UnreadableInputError(path, "file is empty")
    return "dicom" if dicomdir.looks_like_dicom(head) else "image"
