"""The training step, in one place: the engine runs it, and the speed probe times it.

A step is: augment the uint8 batch on the device, normalise, forward (with autocast on CUDA),
cross-entropy with label smoothing plus the paper's Keras-style penalties, backward (through
a gradient scaler for float16), optimiser step. The optimiser, its parameter groups, the
learning-rate schedule and the batch-norm policy are built here too, so that a recipe means
the same thing to a real run and to a measurement of it.

The learning-rate schedule is a pure function of the run's progress (epoch and batch), not a
stateful scheduler object: a run resumed in the middle of an epoch, or restarted with a
smaller batch after running out of memory, sets exactly the learning rate an uninterrupted
run would have at that point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from trainer.config import TrainConfig
from trainer.model import BrainTumorClassifier
from trainer.preprocess import normalize_batch
from trainer.train.augment import augment_batch, cutmix
from trainer.train.bn import hold_batchnorm_statistics
from trainer.train.regularization import regularization_loss
from trainer.vocab import OPTIMIZERS, SCHEDULES, in_words

ONE_CYCLE_WARMUP = 0.3  # torch.optim.lr_scheduler.OneCycleLR's pct_start
ONE_CYCLE_START_DIV = 25.0  # its div_factor: the first step's lr is the peak / 25
ONE_CYCLE_END_DIV = 1e4  # its final_div_factor: the last step's lr is the start lr / 1e4


@dataclass(frozen=True)
class StepResult:
    """What one step measured, summed over its images (so epochs can average exactly).

    ``sums`` stays on the device: reading it would make the host wait for the device every
    batch (trainer.train.epoch_sums reads it when a display needs it)."""

    sums: torch.Tensor  # (loss × images, penalty × images, correct), on the device
    count: int


def amp_dtype(device: torch.device, enabled: bool) -> torch.dtype | None:
    """Autocast on CUDA only: bfloat16 where supported, float16 (with a scaler) otherwise."""
    if not enabled or device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def uses_channels_last(cfg: TrainConfig, device: torch.device) -> bool:
    """Channels-last helps cuDNN, and on the CPU the depthwise convolutions of EfficientNet
    (measured: benchmarks/inference.py); MPS gains nothing from it."""
    return cfg.channels_last and device.type in ("cuda", "cpu")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, object]]:
    """Weight decay on weights only: decaying biases and normalisation scales pulls them
    towards zero for no benefit (timm's ``param_groups_weight_decay`` does the same)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 else decay).append(p)
    groups: list[dict[str, object]] = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    groups = parameter_groups(model, cfg.weight_decay)
    name = cfg.optimizer.lower()
    if name == "adamax":
        return torch.optim.Adamax(groups, lr=cfg.lr)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use {in_words(OPTIMIZERS)}")


def lr_factor(cfg: TrainConfig, epoch: int, batch: int, batches: int) -> float | None:
    """The learning rate of batch ``batch`` (0-based) of epoch ``epoch`` (1-based), as a
    factor of ``cfg.lr``; ``None`` for "plateau", which reacts to validation instead."""
    if cfg.schedule in ("none", "plateau"):
        return 1.0 if cfg.schedule == "none" else None
    total = max(cfg.epochs, 1)
    if cfg.schedule == "cosine":  # per epoch, after ``warmup_epochs`` linear ones
        done, warm = epoch - 1, cfg.warmup_epochs
        if done < warm:
            return (done + 1) / (warm + 1)
        t = (done - warm) / max(total - warm, 1)
        return 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
    if cfg.schedule == "onecycle":  # per batch: OneCycleLR's cosine warm-up and annealing
        progress = min(((epoch - 1) + batch / max(batches, 1)) / total, 1.0)
        start = 1 / ONE_CYCLE_START_DIV
        end = start / ONE_CYCLE_END_DIV
        if progress < ONE_CYCLE_WARMUP:
            t = progress / ONE_CYCLE_WARMUP
            return _cos_ramp(start, 1.0, t)
        t = (progress - ONE_CYCLE_WARMUP) / (1 - ONE_CYCLE_WARMUP)
        return _cos_ramp(1.0, end, t)
    raise ValueError(f"unknown schedule {cfg.schedule!r}; use {in_words(SCHEDULES)}")


def _cos_ramp(start: float, stop: float, t: float) -> float:
    return stop + (start - stop) * 0.5 * (1 + math.cos(math.pi * t))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def prepare_train_mode(model: BrainTumorClassifier, cfg: TrainConfig) -> None:
    """``model.train()``, then the parts the recipe keeps in eval mode: a frozen backbone,
    or every BatchNorm when its statistics are held."""
    model.train()
    if cfg.freeze_backbone:
        model.backbone.eval()
    if cfg.batchnorm == "frozen":
        hold_batchnorm_statistics(model)


def configure_for_training(
    model: BrainTumorClassifier, cfg: TrainConfig, device: torch.device
) -> int:
    """Freeze what the recipe freezes, move the model to ``device`` in the step's memory
    format. Returns the number of frozen parameters. Weights are loaded before this."""
    from trainer.model import set_backbone_trainable
    from trainer.train.bn import freeze_early_stages

    frozen = 0
    if cfg.freeze_backbone:
        set_backbone_trainable(model, False)
        frozen = sum(p.numel() for p in model.backbone.parameters())
    elif cfg.freeze_stages:
        frozen = freeze_early_stages(model.backbone, cfg.freeze_stages)
    model.to(device)
    if uses_channels_last(cfg, device):
        model.to(memory_format=torch.channels_last)
    return frozen


class TrainStep:
    """One optimisation step of ``model`` (``train_model`` is the same model, possibly
    wrapped by DistributedDataParallel), exactly as the recipe ``cfg`` defines it."""

    def __init__(
        self,
        model: BrainTumorClassifier,
        cfg: TrainConfig,
        device: torch.device,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        train_model: nn.Module | None = None,
    ) -> None:
        self.model = model
        self.train_model = train_model or model
        self.cfg = cfg
        self.device = device
        self.mean, self.std = mean, std
        self.optimizer = make_optimizer(model, cfg)
        self.amp_dtype = amp_dtype(device, cfg.amp)
        self.channels_last = uses_channels_last(cfg, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)

    def model_inputs(self, x01: torch.Tensor) -> torch.Tensor:
        """Normalised 3-channel input from [0, 1] grey batches, in the step's memory format."""
        inputs = normalize_batch(x01, self.mean, self.std)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs

    def augmented_inputs(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """uint8 (N, S, S) squares -> augmented, normalised model input on the device."""
        x01 = x.to(self.device, non_blocking=True).unsqueeze(1).float().div_(255.0)
        x01, _ = augment_batch(x01, self.cfg.augment, generator)
        return self.model_inputs(x01)

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> StepResult:
        """One step on uint8 squares ``x``; ``generator`` (seeded by the caller for this
        batch) draws the augmentation and the dropout masks, and nothing else does."""
        cfg = self.cfg
        inputs = self.augmented_inputs(x, generator)
        inputs, mixed = cutmix(inputs, cfg.augment, generator)
        y = y.to(self.device, non_blocking=True)
        self.model.head.drop.generator = generator  # the run's own draws (model.RunDropout)
        try:
            with torch.autocast(
                self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
            ):
                logits, emb = self.train_model(inputs, return_embedding=True)
        finally:
            self.model.head.drop.generator = None
        ce = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        if mixed is not None:
            partner = y[mixed.partner.to(self.device)]
            other = F.cross_entropy(logits.float(), partner, label_smoothing=cfg.label_smoothing)
            ce = mixed.keep * ce + (1.0 - mixed.keep) * other
        reg = regularization_loss(self.model.head, emb.float(), cfg.regularization)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(ce + reg).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        n = len(y)
        correct = (logits.detach().argmax(1) == y).sum().float()
        return StepResult(torch.stack([ce.detach() * n, reg.detach() * n, correct]), n)
