"""Errors a user can act on.

Every error about an input names the file, so that a batch job can report it and go on.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from trainer.names import printable


class BrainMRIError(Exception):
    """Base class: an error with a message meant for the user, not a traceback."""


class UnreadableInputError(BrainMRIError):
    """A file (or one frame of it) could not be turned into an image.

    ``reason`` is one short, specific phrase ("file is empty", "DICOM has no pixel data
    (Modality SR)", "image is 40000×40000, over the 178 megapixel limit") so that a list of
    failures reads well.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ModelFileError(BrainMRIError):
    """A model file is missing, is not a brainmri safetensors file, or is inconsistent."""


class PretrainedWeightsError(BrainMRIError):
    """Pretrained weights could not be had (offline, unknown name, wrong file)."""


class TrainingOutOfMemory(BrainMRIError):
    """The device ran out of memory and halving the batch size cannot help any more."""

    def __init__(self, batch_size: int, device: str) -> None:
        self.batch_size = batch_size
        self.device = device
        super().__init__(
            f"out of memory at batch size {batch_size} on {device}; lower the image size, "
            "choose a smaller backbone, or train on the CPU"
        )


class DatasetError(BrainMRIError):
    """The data folder cannot be used (no classes, empty split, bad split file)."""


class RunFolderError(BrainMRIError):
    """A training run folder cannot be used: its config or state is damaged or not ours, it
    belongs to a finished run, or another training holds it (:class:`RunLockedError`)."""


class RunLockedError(RunFolderError):
    """Another training (this computer or another) is writing to the run folder now."""


class RunExistsError(RunFolderError):
    """A new run was asked for in a folder that holds a run already. The message says only
    that; each face adds how its user resumes or overwrites (the command line's flags, the
    app's buttons)."""


_DISK_WORDS = {
    errno.ENOSPC: "the disk is full",
    getattr(errno, "EDQUOT", errno.ENOSPC): "the disk quota is used up",  # none on Windows
    errno.EFBIG: "the file would be larger than this disk or a size limit allows",
    errno.EROFS: "the disk is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def os_error_text(exc: OSError) -> str:
    """An operating-system error as one plain line: which file, and why in words
    ("…/o.csv: the disk is full") rather than Python's ``[Errno 28] No space left…``."""
    why = _DISK_WORDS.get(exc.errno or 0) or exc.strerror or str(exc) or type(exc).__name__
    names = [n for n in (exc.filename, exc.filename2) if n is not None]
    where = " → ".join(printable(os.fsdecode(n)) for n in names)
    return f"{where}: {why}" if where else why
