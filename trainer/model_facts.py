"""What code reads of a model file's metadata, in one place for every holder of it.

A loaded PyTorch model (:class:`trainer.modelfile.LoadedModel`) and a cached ONNX graph's header
(:class:`trainer.graph_cache.ModelHeader`) both carry the file's validated ``meta``; the
Predictor reads the classes, input size and temperature from whichever it has. Plain Python, no
imports: the cached path must not load the model-file machinery.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelFacts"]


class ModelFacts:
    """Mixin for a dataclass with a ``meta`` field (the model file's validated metadata)."""

    meta: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.meta["classes"])

    @property
    def input_size(self) -> int:
        return int(self.meta["input_size"])

    @property
    def temperature(self) -> float:
        return float(self.meta.get("temperature", 1.0))
