"""The one preprocessing path shared by training, evaluation, inference and Grad-CAM.

Why it looks like this:

* Every image becomes ONE grey channel first. In the public data set, PIL mode and colour
  tints correlate with the label (almost all ``notumor`` images are RGB, most glioma are L);
  a model fed colour could learn that instead of anatomy.
* The grey image is padded to a square with black (the MRI background) before resizing, so the
  aspect ratio, which also correlates with the source collection, is not squashed into the
  anatomy and every image keeps its proportions.
* The square is resized to ``input_size`` and quantised to uint8. Training caches, the JPEG path
  and inference all produce this same uint8 square, so a model sees identical numbers whichever
  path fed it.
* Normalisation (grey replicated to 3 channels, then mean/std) happens on the device, batched,
  with the values stored in the model file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from trainer.io.scan import quantise

if TYPE_CHECKING:  # torch only where a tensor is made: reading and resizing need none of it
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESS_VERSION = "grey-padsquare-bilinear-v1"


@dataclass(frozen=True)
class PadGeometry:
    """Where the original image sits inside its padded square (in original pixels)."""

    height: int
    width: int
    side: int
    top: int
    left: int


def pad_geometry(height: int, width: int) -> PadGeometry:
    side = max(height, width)
    return PadGeometry(height, width, side, (side - height) // 2, (side - width) // 2)


def to_model_square(grey01: np.ndarray, size: int) -> np.ndarray:
    """Grey image in [0, 1] (H, W) -> uint8 (size, size): pad to square, resize (antialiased).

    A uint8 input is taken as already quantised (``ScanSlice.render_u8``, which big images go
    through); a float input is quantised here, in blocks of rows, so a 100-megapixel image
    never has a float64 copy."""
    if grey01.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {grey01.shape}")
    g = pad_geometry(*grey01.shape)
    if grey01.dtype == np.uint8 and g.height == g.width:
        square = grey01  # nothing to pad: no copy
    else:
        square = np.zeros((g.side, g.side), dtype=np.uint8)
        step = max(1, (1 << 22) // max(1, g.width))
        for start in range(0, g.height, step):
            block = grey01[start : start + step]
            rows = slice(g.top + start, g.top + start + len(block))
            square[rows, g.left : g.left + g.width] = (
                block if block.dtype == np.uint8 else quantise(block)
            )
    if g.side == size:
        return np.array(square)  # a fresh array, as callers have always had
    # PIL's bilinear resize is antialiased when shrinking (a box-filter support), unlike cv2's.
    return np.array(Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR))


def square_to_original(square_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Undo :func:`to_model_square` for a float map (e.g. a Grad-CAM): back to (height, width)."""
    g = pad_geometry(height, width)
    img = Image.fromarray(square_map.astype(np.float32), mode="F")
    full = np.asarray(img.resize((g.side, g.side), Image.Resampling.BILINEAR))
    return np.ascontiguousarray(full[g.top : g.top + height, g.left : g.left + width])


def normalize_batch(
    squares: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    channels: int = 3,
) -> torch.Tensor:
    """uint8 squares (or floats already in [0, 1]), shaped (N, S, S) or (N, 1, S, S), on any
    device -> float (N, channels, S, S), normalised."""
    import torch

    x = squares if squares.ndim == 4 else squares.unsqueeze(1)
    x = x.float().div(255.0) if squares.dtype == torch.uint8 else x.float()
    if channels != 1:
        x = x.expand(-1, channels, -1, -1)
    m = torch.tensor(mean[:channels], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std[:channels], device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - m) / s


def normalize_squares(
    squares: np.ndarray, mean: Sequence[float], std: Sequence[float], channels: int = 3
) -> np.ndarray:
    """:func:`normalize_batch` in NumPy, for the torch-free inference path (ONNX Runtime):
    uint8 squares (N, S, S) -> float32 (N, channels, S, S), the same numbers
    (tests/test_fast_inference.py)."""
    x = np.asarray(squares, dtype=np.float32)[:, None] / np.float32(255.0)
    m = np.asarray(mean[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
    s = np.asarray(std[:channels], dtype=np.float32).reshape(1, -1, 1, 1)
    return np.ascontiguousarray((np.repeat(x, channels, axis=1) - m) / s)
