"""Errors a user can act on.

Every error about an input names the file, so that a batch job can report it and go on.
"""

from __future__ import annotations

from pathlib import Path


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
