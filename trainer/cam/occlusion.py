"""Occlusion: what the answer depends on, measured by hiding parts of the image.

A patch filled with the background (black, the MRI's surroundings and the padding the model
already sees) slides over the model's square input; where hiding it lowers the target class's
calibrated probability, the model was using what was there. Unlike a gradient map it needs no
access to the network's insides and cannot show evidence the answer does not rest on, which
makes it the honest "precise" map and the direct test of whether a class depends on its lesion
(:func:`box_fill_drop`). It costs one forward pass per patch position (100 by default).

Everything works on the model's uint8 square (``trainer.preprocess.to_model_square``) through
a ``probabilities`` callable, so the same code serves the Predictor and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "ProbabilityFn",
    "box_fill_drop",
    "fill_boxes",
    "occlusion_map",
]

# (N, S, S) uint8 squares -> (N, C) calibrated class probabilities
ProbabilityFn = Callable[[np.ndarray], np.ndarray]

GRID = 10  # patch positions per side
PATCH_FRACTION = 0.2  # patch side as a fraction of the image side (a fifth)
BATCH = 25


def occlusion_map(
    probabilities: ProbabilityFn,
    square: np.ndarray,
    target: int,
    grid: int = GRID,
    patch_fraction: float = PATCH_FRACTION,
    fill: int = 0,
) -> np.ndarray:
    """(S, S) float32 map in [0, 1]: at each pixel, the mean drop in ``target``'s probability
    over the patch positions that hide it (negative drops count as none), scaled to its peak;
    all zeros when no patch lowers the probability."""
    sq = _check_square(square)
    side = sq.shape[0]
    patch = max(1, round(side * patch_fraction))
    starts = np.unique(np.round(np.linspace(0, side - patch, grid)).astype(int))
    boxes = [(x, y, x + patch, y + patch) for y in starts for x in starts]
    drops = _drops(probabilities, sq, target, boxes, fill)
    total = np.zeros((side, side), dtype=np.float64)
    count = np.zeros((side, side), dtype=np.float64)
    for (x0, y0, x1, y1), drop in zip(boxes, drops, strict=True):
        total[y0:y1, x0:x1] += max(float(drop), 0.0)
        count[y0:y1, x0:x1] += 1.0
    heat = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    peak = float(heat.max())
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def fill_boxes(square: np.ndarray, boxes: Sequence[tuple[int, int, int, int]], fill: int = 0):
    """A copy of ``square`` with each (x0, y0, x1, y1) pixel box set to ``fill``."""
    out = np.array(_check_square(square))
    for x0, y0, x1, y1 in boxes:
        out[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = fill
    return out


def box_fill_drop(
    probabilities: ProbabilityFn,
    square: np.ndarray,
    target: int,
    box_sets: Sequence[Sequence[tuple[int, int, int, int]]],
    fill: int = 0,
) -> np.ndarray:
    """The drop in ``target``'s probability when each set of boxes is filled (one per set)."""
    sq = _check_square(square)
    stack = np.stack([sq, *(fill_boxes(sq, boxes, fill) for boxes in box_sets)])
    probs = _probabilities_in_batches(probabilities, stack)[:, target]
    return (probs[0] - probs[1:]).astype(np.float64)


def _drops(
    probabilities: ProbabilityFn,
    square: np.ndarray,
    target: int,
    boxes: Sequence[tuple[int, int, int, int]],
    fill: int,
) -> np.ndarray:
    return box_fill_drop(probabilities, square, target, [[b] for b in boxes], fill)


def _probabilities_in_batches(probabilities: ProbabilityFn, stack: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [np.asarray(probabilities(stack[i : i + BATCH])) for i in range(0, len(stack), BATCH)]
    )


def _check_square(square: np.ndarray) -> np.ndarray:
    sq = np.asarray(square)
    if sq.ndim != 2 or sq.shape[0] != sq.shape[1] or sq.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (S, S) model square, got {sq.dtype} {sq.shape}")
    return sq
