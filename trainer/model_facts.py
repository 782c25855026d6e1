"""What code reads of a model file's metadata, typed, in one place for every holder of it.

:class:`ModelMeta` is the metadata after :func:`trainer.modelfile.validate_metadata` checked it:
every field code relies on, typed. A loaded PyTorch model (:class:`trainer.modelfile.LoadedModel`)
and a cached ONNX graph's header (:class:`trainer.graph_cache.ModelHeader`) both carry one
(:class:`ModelFacts`); the Predictor, the PDF report and the viewer read it from whichever they
have. The metadata object as the file holds it stays beside it (:attr:`ModelMeta.raw`) for the
formats that copy it whole (the graph cache's ``meta.json``, ``brainmri export``, the ONNX
sidecar) and for the fields another module owns (``cam_localization``: :mod:`trainer.cam.record`).

Plain Python, no imports at run time: the cached path must not load the model-file machinery.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trainer.cam.spec import MapSpec
    from trainer.config import HeadConfig

__all__ = ["ModelFacts", "ModelMeta"]


@dataclass(frozen=True)
class ModelMeta:
    """The fields of the metadata that code relies on, typed and checked."""

    format_version: int
    backbone: str
    classes: tuple[str, ...]
    input_size: int
    channels: int
    preprocess: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    head: HeadConfig
    temperature: float
    ood_threshold: float | None
    ood_feature: str | None = None
    cam: MapSpec | None = None  # the heat map chosen for this model, if its maker chose one
    # What the model says of itself (``brainmri info``, the app, the report); None when absent.
    name: str | None = None
    created: str | None = None
    package_version: str | None = None
    test_accuracy: float | None = None  # ``metrics.test.accuracy``, in [0, 1]
    #: The metadata object as the file holds it, every field (see the module's docstring).
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The metadata object as the file holds it, a copy: what a format that copies it
        writes (it keeps the fields no code reads, such as ``training`` and ``data``)."""
        return copy.deepcopy(self.raw)


class ModelFacts:
    """Mixin for a dataclass with an ``info`` field (the model file's :class:`ModelMeta`)."""

    info: ModelMeta

    @property
    def meta(self) -> dict[str, Any]:
        """The metadata object as the file holds it (:attr:`ModelMeta.raw`): for the formats
        that copy it. Code that reads a field reads :attr:`info`."""
        return self.info.raw

    @property
    def classes(self) -> list[str]:
        return list(self.info.classes)

    @property
    def input_size(self) -> int:
        return self.info.input_size

    @property
    def temperature(self) -> float:
        return self.info.temperature
