"""The classifier: a timm backbone with the paper's head.

The paper (fig. 9) puts on EfficientNet-B3 with global *max* pooling:
BatchNormalization → Dense 256 ReLU (L2 on the kernel) → Dropout → Dense softmax.
Keras' BatchNormalization(momentum=0.99, epsilon=0.001) is PyTorch's momentum 0.01, eps 1e-3
(PyTorch's momentum weighs the *new* batch). Softmax stays out of the model: the loss takes
logits, and calibration divides logits by a temperature before the softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from trainer.config import HeadConfig


class PaperHead(nn.Module):
    """BatchNorm → Linear(hidden) → ReLU → Dropout → Linear(classes)."""

    def __init__(self, in_features: int, num_classes: int, cfg: HeadConfig) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(in_features, eps=cfg.bn_eps, momentum=cfg.bn_momentum)
        self.fc = nn.Linear(in_features, cfg.hidden)
        self.act = nn.ReLU(inplace=False)
        self.drop = nn.Dropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, num_classes)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        """Pre-activation output of the 256-unit layer: the out-of-distribution score is a
        distance in this space (ReLU would throw away the sign information it needs)."""
        return self.fc(self.bn(features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.drop(self.act(self.embed(features))))


class BrainTumorClassifier(nn.Module):
    """``forward(x)`` returns logits; ``forward(x, return_embedding=True)`` also the 256-unit
    layer's pre-activation output (the L1 activity term uses its ReLU)."""

    def __init__(self, backbone: nn.Module, num_classes: int, head_cfg: HeadConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = PaperHead(backbone.num_features, num_classes, head_cfg)
        self.head_cfg = head_cfg

    def forward(
        self, x: torch.Tensor, return_embedding: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        embedding = self.head.embed(self.backbone(x))
        logits = self.head.out(self.head.drop(self.head.act(embedding)))
        return (logits, embedding) if return_embedding else logits


def create_backbone(name: str) -> nn.Module:
    """A randomly initialised timm backbone without classifier, pooled by global max pooling.

    Weights are loaded separately (:mod:`trainer.pretrained`) so that building a model from a
    model file never touches the network.
    """
    import timm

    try:
        return timm.create_model(name, pretrained=False, num_classes=0, global_pool="max")
    except RuntimeError as exc:  # timm raises RuntimeError('Unknown model …')
        raise ValueError(f"unknown timm backbone {name!r}: {exc}") from None


def build_model(
    backbone: str, num_classes: int, head_cfg: HeadConfig | None = None
) -> BrainTumorClassifier:
    return BrainTumorClassifier(create_backbone(backbone), num_classes, head_cfg or HeadConfig())


def set_backbone_trainable(model: BrainTumorClassifier, trainable: bool) -> None:
    for p in model.backbone.parameters():
        p.requires_grad_(trainable)


def _count(module: nn.Module) -> tuple[int, int]:
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def parameter_table(model: BrainTumorClassifier, input_size: int) -> str:
    """A table like the paper's fig. 9: layer, output shape, parameters; then totals.

    PyTorch keeps BatchNorm running statistics as buffers, not parameters, while Keras counts
    them as non-trainable parameters; both figures are printed so the two can be compared.
    """
    head = model.head
    rows = [
        (
            f"backbone ({_backbone_name(model)}, global max pool)",
            model.backbone.num_features,
            _count(model.backbone),
        ),
        ("BatchNorm1d", head.bn.num_features, _count(head.bn)),
        ("Linear + ReLU", head.fc.out_features, _count(head.fc)),
        (f"Dropout({head.drop.p:g})", head.fc.out_features, _count(head.drop)),
        ("Linear (logits)", head.out.out_features, _count(head.out)),
    ]
    total, trainable = _count(model)
    bn_buffers = sum(
        b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var"))
    )
    width = max(len(r[0]) for r in rows) + 2
    lines = [f"{'layer':<{width}}{'output':>10}{'params':>14}", "-" * (width + 24)]
    for name, out, (n, _) in rows:
        lines.append(f"{name:<{width}}{out:>10}{n:>14,}")
    lines += [
        "-" * (width + 24),
        f"input: 3×{input_size}×{input_size}",
        f"total parameters:     {total:>14,}  ({total * 4 / 2**20:.2f} MB as float32)",
        f"trainable parameters: {trainable:>14,}",
        f"non-trainable:        {total - trainable:>14,}",
        f"BatchNorm running statistics (buffers; Keras counts them as parameters): {bn_buffers:,}",
        f"Keras-style total (parameters + BN statistics): {total + bn_buffers:,}",
    ]
    return "\n".join(lines)


def _backbone_name(model: BrainTumorClassifier) -> str:
    cfg = getattr(model.backbone, "pretrained_cfg", None) or {}
    return str(cfg.get("architecture", type(model.backbone).__name__))
