"""Open every file once: is it readable, what is its size and mode, what are its bytes' hash.

Training, ``check-data`` and ``prepare`` all need this pass, and a corrupt file must be found
here, with its path and reason, rather than crash a data-loader worker an hour into training.
Decoding releases the GIL in Pillow, so a thread pool uses every core.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from trainer.data.discovery import Sample
from trainer.errors import UnreadableInputError
from trainer.parallel import map_in_threads


@dataclass(frozen=True)
class FileInfo:
    rel: str
    ok: bool
    reason: str | None
    width: int
    height: int
    mode: str
    sha256: str
    nbytes: int


def _header(path: Path) -> tuple[int, int, str]:
    """(width, height, mode) from Pillow's header alone; "?" for DICOM and anything Pillow
    cannot identify (``first_slice`` gives the specific reason)."""
    from trainer.io.guard import guarded

    try:
        with guarded(path), Image.open(path) as im:
            return im.width, im.height, im.mode
    except UnreadableInputError:
        return 0, 0, "?"


def inspect_file(sample: Sample) -> FileInfo:
    """One file through the project's reader (the guarded decode boundary): only its first
    frame is decoded, so a 400-frame file costs one frame here."""
    from trainer.io import first_slice  # local: keeps ``import trainer.data`` light
    from trainer.io.walk import NOT_REGULAR, is_regular_file

    path = sample.path
    if not is_regular_file(path):  # a pipe named scan.jpg would block read_bytes() forever
        return FileInfo(sample.rel, False, NOT_REGULAR, 0, 0, "?", "", 0)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return FileInfo(sample.rel, False, f"cannot read file ({exc.strerror})", 0, 0, "?", "", 0)
    digest = hashlib.sha256(data).hexdigest()
    del data
    width, height, mode = _header(path)
    nbytes = path.stat().st_size
    try:
        grey, count = first_slice(path)
        height, width = grey.data.shape
        if mode == "?":
            mode = "DICOM"  # Pillow could not identify it, the DICOM reader could
        if count > 1:
            reason = f"{count} frames; training uses single images"
            return FileInfo(sample.rel, False, reason, width, height, mode, digest, nbytes)
    except UnreadableInputError as exc:
        return FileInfo(sample.rel, False, exc.reason, width, height, mode, digest, nbytes)
    return FileInfo(sample.rel, True, None, width, height, mode, digest, nbytes)


def inspect_files(
    samples: Sequence[Sample],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[FileInfo]:
    """Inspect all samples in parallel; results keep the input order."""
    return map_in_threads(inspect_file, samples, workers, progress)


def fingerprint(infos: Sequence[FileInfo], split_of: dict[str, str]) -> str:
    """A short hash of which bytes went into which split: two runs with the same fingerprint
    saw the same data. Order-independent."""
    h = hashlib.sha256()
    for info in sorted(infos, key=lambda i: i.rel):
        if info.ok:
            h.update(f"{split_of.get(info.rel, '?')}\t{info.rel}\t{info.sha256}\n".encode())
    return h.hexdigest()[:16]
