"""Grad-CAM and Grad-CAM++ without PyTorch, for a network that max-pools its last feature map.

Why it is exact: our EfficientNets end in ``bn2`` (the last feature map, after its activation)
→ global MAX pooling → the head (BatchNorm1d → Linear → ReLU → Dropout → Linear). The gradient
of a logit with respect to a max-pooled map is zero everywhere except at each channel's argmax,
where it is ``g_c = d logit / d pooled_c``; the head is small, so ``g`` is a few NumPy products
(BatchNorm1d in eval is an affine map, the ReLU's mask comes from the forward pass). Then, as
pytorch-grad-cam computes them (``trainer.cam.maps``, target layer ``bn2``):

* Grad-CAM weighs channel ``c`` by the spatial mean of its gradient, ``g_c / (h·w)``;
* Grad-CAM++ by ``relu(g) · g² / (2g² + Σ_xy A_c · g³ + 1e-6)`` summed over the positions where
  the gradient is not zero: one per channel, because PyTorch's max pooling sends the whole
  gradient to one position even when several hold the maximum (ties), so which one does not
  matter;
* the map is ``relu(Σ_c w_c A_c)``, scaled to [0, 1] (minus its minimum, over ``1e-7`` plus
  its maximum), resized to the input size with OpenCV's bilinear rule (half-pixel centres,
  edges clamped) and scaled again.

So the feature map comes from the ONNX Runtime graph (:mod:`trainer.graph_cache`, output
``map_features``) and the head's weights from the model file (safetensors, as NumPy arrays):
no torch, timm or pytorch-grad-cam is imported, and the map costs a few milliseconds after
the forward pass. Equal to the PyTorch path within 1e-3 (tests/test_fast_cam.py).

Research and education only — not for clinical use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch import nn

    from trainer.cam.spec import MapSpec

__all__ = ["FAST_METHODS", "Head", "applies", "class_maps", "map_layer", "resize_bilinear"]

FAST_METHODS = ("gradcam", "gradcam++")
_GRADCAM_PP_EPS = 1e-6  # pytorch_grad_cam.GradCAMPlusPlus
_SCALE_EPS = 1e-7  # pytorch_grad_cam.utils.image.scale_cam_image


def applies(spec: MapSpec) -> bool:
    """Whether ``spec`` can be drawn here: Grad-CAM or Grad-CAM++ of a class's logit on the
    default layer (the last feature map)."""
    return spec.method in FAST_METHODS and not spec.layers and spec.target == "class"


def map_layer(model: nn.Module) -> nn.Module | None:
    """The layer whose output this module needs (exported as the graph's ``map_features``):
    the CAM's default target layer when it is exactly what a global max pooling reads before
    our head, i.e. ``bn2`` of a max-pooled timm EfficientNet; None for any other network."""
    from timm.models.efficientnet import EfficientNet

    from trainer.cam.layers import find_target_layer
    from trainer.model import PaperHead

    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, EfficientNet) or not isinstance(
        getattr(model, "head", None), PaperHead
    ):
        return None
    if getattr(backbone.global_pool, "pool_type", None) != "max":
        return None
    layer = find_target_layer(model)
    return layer if layer is backbone.bn2 else None


@dataclass(frozen=True)
class Head:
    """The classifier head as float64 arrays: BatchNorm1d folded into ``scale``/``shift``,
    then ``fc`` (hidden, C), ReLU, ``out`` (classes, hidden); dropout is the identity."""

    scale: np.ndarray
    shift: np.ndarray
    fc_w: np.ndarray
    fc_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray

    @classmethod
    def from_model_file(cls, path: str | Path, bn_eps: float) -> Head:
        """Read the head's tensors from a model file (safetensors, NumPy only)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as fh:

            def get(name: str) -> np.ndarray:
                return np.asarray(fh.get_tensor(f"model.head.{name}"), dtype=np.float64)

            weight, bias = get("bn.weight"), get("bn.bias")
            mean, var = get("bn.running_mean"), get("bn.running_var")
            fc_w, fc_b, out_w, out_b = (
                get("fc.weight"),
                get("fc.bias"),
                get("out.weight"),
                get("out.bias"),
            )
        scale = weight / np.sqrt(var + bn_eps)
        return cls(scale, bias - mean * scale, fc_w, fc_b, out_w, out_b)

    def forward(self, pooled: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits (N, K), the ReLU's mask (N, hidden)) of pooled features (N, C)."""
        hidden = (pooled * self.scale + self.shift) @ self.fc_w.T + self.fc_b
        mask = hidden > 0  # PyTorch's ReLU passes no gradient at exactly 0
        return (hidden * mask) @ self.out_w.T + self.out_b, mask

    def gradients(self, mask: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """d logit[k] / d pooled (N, C) for each image's class ``k``."""
        return ((self.out_w[classes] * mask) @ self.fc_w) * self.scale


def class_maps(
    features: np.ndarray,
    head: Head,
    method: str,
    size: tuple[int, int],
    target_classes: np.ndarray | list[int] | None = None,
) -> np.ndarray:
    """float32 (N, H, W) maps in [0, 1] of ``method`` ("gradcam" or "gradcam++") from the last
    feature map ``features`` (N, C, h, w), as :class:`trainer.cam.maps.CamEngine` draws them on
    that layer; ``size`` (H, W) is the model's input; ``target_classes`` None: each image's
    highest logit."""
    if method not in FAST_METHODS:
        raise ValueError(f"no fast {method!r} map; choose one of {', '.join(FAST_METHODS)}")
    acts = np.asarray(features, dtype=np.float64)
    n, _, h, w = acts.shape
    logits, mask = head.forward(acts.max(axis=(2, 3)))
    if target_classes is None:
        classes = logits.argmax(axis=1)
    else:
        classes = np.asarray(target_classes, dtype=np.int64)
        if classes.shape != (n,) or classes.min() < 0 or classes.max() >= logits.shape[1]:
            raise ValueError(f"need one target class in [0, {logits.shape[1]}) per image")
    g = head.gradients(mask, classes)
    if method == "gradcam":
        weights = g / (h * w)
    else:
        g2 = g * g
        total = acts.sum(axis=(2, 3))
        alpha = g2 / (2 * g2 + total * g2 * g + _GRADCAM_PP_EPS)
        weights = np.where(g != 0, np.maximum(g, 0) * alpha, 0.0)
    cams = np.maximum(np.einsum("nc,nchw->nhw", weights, acts), 0)
    rows, cols = _bilinear_matrix(h, size[0]), _bilinear_matrix(w, size[1])
    out = np.stack([_scaled(rows @ _scaled(cam) @ cols.T) for cam in cams])
    out = np.nan_to_num(out.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0))


def resize_bilinear(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D map resized to ``size`` (H, W) as ``cv2.resize(image, (W, H))`` does
    (``INTER_LINEAR``), without OpenCV."""
    img = np.asarray(image, dtype=np.float64)
    return _bilinear_matrix(img.shape[0], size[0]) @ img @ _bilinear_matrix(img.shape[1], size[1]).T


def _scaled(cam: np.ndarray) -> np.ndarray:
    cam = cam - cam.min()
    return cam / (_SCALE_EPS + cam.max())


def _bilinear_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) weights of OpenCV's linear resize along one axis: source coordinate
    ``(i + 0.5)·src/dst − 0.5``, clamped to the first and last pixel."""
    x = (np.arange(dst) + 0.5) * (src / dst) - 0.5
    left = np.floor(x).astype(np.int64)
    frac = x - left
    frac[left < 0] = 0.0
    left[left < 0] = 0
    last = left >= src - 1
    frac[last] = 0.0
    left[last] = src - 1
    matrix = np.zeros((dst, src))
    matrix[np.arange(dst), left] = 1.0 - frac
    right = np.minimum(left + 1, src - 1)
    np.add.at(matrix, (np.arange(dst), right), frac)
    return matrix
