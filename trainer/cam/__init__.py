"""Class-activation maps (Grad-CAM and friends) for the classifier, and their display.

* :mod:`trainer.cam.layers`: which layer to explain (:func:`find_target_layer`).
* :mod:`trainer.cam.maps`: computing maps (:class:`CamEngine`, :data:`CAM_METHODS`) with
  pytorch-grad-cam, its pitfalls (leftover hooks, frozen layers, batches) handled there.
* :mod:`trainer.cam.overlay`: putting a map back on the original image.

Research and education only — not for clinical use.
"""

from trainer.cam.layers import find_target_layer
from trainer.cam.maps import CAM_METHODS, CamEngine
from trainer.cam.overlay import cam_to_original, render_overlay, side_by_side

__all__ = [
    "CAM_METHODS",
    "CamEngine",
    "cam_to_original",
    "find_target_layer",
    "render_overlay",
    "side_by_side",
]
