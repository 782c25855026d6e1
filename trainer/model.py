"""The classifier: a timm backbone with the paper's head.

The paper (fig. 9) puts on EfficientNet-B3 with global *max* pooling:
BatchNormalization → Dense 256 ReLU (L2 on the kernel) → Dropout → Dense softmax.
Keras' BatchNormalization(momentum=0.99, epsilon=0.001) is PyTorch's momentum 0.01, eps 1e-3
(PyTorch's momentum weighs the *new* batch). Softmax stays out of the model: the loss takes
logits, and calibration divides logits by a temperature before the softmax.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainer.config import HeadConfig


class RunDropout(nn.Dropout):
    """Dropout that draws its mask from a generator the training run owns.

    ``nn.Dropout`` draws from torch's process-wide generator, which every thread shares: a
    viewer or a speed probe drawing from it while a run trains would change that run's masks,
    and a resumed run would no longer end where an uninterrupted one does. The training step
    sets :attr:`generator` for each batch; without one (inference, other callers) this is
    plain dropout.
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or self.generator is None:
            return super().forward(x)
        keep = torch.rand(x.shape, generator=self.generator, dtype=torch.float32) >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype) / (1 - self.p)


class PaperHead(nn.Module):
    """BatchNorm → Linear(hidden) → ReLU → Dropout → Linear(classes)."""

    def __init__(self, in_features: int, num_classes: int, cfg: HeadConfig) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(in_features, eps=cfg.bn_eps, momentum=cfg.bn_momentum)
        self.fc = nn.Linear(in_features, cfg.hidden)
        self.act = nn.ReLU(inplace=False)
        self.drop = RunDropout(cfg.dropout)
        self.out = nn.Linear(cfg.hidden, num_classes)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default initialisation of the two Linear layers (Kaiming-uniform weights,
        uniform biases), drawn from ``generator`` instead of the process-wide one."""
        for linear in (self.fc, self.out):
            nn.init.kaiming_uniform_(linear.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(linear.in_features)
            nn.init.uniform_(linear.bias, -bound, bound, generator=generator)
        self.bn.reset_parameters()

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
        self.head = PaperHead(pooled_width(backbone), num_classes, head_cfg)
        self.head_cfg = head_cfg
        self.ood_layer: str | None = None
        self._ood_hook: torch.utils.hooks.RemovableHandle | None = None
        self._capture = False
        self._pooled: torch.Tensor | None = None

    def set_ood_layer(self, name: str | None) -> None:
        """Which features the "is this an MRI?" check measures: the globally averaged output
        of the backbone stage ``name`` (e.g. ``blocks.4``), or the head's 256-unit embedding
        when ``None`` (model files written before the stage features were measured).

        Why a middle stage: after fine-tuning with label smoothing the head's embedding of a
        photo or a chart lands among the MRIs (AUROC 0.80 on benchmarks/ood_auroc.py), while
        the 1/16-resolution stage still describes texture and contrast (AUROC 1.00)."""
        if self._ood_hook is not None:
            self._ood_hook.remove()
            self._ood_hook = None
        self.ood_layer = name
        if name is not None:
            module = self.backbone.get_submodule(name)
            self._ood_hook = module.register_forward_hook(self._keep_pooled)

    def _keep_pooled(self, module: nn.Module, args: object, output: torch.Tensor) -> None:
        if self._capture:
            self._pooled = output.float().mean(dim=(2, 3))

    def logits_and_ood_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, the features the out-of-distribution check scores) in one pass."""
        self._capture = True
        try:
            logits, embedding = self(x, return_embedding=True)
            features = self._pooled if self.ood_layer is not None else embedding
        finally:
            self._capture = False
            self._pooled = None
        assert features is not None
        return logits, features

    def forward(
        self, x: torch.Tensor, return_embedding: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        embedding = self.head.embed(self.backbone(x))
        logits = self.head.out(self.head.drop(self.head.act(embedding)))
        return (logits, embedding) if return_embedding else logits


def pooled_width(backbone: nn.Module) -> int:
    """How many features ``backbone`` (timm, without classifier) really gives the head.

    timm's ``num_features`` is the width of the last feature map, which is not always what a
    model without classifier returns: MobileNetV3, GhostNet, LCNet and HGNet put a
    ``conv_head`` after the pooling (``mobilenetv3_small_050``: 288 features pooled, 1024
    out). timm states the real width as ``head_hidden_size``; a backbone that does not is
    measured, by passing one image through on the meta device, where no memory is used and
    nothing is computed (the backbone's own tensors and mode stay as they are).
    """
    stated = getattr(backbone, "head_hidden_size", None)
    if isinstance(stated, int) and stated > 0:
        return stated
    cfg = getattr(backbone, "pretrained_cfg", None) or {}
    size = tuple(cfg.get("input_size") or (3, 224, 224))
    stand_ins = {
        name: torch.empty_like(t, device="meta")
        for name, t in (*backbone.named_parameters(), *backbone.named_buffers())
    }
    training = backbone.training
    backbone.eval()  # train-mode BatchNorm refuses a batch of one
    try:
        with torch.no_grad():
            out = torch.func.functional_call(
                backbone, stand_ins, (torch.empty((1, *size), device="meta"),)
            )
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return _timm_width(backbone)  # cannot run on the meta device: timm's word
    finally:
        backbone.train(training)
    return int(out.shape[-1]) if out.ndim == 2 else _timm_width(backbone)


def _timm_width(backbone: nn.Module) -> int:
    """timm's ``num_features``: every timm model has it (a plain ``nn.Module`` attribute)."""
    return int(getattr(backbone, "num_features", 0))


def create_backbone(name: str) -> nn.Module:
    """A randomly initialised timm backbone without classifier, pooled by global max pooling.

    Weights are loaded separately (:mod:`trainer.train.pretrained`) so that building a model from a
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


def default_ood_layer(backbone: nn.Module) -> str | None:
    """The backbone stage at 1/16 of the input resolution (timm's ``feature_info``), whose
    averaged output the out-of-distribution check measures; ``None`` for backbones without
    that information (the head's embedding is used then)."""
    info = getattr(backbone, "feature_info", None)
    try:
        stages = [(f["module"], f["reduction"]) for f in info]  # type: ignore[union-attr]
    except (TypeError, KeyError):
        return None
    at_16 = [name for name, reduction in stages if reduction == 16]
    return at_16[-1] if at_16 else None


def ood_feature_width(model: BrainTumorClassifier, layer: str | None) -> int:
    """Width of the features that ``layer`` gives (see :meth:`set_ood_layer`)."""
    if layer is None:
        return model.head.fc.out_features
    for f in getattr(model.backbone, "feature_info", None) or []:
        if f.get("module") == layer:
            return int(f["num_chs"])
    raise ValueError(f"{layer!r} is not a feature stage of this backbone")


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
            head.bn.num_features,
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
