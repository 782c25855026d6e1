"""Context managers that change model / autograd state for one pass and put it back after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = ["autocast_off", "eval_modes", "kept_grads"]


def autocast_off(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Full precision for the CAM: the library turns activations into NumPy (no bfloat16)."""
    if torch.amp.is_autocast_available(device.type):
        return torch.autocast(device_type=device.type, enabled=False)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_modes(model: nn.Module) -> Iterator[None]:
    """Eval for the pass (BatchNorm batch statistics would mix a batch's images); restore after.

    Per module, because a fine-tuning model is often deliberately mixed (frozen BatchNorm in
    eval inside a training model), which ``model.train(flag)`` would flatten.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextlib.contextmanager
def kept_grads(model: nn.Module) -> Iterator[None]:
    """The library calls ``model.zero_grad()`` and back-propagates into the head's parameters;
    put the caller's ``.grad`` tensors back so a CAM between training steps changes nothing."""
    saved = [(p, p.grad) for p in model.parameters()]
    try:
        yield
    finally:
        for param, grad in saved:
            param.grad = grad
