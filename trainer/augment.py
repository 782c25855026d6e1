"""The paper's augmentation, applied to whole batches on the training device.

Rotation up to ±5°, shifts up to ±5 % of width and height, horizontal flip with p = 0.5
(Keras ``ImageDataGenerator(rotation_range=5, width_shift_range=.05, height_shift_range=.05,
horizontal_flip=True)``; its default ``fill_mode='nearest'`` is ``padding_mode='border'`` here).

One batched affine warp serves the JPEG path and the cache path alike and runs on the GPU
when there is one, so the data loader only decodes. Parameters are drawn on the CPU from a
generator the caller seeds, so a batch's augmentation depends only on (seed, epoch, batch):
an interrupted run that resumes draws exactly the same ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from trainer.config import AugmentConfig


@dataclass(frozen=True)
class AugmentParams:
    angle_deg: torch.Tensor  # (N,)
    shift_x: torch.Tensor  # (N,) fraction of width, + moves content right
    shift_y: torch.Tensor  # (N,) fraction of height, + moves content down
    flip: torch.Tensor  # (N,) bool


def sample_params(n: int, cfg: AugmentConfig, generator: torch.Generator) -> AugmentParams:
    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * bound

    angle = uniform(cfg.rotation_deg)
    sx, sy = uniform(cfg.shift_fraction), uniform(cfg.shift_fraction)
    flip = torch.rand(n, generator=generator) < 0.5 if cfg.hflip else torch.zeros(n, dtype=bool)
    return AugmentParams(angle, sx, sy, flip)


def affine_matrices(p: AugmentParams) -> torch.Tensor:
    """(N, 2, 3) matrices for ``affine_grid``, mapping OUTPUT coordinates to INPUT ones
    (normalised to [-1, 1]): the inverse of "flip, rotate, then shift"."""
    theta = p.angle_deg * (math.pi / 180.0)
    cos, sin = torch.cos(theta), torch.sin(theta)
    # forward: out = R · (F · in) + t, with t in normalised units (a shift of f of the width is 2f)
    # inverse: in = F · R^T · (out - t)   (F is its own inverse)
    fx = torch.where(p.flip, -1.0, 1.0)
    tx, ty = 2 * p.shift_x, 2 * p.shift_y
    a, b = fx * cos, fx * sin
    c, d = -sin, cos
    m = torch.stack(
        [
            torch.stack([a, b, -(a * tx + b * ty)], dim=1),
            torch.stack([c, d, -(c * tx + d * ty)], dim=1),
        ],
        dim=1,
    )
    return m


def augment_batch(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, AugmentParams]:
    """Augment float (N, C, H, W) images; returns the warped batch and the parameters drawn."""
    params = sample_params(x.shape[0], cfg, generator)
    if not cfg.enabled:
        return x, params
    theta = affine_matrices(params).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    ), params
