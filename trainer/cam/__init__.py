"""Class-activation maps (Grad-CAM and friends), occlusion, their display and their scores.

* :mod:`trainer.cam.spec`: which map to draw (:class:`MapSpec`, :data:`DEFAULT_MAP`).
* :mod:`trainer.cam.layers`: which layer to explain (:func:`find_target_layer`).
* :mod:`trainer.cam.maps`: computing maps (:class:`CamEngine`, :data:`CAM_METHODS`) with
  pytorch-grad-cam, its pitfalls (leftover hooks, frozen layers, batches) handled there.
* :mod:`trainer.cam.occlusion`: what the answer depends on, by hiding patches.
* :mod:`trainer.cam.localization`: scores against hand-marked lesion boxes.
* :mod:`trainer.cam.overlay`: putting a map back on the original image.

The names are loaded on first use: pytorch-grad-cam pulls in OpenCV, SciPy and scikit-learn
(over a second), which a program that never draws a map should not pay for.

Research and education only — not for clinical use.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "CAM_METHODS": "trainer.cam.maps",
    "CamEngine": "trainer.cam.maps",
    "find_target_layer": "trainer.cam.layers",
    "cam_to_original": "trainer.cam.overlay",
    "render_overlay": "trainer.cam.overlay",
    "side_by_side": "trainer.cam.overlay",
    "heat_rgba": "trainer.cam.overlay",
    "DEFAULT_MAP": "trainer.cam.spec",
    "MapSpec": "trainer.cam.spec",
    "parse_map_spec": "trainer.cam.spec",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'trainer.cam' has no attribute {name!r}")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value
