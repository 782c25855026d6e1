"""The CAM engine: pytorch-grad-cam, safe to call hundreds of times on a live model.

Why it wraps the library rather than exposing it:

* **Hooks live only for one call.** The library registers forward hooks when a CAM object is
  built and keeps them until ``release()``. Kept for an engine's lifetime, they would fire on
  every ordinary prediction too and pile up copies of activations. We build the (cheap) CAM
  object per call and release it in ``finally``, so an exception cannot leave hooks behind.
  (Nor do we use the library's ``with`` form: its ``__exit__`` swallows ``IndexError``.)
* **Gradients always reach the target layer.** A prepended forward hook cuts the graph at the
  target layer and restarts it from a tensor that requires grad. That works with a frozen
  backbone, under ``torch.inference_mode()`` or ``no_grad`` elsewhere in the program, and
  the backward pass only runs through the head (cheaper than back-propagating to the input).
* **No side effects on the model.** The library switches the model to eval and wipes ``.grad``;
  we restore every module's train/eval flag and every parameter's ``.grad`` afterwards.
* **One map per image.** Eval mode makes each image independent of its batch mates; the target
  list is checked to have one class per image (the library silently ``zip``-truncates a
  shorter one, leaving the other images with empty maps).
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from pytorch_grad_cam import (
    EigenCAM,
    GradCAM,
    GradCAMPlusPlus,
    HiResCAM,
    LayerCAM,
    XGradCAM,
)
from pytorch_grad_cam.base_cam import BaseCAM
from torch import nn

from trainer.cam._state import autocast_off, eval_modes, kept_grads
from trainer.cam.layers import find_target_layer

__all__ = ["CAM_METHODS", "CamEngine"]

CAM_METHODS: dict[str, type[BaseCAM]] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "eigencam": EigenCAM,
    "layercam": LayerCAM,
    "hirescam": HiResCAM,
    "xgradcam": XGradCAM,
}


class CamEngine:
    """Holds one model + method; reusable across hundreds of calls without leaking hooks or memory.

    The engine registers nothing on the model between calls, so the same model can keep serving
    ordinary predictions while an engine exists. It is not thread-safe against *other* code using
    the same model during a call: for the call's duration the model is in eval mode and the
    parameters' ``.grad`` are swapped out (both are restored afterwards).
    """

    def __init__(
        self,
        model: nn.Module,
        method: str = "gradcam",
        target_layer: nn.Module | Sequence[nn.Module] | None = None,
        contrast_class: int | None = None,
    ) -> None:
        """``target_layer``: one layer or several (their maps are averaged at the input's
        resolution, as pytorch-grad-cam does); None for the last spatial feature map.
        ``contrast_class``: explain "target minus this class" (e.g. a tumour against
        "notumor") instead of the target's logit alone."""
        if method not in CAM_METHODS:
            raise ValueError(f"unknown CAM method {method!r}; choose one of {sorted(CAM_METHODS)}")
        self.method = method
        self._cam_class = CAM_METHODS[method]
        self._model: nn.Module | None = model
        if target_layer is None:
            layers = [find_target_layer(model)]
        elif isinstance(target_layer, nn.Module):
            layers = [target_layer]
        else:
            layers = list(target_layer)
        if not layers:
            raise ValueError("need at least one target layer")
        self.target_layers = _in_forward_order(model, layers)
        self.contrast_class = contrast_class

    @property
    def target_layer(self) -> nn.Module:
        """The last (deepest) target layer."""
        return self.target_layers[-1]

    @property
    def model(self) -> nn.Module:
        if self._model is None:
            raise RuntimeError("this CamEngine is closed")
        return self._model

    def __call__(
        self, inputs: torch.Tensor, target_classes: Sequence[int] | None = None
    ) -> np.ndarray:
        """Compute one map per image.

        Args:
            inputs: normalised float (N, 3, S, S) on the model's device.
            target_classes: one class index per image, or None for each image's predicted class.

        Returns:
            float32 (N, S, S), each map scaled to [0, 1] on its own (all zeros where the model
            shows no positive evidence, e.g. a blank image).
        """
        model = self.model
        _check_inputs(inputs)
        targets = _class_targets(target_classes, inputs.shape[0], self.contrast_class)
        with _isolated_cam_pass(model, inputs.device):
            x = inputs.detach().clone()  # a normal tensor even if made under inference_mode
            maps = self._run(model, x, targets)
        return _tidy_maps(maps)

    def _run(
        self, model: nn.Module, x: torch.Tensor, targets: list[_ClassLogit] | None
    ) -> np.ndarray:
        cam = self._cam_class(model=model, target_layers=list(self.target_layers))
        # Prepended so that the library's own hooks see (and hook) the regrown tensor. Cut at
        # the earliest layer only: a cut at a later one would stop the gradients that the
        # earlier layers' maps need.
        cut = self.target_layers[0].register_forward_hook(_restart_graph, prepend=True)
        try:
            return cam(input_tensor=x, targets=targets)
        finally:
            cut.remove()
            _release(cam)

    def close(self) -> None:
        """Drop the model reference (the engine holds no hooks between calls)."""
        self._model = None

    def __enter__(self) -> CamEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ClassLogit:
    """The logit of one class for one image (pre-softmax, as in the Grad-CAM paper), or its
    margin over a contrast class ("why glioma rather than no tumour").

    Ours rather than the library's ``ClassifierOutputTarget`` so that a bad index is a clear
    ValueError instead of an IndexError deep inside the library.
    """

    def __init__(self, category: int, contrast: int | None = None) -> None:
        self.category = category
        self.contrast = contrast

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        n_classes = model_output.shape[-1]
        for index in (self.category, self.contrast):
            if index is not None and not 0 <= index < n_classes:
                raise ValueError(f"target class {index} out of range for {n_classes} classes")
        logit = model_output[..., self.category]
        if self.contrast is None or self.contrast == self.category:
            return logit
        return logit - model_output[..., self.contrast]


