"""Showing a CAM: back in the original image's geometry, coloured, blended, side by side."""

from __future__ import annotations

import matplotlib
import numpy as np

from trainer.preprocess import square_to_original

__all__ = ["cam_to_original", "render_overlay", "side_by_side"]


def cam_to_original(cam_square: np.ndarray, height: int, width: int) -> np.ndarray:
    """(S, S) map -> (height, width) float32 in [0, 1], undoing pad-to-square + resize.

    The map is resized to the padded square and the padding cropped off, so a hot spot lands
    where the structure was in the original image (not stretched by the aspect ratio).
    """
    cam = np.asarray(cam_square)
    if cam.ndim != 2 or cam.shape[0] != cam.shape[1]:
        raise ValueError(f"expected a square (S, S) map, got shape {cam.shape}")
    if height < 1 or width < 1:
        raise ValueError(f"invalid original size {height}x{width}")
    out = square_to_original(np.nan_to_num(cam.astype(np.float32)), height, width)
    return np.clip(out, 0.0, 1.0).astype(np.float32, copy=False)


def render_overlay(
    grey01: np.ndarray, cam01: np.ndarray, opacity: float = 0.4, colormap: str = "jet"
) -> np.ndarray:
    """uint8 RGB (H, W, 3): the grey image with the coloured heat map blended on top.

    ``opacity`` 0 gives the plain image, 1 the pure colour map. ``colormap`` is a matplotlib
    name, so the names match the GUI's list (cv2's colormaps differ in name and colour order).
    """
    grey = _as_grey01(grey01)
    cam = np.asarray(cam01, dtype=np.float32)
    if cam.shape != grey.shape:
        raise ValueError(
            f"map shape {cam.shape} differs from image shape {grey.shape}; "
            "bring the map to the image with cam_to_original first"
        )
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    heat = _colormap(colormap)(np.clip(np.nan_to_num(cam), 0.0, 1.0))[..., :3]
    blended = grey[..., None] * (1.0 - opacity) + heat * opacity
    return _to_u8(blended)


def side_by_side(grey01: np.ndarray, overlay_rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, 2W, 3): original | overlay, for saving or a report figure."""
    left = _to_u8(np.repeat(_as_grey01(grey01)[..., None], 3, axis=2))
    right = np.asarray(overlay_rgb)
    if right.shape != left.shape or right.dtype != np.uint8:
        raise ValueError(f"overlay must be uint8 {left.shape}, got {right.dtype} {right.shape}")
    return np.concatenate([left, right], axis=1)


def _as_grey01(grey: np.ndarray) -> np.ndarray:
    """Float (H, W) in [0, 1]; uint8 input is scaled, so the GUI can pass either."""
    arr = np.asarray(grey)
    if arr.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    return np.clip(np.nan_to_num(arr.astype(np.float64)), 0.0, 1.0)


def _colormap(name: str) -> matplotlib.colors.Colormap:
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(f"unknown matplotlib colormap {name!r}") from None


def _to_u8(rgb01: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb01 * 255.0), 0, 255).astype(np.uint8)
