"""The paper's augmentation, applied to whole batches on the training device.

Rotation up to ±5°, shifts up to ±5 % of width and height, horizontal flip with p = 0.5
(Keras ``ImageDataGenerator(rotation_range=5, width_shift_range=.05, height_shift_range=.05,
horizontal_flip=True)``; its default ``fill_mode='nearest'`` is ``padding_mode='border'`` here).

One batched affine warp serves the JPEG path and the cache path alike and runs on the GPU
when there is one, so the data loader only decodes. Parameters are drawn on the CPU from a
generator the caller seeds, so a batch's augmentation depends only on (seed, epoch, batch):
an interrupted run that resumes draws exactly the same ones.

Optional, off unless a recipe asks (``AugmentConfig``), for a model whose evidence should be
the lesion rather than the slice's look or layout (issue 18, docs/results.md):

* a zoom into a random crop (``crop_scale``): the whole-slice layout stops being available;
* Hide-and-Seek (``hide_grid``, ``hide_prob``; Singh & Lee 2017): random grid cells are
  blacked out, so no single region (and no one piece of context) is always there to rely on;
* random gamma and contrast: the intensity profile that tells the source collections apart.

Their draws come after the paper's ones, so a recipe without them draws exactly what it did.
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
    scale: torch.Tensor | None = None  # (N,) crop side as a fraction of the image
    crop_x: torch.Tensor | None = None  # (N,) crop centre offset in [-1, 1] of the room left
    crop_y: torch.Tensor | None = None


def sample_params(n: int, cfg: AugmentConfig, generator: torch.Generator) -> AugmentParams:
    def uniform(bound: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * bound

    angle = uniform(cfg.rotation_deg)
    sx, sy = uniform(cfg.shift_fraction), uniform(cfg.shift_fraction)
    no_flip = torch.zeros(n, dtype=torch.bool)
    flip = torch.rand(n, generator=generator) < 0.5 if cfg.hflip else no_flip
    if cfg.crop_scale >= 1:
        return AugmentParams(angle, sx, sy, flip)
    scale = cfg.crop_scale + torch.rand(n, generator=generator) * (1 - cfg.crop_scale)
    cx, cy = uniform(1.0), uniform(1.0)
    return AugmentParams(angle, sx, sy, flip, scale, cx, cy)


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
    if p.scale is not None and p.crop_x is not None and p.crop_y is not None:
        # then zoom: output covers a square of side ``scale`` centred at an offset that keeps
        # it inside the (already warped) image: in = s · out + o, |o| <= 1 - s
        s = p.scale.view(-1, 1)
        offset = torch.stack([p.crop_x, p.crop_y], dim=1) * (1 - p.scale).view(-1, 1)
        linear = m[:, :, :2] * s.unsqueeze(1)
        shift = m[:, :, 2] + torch.einsum("nij,nj->ni", m[:, :, :2], offset)
        m = torch.cat([linear, shift.unsqueeze(2)], dim=2)
    return m


def hide_and_seek(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Black out each cell of a ``hide_grid`` × ``hide_grid`` division with ``hide_prob``."""
    n, _, h, w = x.shape
    g = cfg.hide_grid
    keep = (torch.rand(n, 1, g, g, generator=generator) >= cfg.hide_prob).to(x.device, x.dtype)
    mask = F.interpolate(keep, size=(h, w), mode="nearest")
    return x * mask


@dataclass(frozen=True)
class CutMix:
    """A batch after CutMix: each image ``i`` holds a box of image ``partner[i]``; its loss is
    ``keep × loss(y) + (1 − keep) × loss(y[partner])``."""

    partner: torch.Tensor  # (N,) long
    keep: float  # the share of each image that is its own


def cutmix(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, CutMix | None]:
    """CutMix one batch with probability ``cfg.cutmix`` (one box, one partner permutation)."""
    n, _, h, w = x.shape
    if cfg.cutmix <= 0 or n < 2 or float(torch.rand(1, generator=generator)) >= cfg.cutmix:
        return x, None
    lam = float(torch.rand(1, generator=generator))  # Beta(1, 1)
    cut = math.sqrt(1.0 - lam)
    bh, bw = round(h * cut), round(w * cut)
    cy = int(torch.randint(0, h, (1,), generator=generator))
    cx = int(torch.randint(0, w, (1,), generator=generator))
    y0, y1 = max(cy - bh // 2, 0), min(cy + bh // 2, h)
    x0, x1 = max(cx - bw // 2, 0), min(cx + bw // 2, w)
    partner = torch.randperm(n, generator=generator)
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x[partner.to(x.device), :, y0:y1, x0:x1]
    keep = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, CutMix(partner, keep)


def intensity(x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Random gamma, then contrast around each image's mean, on [0, 1] images."""
    n = x.shape[0]
    if cfg.gamma > 0:
        g = torch.exp((torch.rand(n, generator=generator) * 2 - 1) * cfg.gamma)
        x = x.clamp(0, 1).pow(g.to(x.device, x.dtype).view(-1, 1, 1, 1))
    if cfg.contrast > 0:
        c = 1 + (torch.rand(n, generator=generator) * 2 - 1) * cfg.contrast
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * c.to(x.device, x.dtype).view(-1, 1, 1, 1) + mean).clamp(0, 1)
    return x


def augment_batch(
    x: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator
) -> tuple[torch.Tensor, AugmentParams]:
    """Augment float (N, C, H, W) images; returns the warped batch and the parameters drawn."""
    params = sample_params(x.shape[0], cfg, generator)
    if not cfg.enabled:
        return x, params
    theta = affine_matrices(params).to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if cfg.gamma > 0 or cfg.contrast > 0:
        out = intensity(out, cfg, generator)
    if cfg.hides:
        out = hide_and_seek(out, cfg, generator)
    return out, params
