"""The paper's augmentation: bounded, training-only, reproducible from its seed."""

from __future__ import annotations

import math

import torch

from trainer.train.augment import AugmentConfig, augment_batch, sample_params


def test_parameters_stay_within_bounds():
    cfg = AugmentConfig()
    p = sample_params(5000, cfg, torch.Generator().manual_seed(0))
    assert p.angle_deg.abs().max() <= 5.0 and p.angle_deg.abs().max() > 4.9
    assert p.shift_x.abs().max() <= 0.05 and p.shift_y.abs().max() <= 0.05
    assert 0.45 < p.flip.float().mean() < 0.55


def _bright_spot(size: int, y: int, x: int) -> torch.Tensor:
    img = torch.zeros(1, 1, size, size)
    img[0, 0, y, x] = 1.0
    return img


def test_a_point_moves_no_further_than_rotation_plus_shift():
    size, y, x = 64, 10, 50  # off-centre: rotation moves it most
    cfg = AugmentConfig(hflip=False)
    img = _bright_spot(size, y, x).repeat(300, 1, 1, 1)
    out, _ = augment_batch(img, cfg, torch.Generator().manual_seed(1))
    c = (size - 1) / 2
    radius = math.hypot(x - c, y - c)
    bound = radius * math.radians(5) + 0.05 * size + 1.5  # arc + shift + interpolation
    for k in range(out.shape[0]):
        yy, xx = divmod(int(out[k, 0].argmax()), size)
        assert math.hypot(xx - x, yy - y) <= bound


def test_flip_mirrors_horizontally():
    cfg = AugmentConfig(rotation_deg=0, shift_fraction=0, hflip=True)
    img = _bright_spot(32, 5, 3).repeat(64, 1, 1, 1)
    out, p = augment_batch(img, cfg, torch.Generator().manual_seed(2))
    for k in range(64):
        yy, xx = divmod(int(out[k, 0].argmax()), 32)
        assert (yy, xx) == ((5, 28) if p.flip[k] else (5, 3))


def test_same_seed_same_batch_and_disabled_is_identity():
    img = torch.rand(4, 1, 32, 32)
    a, _ = augment_batch(img, AugmentConfig(), torch.Generator().manual_seed(7))
    b, _ = augment_batch(img, AugmentConfig(), torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    off = AugmentConfig(rotation_deg=0, shift_fraction=0, hflip=False)
    same, _ = augment_batch(img, off, torch.Generator().manual_seed(7))
    assert torch.equal(same, img)
