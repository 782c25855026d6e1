"""Which layer a CAM looks at: the network's last spatial feature map."""

from __future__ import annotations

from typing import Any

import torch
from timm.models.efficientnet import EfficientNet
from torch import nn

from trainer.cam._state import eval_modes

__all__ = ["find_target_layer"]

# Used only when a model does not say which input size it expects (timm models do).
_DEFAULT_PROBE_SIZE = 224


def find_target_layer(model: nn.Module) -> nn.Module:
    """The layer whose activations the CAM weighs: the network's last spatial feature map.

    * timm EfficientNet family (B0–B7, lite, and ``test_efficientnet``): ``bn2``, i.e. the output
      of ``conv_head`` after its BatchNorm and activation. That is exactly the tensor global
      pooling reads, so the gradients Grad-CAM averages are the head's real sensitivities.
      ``conv_head``'s raw output is worse: its channels still carry BatchNorm's per-channel
      offset and scale (and sign), so the weighted sum is dominated by those offsets rather than
      by where the features fire. Older timm versions with a separate ``act2`` get ``act2``.
    * Other timm CNNs: the last module in ``feature_info`` (timm's own declaration of the final
      stage, e.g. ``layer4`` of a ResNet), after checking on a probe input that it really
      yields an ``(N, C, H, W)`` map with ``C`` channels first.
    * Anything else: the last module whose output on a probe input is a 4-D map with more than
      one position, found with forward hooks.

    A wrapper with a ``.backbone`` (our ``BrainTumorClassifier``) is searched in its backbone.

    Raises:
        ValueError: the model has no spatial feature map, e.g. a ViT, whose tokens would need a
            reshape transform that this engine does not apply.
    """
    root = _unwrap_backbone(model)
    if isinstance(root, EfficientNet):
        return _efficientnet_target(root)
    named = _feature_info_module(root)
    trace = _trace_output_shapes(root)
    if named is not None:
        return _checked_feature_info_target(root, named, trace)
    return _scanned_target(root, trace)


def _unwrap_backbone(model: nn.Module) -> nn.Module:
    backbone = getattr(model, "backbone", None)
    return backbone if isinstance(backbone, nn.Module) else model


def _efficientnet_target(net: EfficientNet) -> nn.Module:
    act2 = getattr(net, "act2", None)  # timm < 0.9 kept the activation as a separate module
    if isinstance(act2, nn.Module) and not isinstance(act2, nn.Identity):
        return act2
    return net.bn2


def _feature_info_module(root: nn.Module) -> tuple[str, int] | None:
    """(module name, channel count) of the last ``feature_info`` entry, if timm gave one."""
    info = getattr(root, "feature_info", None)
    if not isinstance(info, list) or not info or not isinstance(info[-1], dict):
        return None
    name, channels = info[-1].get("module"), info[-1].get("num_chs")
    if not isinstance(name, str) or not isinstance(channels, int):
        return None
    try:
        root.get_submodule(name)
    except AttributeError:  # a name timm mangled for its feature wrappers
        return None
    return name, channels


ShapeTrace = list[tuple[str, nn.Module, tuple[int, ...] | None]]


def _trace_output_shapes(root: nn.Module) -> ShapeTrace:
    """Run one probe image through ``root``; list (name, module, output shape) as modules finish.

    Why a probe rather than reading the code: the order in which modules *finish* is what tells
    the last spatial map apart from pooling and head layers, whatever the architecture.
    """
    trace: ShapeTrace = []

    def record(name: str) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None
            trace.append((name, module, shape))

        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in root.named_modules() if n]
    try:
        with eval_modes(root), torch.no_grad():
            root(_probe_input(root))
    except Exception as exc:
        raise ValueError(
            f"could not find a CAM target layer in {type(root).__name__}: a probe forward "
            f"pass failed ({exc}); pass target_layer explicitly"
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
    return trace


def _probe_input(root: nn.Module) -> torch.Tensor:
    tensors = [*root.parameters(), *root.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    dtype = next((t.dtype for t in tensors if t.is_floating_point()), torch.float32)
    cfg = getattr(root, "pretrained_cfg", None) or {}
    size = cfg.get("input_size")
    if not (isinstance(size, (tuple, list)) and len(size) == 3):
        first_conv = next((m for m in root.modules() if isinstance(m, nn.Conv2d)), None)
        channels = first_conv.in_channels if first_conv is not None else 3
        size = (channels, _DEFAULT_PROBE_SIZE, _DEFAULT_PROBE_SIZE)
    return torch.zeros((1, *size), device=device, dtype=dtype)


def _is_spatial(shape: tuple[int, ...] | None) -> bool:
    return shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1


def _checked_feature_info_target(
    root: nn.Module, named: tuple[str, int], trace: ShapeTrace
) -> nn.Module:
    name, channels = named
    shapes = [shape for n, _, shape in trace if n == name]
    shape = shapes[-1] if shapes else None
    if not _is_spatial(shape) or shape is None or shape[1] != channels:
        raise ValueError(
            f"{type(root).__name__} has no (N, C, H, W) feature map at its last stage "
            f"{name!r} (output shape {shape}, expected {channels} channels first); CAM needs "
            "one — transformers need a reshape transform, which this engine does not apply"
        )
    return root.get_submodule(name)


def _scanned_target(root: nn.Module, trace: ShapeTrace) -> nn.Module:
    spatial = [
        i
        for i, (_, module, shape) in enumerate(trace)
        if _is_spatial(shape) and not isinstance(module, nn.Identity)
    ]
    if not spatial:
        raise ValueError(
            f"{type(root).__name__} produces no spatial (N, C, H, W) feature map; CAM needs one"
        )
    last = spatial[-1]
    later_tokens = [n for n, _, shape in trace[last + 1 :] if shape is not None and len(shape) == 3]
    if later_tokens:
        raise ValueError(
            f"{type(root).__name__} turns its last spatial map ({trace[last][0]!r}) into tokens "
            f"(e.g. {later_tokens[0]!r}); CAM on a transformer needs a reshape transform, "
            "which this engine does not apply"
        )
    return trace[last][1]
