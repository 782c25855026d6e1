"""Showing a CAM: back in the original image's geometry, coloured, blended, side by side.

How a map is shown, and why: a map coloured from its zero up tints the whole slice and reads
as "the model looked everywhere". Only the strong part is coloured here: below
:data:`HEAT_FLOOR` of the map's peak the overlay is fully transparent, above it the colour
fades in over :data:`HEAT_RAMP`, and the colours come from the upper part of a perceptually
uniform colour map (matplotlib's ``inferno``: dark red to yellow, brightness rising with
strength, readable in grey print and by most colour-blind readers). The screen, the PNG
export and the PDF all colour through :func:`heat_rgba`, so they show the same picture.
"""

from __future__ import annotations

import matplotlib
import numpy as np

from trainer.io.scan import quantise
from trainer.preprocess import square_to_original

__all__ = [
    "HEAT_COLORMAP",
    "HEAT_FLOOR",
    "cam_to_original",
    "heat_rgba",
    "legend_rgba",
    "render_overlay",
    "side_by_side",
]

HEAT_COLORMAP = "inferno"
HEAT_FLOOR = 0.5  # of the map's peak: weaker evidence is not coloured at all
HEAT_RAMP = 0.2  # above the floor, the colour reaches full strength over this much
_COLOUR_RANGE = (0.35, 1.0)  # the part of the colour map used (its near-black end is skipped)


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


def heat_rgba(
    cam01: np.ndarray, colormap: str = HEAT_COLORMAP, floor: float = HEAT_FLOOR
) -> np.ndarray:
    """uint8 RGBA (H, W, 4): the map's colour and its per-pixel opacity (0 below ``floor``).

    ``floor`` 0 colours the whole map (the classic look, every pixel opaque)."""
    if not 0.0 <= floor < 1.0:
        raise ValueError(f"floor must be in [0, 1), got {floor}")
    cam = np.clip(np.nan_to_num(np.asarray(cam01, dtype=np.float32)), 0.0, 1.0)
    if floor == 0.0:
        colour = _colormap(colormap)(cam)[..., :3]
        alpha = np.ones_like(cam)
    else:
        strength = np.clip((cam - floor) / (1.0 - floor), 0.0, 1.0)
        lo, hi = _COLOUR_RANGE
        colour = _colormap(colormap)(lo + (hi - lo) * strength)[..., :3]
        alpha = np.clip((cam - floor) / HEAT_RAMP, 0.0, 1.0)
    return quantise(np.concatenate([colour, alpha[..., None]], axis=2))


def legend_rgba(
    width: int, height: int, colormap: str = HEAT_COLORMAP, floor: float = HEAT_FLOOR
) -> np.ndarray:
    """uint8 RGBA (height, width, 4): the overlay's scale from 0 (left) to the peak (right),
    drawn by :func:`heat_rgba` itself, for the legend beside the picture."""
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, max(width, 2), dtype=np.float32), (height, width))
    return heat_rgba(ramp, colormap, floor)


def render_overlay(
    grey01: np.ndarray,
    cam01: np.ndarray,
    opacity: float = 0.6,
    colormap: str = HEAT_COLORMAP,
    floor: float = HEAT_FLOOR,
) -> np.ndarray:
    """uint8 RGB (H, W, 3): the grey image with the heat map blended on top.

    Each pixel blends as ``grey·(1 − a) + colour·a`` with ``a = opacity × alpha`` from
    :func:`heat_rgba`: ``opacity`` 0 gives the plain image, and below ``floor`` of the peak the
    image shows through untouched. ``colormap`` is a matplotlib name."""
    grey = _as_grey01(grey01)
    cam = np.asarray(cam01, dtype=np.float32)
    if cam.shape != grey.shape:
        raise ValueError(
            f"map shape {cam.shape} differs from image shape {grey.shape}; "
            "bring the map to the image with cam_to_original first"
        )
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity must be in [0, 1], got {opacity}")
    rgba = heat_rgba(cam, colormap, floor).astype(np.float64) / 255.0
    a = rgba[..., 3:] * opacity
    blended = grey[..., None] * (1.0 - a) + rgba[..., :3] * a
    return quantise(blended)


def side_by_side(grey01: np.ndarray, overlay_rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, 2W, 3): original | overlay, for saving or a report figure."""
    left = quantise(np.repeat(_as_grey01(grey01)[..., None], 3, axis=2))
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
