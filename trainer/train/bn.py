"""Freezing the early stages and the BatchNorm statistics: what makes fine-tuning fit a CPU.

Measured on a 2-core CPU (docs/results.md, "CPU fine-tuning recipe"): in a full training
step of EfficientNet-Lite2, BatchNorm in training mode is about half the time and the
backward pass of the high-resolution early stages most of the rest. So the CPU recipe

* freezes the stem and the first ``n`` stages (their weights get no gradient, so autograd
  records nothing for them: no backward pass at all at the highest resolutions);
* re-estimates every BatchNorm's running statistics once on augmented training images
  (ImageNet statistics do not describe grey MRI slices), then holds all BatchNorm layers in
  eval mode: the affine parameters still learn, the statistics stay fixed, and the step runs
  the cheap inference kernel for normalisation.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def early_stages(backbone: nn.Module, n: int) -> list[nn.Module]:
    """The stem and the first ``n`` stages of a timm EfficientNet/MobileNet-style backbone."""
    blocks = getattr(backbone, "blocks", None)
    stem = [getattr(backbone, name) for name in ("conv_stem", "bn1") if hasattr(backbone, name)]
    if blocks is None or not stem:
        raise ValueError(
            f"{type(backbone).__name__} has no conv_stem/blocks: freezing early stages works "
            "with EfficientNet- and MobileNet-style backbones"
        )
    if not 0 <= n <= len(blocks):
        raise ValueError(f"can freeze 0 to {len(blocks)} stages, not {n}")
    return [*stem, *list(blocks)[:n]]


def freeze_early_stages(backbone: nn.Module, n: int) -> int:
    """Stop gradients into the stem and the first ``n`` stages; returns the parameters frozen."""
    frozen = 0
    for module in early_stages(backbone, n):
        for p in module.parameters():
            p.requires_grad_(False)
            frozen += p.numel()
    return frozen


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm]:
    return [m for m in model.modules() if isinstance(m, _BatchNorm)]


def hold_batchnorm_statistics(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (call after ``model.train()``): running statistics
    are used and never updated, whatever mode the rest of the model is in."""
    for m in batchnorm_layers(model):
        m.eval()


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Replace every BatchNorm's running statistics by their exact average over ``batches``
    (model-ready input tensors). Returns the number of images seen.

    ``momentum=None`` makes PyTorch keep a cumulative average, so the result does not depend
    on the order or the number of batches the way an exponential average would.
    """
    layers = batchnorm_layers(model)
    momenta = [m.momentum for m in layers]
    was_training = model.training
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    seen = 0
    try:
        for x in batches:
            model(x)
            seen += int(x.shape[0])
    finally:
        for m, momentum in zip(layers, momenta, strict=True):
            m.momentum = momentum
        model.train(was_training)
    return seen
