"""Which heat map to draw: a method, the layer(s) it reads and what it explains.

One typed object, :class:`MapSpec`, names a map everywhere: the benchmark compares a list of
them, a model file may record the one chosen for it (``meta["cam"]``), and the viewer, the
PDF report and ``brainmri predict --cam-dir`` draw :data:`DEFAULT_MAP` unless the model file
names its own. Written as text it is ``method[@layer[+layer...]][:target]``, e.g.
``gradcam``, ``layercam@blocks.5+bn2`` or ``gradcam@bn2:contrast``; layer names are module
names inside the backbone (``bn2``, ``blocks.5``), so a spec means the same on any model of
one architecture.

Pure Python: no torch, so the command line can check a spec before anything heavy loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "DEFAULT_MAP",
    "GRADIENT_METHODS",
    "MAP_METHODS",
    "MAP_METHOD_LABELS",
    "MAP_TARGETS",
    "GradientMethod",
    "MapMethod",
    "MapSpec",
    "MapTarget",
    "parse_map_spec",
]

MapTarget = Literal["class", "contrast"]
MAP_TARGETS: tuple[str, ...] = get_args(MapTarget)
# The heat-map methods, named here once (the command line, the app's list and the settings
# read these): gradient-based CAMs (pytorch-grad-cam, trainer.cam.maps.CAM_METHODS), and
# occlusion: the drop in the class's probability when a patch is hidden, which needs no
# gradient and shows what the answer depends on.
GradientMethod = Literal["gradcam", "gradcam++", "eigencam", "layercam", "hirescam", "xgradcam"]
GRADIENT_METHODS: tuple[GradientMethod, ...] = get_args(GradientMethod)
MapMethod = Literal[GradientMethod, "occlusion"]
MAP_METHODS: tuple[MapMethod, ...] = get_args(MapMethod)
#: Each method in words, for a list a person chooses from.
MAP_METHOD_LABELS: dict[MapMethod, str] = {
    "gradcam": "Grad-CAM",
    "gradcam++": "Grad-CAM++",
    "eigencam": "EigenCAM",
    "layercam": "LayerCAM",
    "hirescam": "HiResCAM",
    "xgradcam": "XGrad-CAM",
    "occlusion": "Occlusion (slow)",
}
_LAYER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+){0,4}")


@dataclass(frozen=True)
class MapSpec:
    """A heat map: ``method`` on ``layers`` (empty: the last spatial feature map), explaining
    the target class's logit (``"class"``) or its margin over "notumor" (``"contrast"``)."""

    method: str = "gradcam"
    layers: tuple[str, ...] = ()
    target: MapTarget = "class"

    def __post_init__(self) -> None:
        if self.method not in MAP_METHODS:
            raise ValueError(
                f"unknown heat-map method {self.method!r}; choose one of {', '.join(MAP_METHODS)}"
            )
        if self.target not in MAP_TARGETS:
            raise ValueError(f"unknown heat-map target {self.target!r}; use class or contrast")
        for layer in self.layers:
            if not _LAYER.fullmatch(layer):
                raise ValueError(f"not a layer name: {layer!r}")
        if self.method == "occlusion" and self.layers:
            raise ValueError("occlusion reads no layer; write it without @")

    @property
    def is_gradient(self) -> bool:
        return self.method in GRADIENT_METHODS

    def __str__(self) -> str:
        text = self.method
        if self.layers:
            text += "@" + "+".join(self.layers)
        if self.target != "class":
            text += f":{self.target}"
        return text

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "layers": list(self.layers), "target": self.target}

    @classmethod
    def from_json(cls, value: Any) -> MapSpec:
        """From a model file's ``meta["cam"]``; raises ValueError on anything malformed."""
        if not isinstance(value, dict):
            raise ValueError("the heat-map setting must be an object")
        method, layers, target = (
            value.get("method", "gradcam"),
            value.get("layers", []),
            value.get("target", "class"),
        )
        if not isinstance(method, str) or not isinstance(target, str):
            raise ValueError("the heat-map method and target must be text")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ValueError("the heat-map layers must be a list of names")
        if len(layers) > 4:
            raise ValueError("at most 4 heat-map layers")
        return cls(method, tuple(layers), target)  # type: ignore[arg-type]


def parse_map_spec(text: str) -> MapSpec:
    """``"layercam@blocks.5+bn2:contrast"`` -> MapSpec; ValueError with the reason otherwise."""
    body, _, target = text.strip().partition(":")
    method, _, layers = body.partition("@")
    return MapSpec(
        method.strip().lower(),
        tuple(x.strip() for x in layers.split("+") if x.strip()) if layers else (),
        (target.strip().lower() or "class"),  # type: ignore[arg-type]
    )


# The map drawn when neither the user nor the model file asks for another. Chosen on the
# validation lesion boxes by benchmarks/cam_localization.py (docs/results.md, "Where the
# heat map points").
DEFAULT_MAP = MapSpec("gradcam")
