"""The words a training recipe is written in: each list published once, here.

The command line's ``choices=`` (:mod:`trainer.cli.train`), the app's lists
(``desktop_app.training.recipe_page``) and the check of a run folder's ``config.json``
(:mod:`trainer.train.run_folder`) all read these tuples, so a new optimiser or schedule is named
here once (and implemented in :mod:`trainer.train.step`). Heat-map methods are named in
:mod:`trainer.cam.spec`.

Pure Python: no numpy, no torch, so the command line builds its help from here at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

__all__ = [
    "BATCHNORM_MODES",
    "DEVICES",
    "OPTIMIZERS",
    "SCHEDULES",
    "SCHEDULE_LABELS",
    "SPLIT_CHOICES",
    "SPLIT_METHODS",
    "BatchNormMode",
    "Device",
    "Optimizer",
    "Schedule",
    "SplitMethod",
    "in_words",
]

#: Optimisers :func:`trainer.train.step.make_optimizer` builds.
Optimizer = Literal["adamax", "adam", "adamw", "sgd"]
OPTIMIZERS: tuple[Optimizer, ...] = get_args(Optimizer)

#: Learning-rate schedules :func:`trainer.train.step.lr_factor` follows: one cycle moves the rate
#: per batch, cosine per epoch, plateau lowers it when validation stops improving.
Schedule = Literal["none", "onecycle", "cosine", "plateau"]
SCHEDULES: tuple[Schedule, ...] = get_args(Schedule)
#: Each schedule in words, for a list a person chooses from.
SCHEDULE_LABELS: dict[Schedule, str] = {
    "none": "constant",
    "onecycle": "one cycle (per batch)",
    "cosine": "cosine",
    "plateau": "lower on a plateau",
}

#: How :func:`trainer.data.splits.make_split` splits a data set.
SplitMethod = Literal["paper", "fraction", "files"]
SPLIT_METHODS: tuple[SplitMethod, ...] = get_args(SplitMethod)
#: The methods named by ``--split``; "files" is chosen by giving the files (``--split-file``).
SPLIT_CHOICES: tuple[SplitMethod, ...] = tuple(m for m in SPLIT_METHODS if m != "files")

#: Devices by name (:func:`trainer.device.resolve_device` also takes "cuda:N").
Device = Literal["auto", "cpu", "cuda", "mps"]
DEVICES: tuple[Device, ...] = get_args(Device)

#: BatchNorm during training: "train" updates its statistics, "frozen" re-estimates them once
#: and then holds them (:mod:`trainer.train.bn`).
BatchNormMode = Literal["train", "frozen"]
BATCHNORM_MODES: tuple[BatchNormMode, ...] = get_args(BatchNormMode)


def in_words(names: Sequence[str]) -> str:
    """``("a", "b", "c")`` -> ``"a, b or c"``, for a message that lists the choices."""
    return " or ".join(filter(None, (", ".join(names[:-1]), *names[-1:])))