def _check_inputs(inputs: torch.Tensor) -> None:
    if not isinstance(inputs, torch.Tensor) or inputs.ndim != 4 or not inputs.is_floating_point():
        got = tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__
        raise ValueError(f"expected a normalised float batch (N, C, H, W), got {got}")
    if inputs.shape[0] == 0:
        raise ValueError("expected at least one image")


def _class_targets(
    target_classes: Sequence[int] | None, n_images: int, contrast: int | None = None
) -> list[_ClassLogit] | None:
    if target_classes is None:
        if contrast is not None:
            raise ValueError("a contrastive map needs explicit target classes")
        return None  # the library takes each row's argmax
    classes = [operator.index(c) for c in target_classes]
    if len(classes) != n_images:
        raise ValueError(f"need one target class per image: got {len(classes)} for {n_images}")
    return [_ClassLogit(c, contrast) for c in classes]


def _in_forward_order(model: nn.Module, layers: Sequence[nn.Module]) -> list[nn.Module]:
    """The layers sorted as the model registers them (its forward order for timm CNNs)."""
    order = {id(m): i for i, m in enumerate(model.modules())}
    missing = [type(m).__name__ for m in layers if id(m) not in order]
    if missing:
        raise ValueError(f"target layer(s) {missing} are not part of the model")
    return sorted(dict.fromkeys(layers), key=lambda m: order[id(m)])


def _restart_graph(module: nn.Module, args: Any, output: Any) -> torch.Tensor:
    """Forward hook: continue from a copy of the activations that requires grad.

    Gradients then reach the target layer whatever was frozen before it, and backward stops
    there instead of running on to the input.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"CAM target layer {type(module).__name__} must return a tensor, got {type(output)}"
        )
    # clone(): a non-leaf, so in-place activations after the target layer stay legal.
    return output.detach().requires_grad_(True).clone()


def _release(cam: BaseCAM) -> None:
    """Remove the library's hooks and drop the graph it keeps (``outputs``, activations)."""
    cam.activations_and_grads.release()
    cam.outputs = None


@contextlib.contextmanager
def _isolated_cam_pass(model: nn.Module, device: torch.device) -> Iterator[None]:
    """Everything a CAM pass needs switched on, and everything it touches put back after."""
    with (
        torch.inference_mode(False),
        torch.enable_grad(),
        autocast_off(device),
        eval_modes(model),
        kept_grads(model),
    ):
        yield


def _tidy_maps(maps: np.ndarray) -> np.ndarray:
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.ascontiguousarray(np.clip(maps, 0.0, 1.0))
