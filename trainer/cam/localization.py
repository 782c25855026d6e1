"""Does a heat map point at the lesion? Scores against hand-marked lesion boxes.

A map is measured like an accuracy, on slices whose lesions a reader has boxed (the format of
the data set's ``lesions/val_boxes.json``: percent coordinates of the original image):

* **pointing game**: is the map's maximum inside a box, with the customary tolerance of
  15 px at 224 px (6.7 % of the padded square's side, i.e. of the longer image side);
* **mass share**: the share of the map's total mass inside the boxes, beside the boxes' share
  of the brain; their ratio is the **lift** over a map that is flat on the brain (1.0) — a
  warm blob centred on the brain "hits" central lesions in the pointing game but has a low lift.

Aggregates are per class; the lift of a group is the ratio of its mean mass share to its mean
box share (a ratio of means: one tiny box cannot dominate it).

Also here, because the benchmark needs the same geometry: the brain mask, and boxes of the
same size placed elsewhere in the brain (the control for "does the answer depend on the
lesion?", :func:`trainer.cam.occlusion.box_fill_drop`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "POINTING_TOLERANCE",
    "BoxedSlice",
    "GroupScore",
    "MapScore",
    "brain_mask",
    "control_boxes",
    "read_lesion_boxes",
    "score_map",
    "summarise",
]

POINTING_TOLERANCE = 15 / 224  # of the padded square's side
PixelBox = tuple[int, int, int, int]  # x0, y0, x1, y1 (x1, y1 exclusive)


@dataclass(frozen=True)
class BoxedSlice:
    """One slice with its marked lesion(s): ``boxes`` in percent of the original image."""

    path: str  # relative to the data set's root, as in the boxes file
    label: str
    certainty: str
    boxes: tuple[tuple[float, float, float, float], ...]
    note: str = ""

    def pixel_boxes(self, height: int, width: int) -> list[PixelBox]:
        """The boxes in pixels of an image of this size (the original, or a model square
        after :meth:`in_square`)."""
        out = []
        for x0, y0, x1, y1 in self.boxes:
            out.append(
                (
                    math.floor(x0 / 100 * width),
                    math.floor(y0 / 100 * height),
                    max(math.ceil(x1 / 100 * width), math.floor(x0 / 100 * width) + 1),
                    max(math.ceil(y1 / 100 * height), math.floor(y0 / 100 * height) + 1),
                )
            )
        return out

    def square_boxes(self, height: int, width: int, side: int) -> list[PixelBox]:
        """The boxes in pixels of the model's ``side``-pixel square (the original padded to a
        square with black, then resized: ``trainer.preprocess.to_model_square``)."""
        longest = max(height, width)
        top, left = (longest - height) / 2, (longest - width) / 2
        scale = side / longest
        out = []
        for x0, y0, x1, y1 in self.boxes:
            out.append(
                (
                    math.floor((left + x0 / 100 * width) * scale),
                    math.floor((top + y0 / 100 * height) * scale),
                    math.ceil((left + x1 / 100 * width) * scale),
                    math.ceil((top + y1 / 100 * height) * scale),
                )
            )
        return out


def read_lesion_boxes(path: str | Path) -> list[BoxedSlice]:
    """The slices of a boxes file that show a lesion (``visible`` and at least one box).

    Raises ValueError naming the file and the entry for anything malformed."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable boxes file ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected an object of slices")
    out = []
    for name, entry in raw.items():
        where = f"{path}: entry {name!r}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object")
        if not entry.get("visible", True) or not entry.get("boxes"):
            continue
        boxes = []
        for box in entry["boxes"]:
            if (
                not isinstance(box, list)
                or len(box) != 4
                or not all(isinstance(v, (int, float)) for v in box)
            ):
                raise ValueError(f"{where}: a box must be [x0, y0, x1, y1] in percent")
            x0, y0, x1, y1 = (float(v) for v in box)
            if not (0 <= x0 < x1 <= 100 and 0 <= y0 < y1 <= 100):
                raise ValueError(f"{where}: box {box} is not inside 0-100 %")
            boxes.append((x0, y0, x1, y1))
        label, certainty = entry.get("class"), entry.get("certainty", "high")
        if not isinstance(label, str) or not isinstance(certainty, str):
            raise ValueError(f"{where}: class and certainty must be text")
        out.append(BoxedSlice(name, label, certainty, tuple(boxes), str(entry.get("note", ""))))
    return out


def brain_mask(grey01: np.ndarray) -> np.ndarray:
    """bool (H, W): the head on the slice, told from the black background.

    Smoothed, thresholded at half of Otsu's level (so dark CSF and necrosis inside the head
    stay in), holes filled, largest connected part kept. A reading aid for the lift, not a
    segmentation: skull and scalp count as brain."""
    import cv2

    from trainer.io.scan import quantise

    u8 = quantise(np.asarray(grey01, dtype=np.float32))
    sigma = max(1.0, 0.01 * max(u8.shape))
    blurred = cv2.GaussianBlur(u8, (0, 0), sigma)
    otsu, _ = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    mask = (blurred > max(otsu * 0.5, 8)).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return np.ones(u8.shape, dtype=bool)  # nothing told apart: the whole image
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    head = (labels == largest).astype(np.uint8)
    # Fill holes: flood the background from a border added around the head; what the flood
    # does not reach and is not head is a hole inside it.
    padded = np.pad(head, 1)
    flood_mask = np.zeros((padded.shape[0] + 2, padded.shape[1] + 2), dtype=np.uint8)
    cv2.floodFill(padded, flood_mask, (0, 0), 2)
    return padded[1:-1, 1:-1] != 2


@dataclass(frozen=True)
class MapScore:
    """One map against one slice's boxes."""

    hit: bool  # the maximum within tolerance of a box
    mass_share: float  # of the map's mass inside the boxes
    box_share: float  # of the brain covered by the boxes


def score_map(
    cam01: np.ndarray,
    boxes: Sequence[PixelBox],
    brain: np.ndarray,
    tolerance: float = POINTING_TOLERANCE,
) -> MapScore:
    """Score a map at the original image's resolution against pixel boxes of that image."""
    cam = np.clip(np.nan_to_num(np.asarray(cam01, dtype=np.float64)), 0.0, None)
    if cam.shape != brain.shape:
        raise ValueError(f"map {cam.shape} and brain mask {brain.shape} differ in size")
    h, w = cam.shape
    inside = np.zeros((h, w), dtype=bool)
    for x0, y0, x1, y1 in boxes:
        inside[max(y0, 0) : min(y1, h), max(x0, 0) : min(x1, w)] = True
    total = float(cam.sum())
    mass = float(cam[inside].sum()) / total if total > 0 else 0.0
    brain_area = float(brain.sum())
    share = float((inside & brain).sum()) / brain_area if brain_area > 0 else 0.0
    hit = False
    if total > 0:
        py, px = np.unravel_index(int(np.argmax(cam)), cam.shape)
        limit = tolerance * max(h, w)
        hit = any(_distance(int(px), int(py), box) <= limit for box in boxes)
    return MapScore(hit, mass, share)


def _distance(px: int, py: int, box: PixelBox) -> float:
    x0, y0, x1, y1 = box
    dx = max(x0 - px, 0, px - (x1 - 1))
    dy = max(y0 - py, 0, py - (y1 - 1))
    return math.hypot(dx, dy)


@dataclass(frozen=True)
class GroupScore:
    """A group of slices (a class, or all): counts and means of their :class:`MapScore`."""

    n: int
    pointing: float
    mass_share: float
    box_share: float

    @property
    def lift(self) -> float:
        return self.mass_share / self.box_share if self.box_share > 0 else float("nan")


def summarise(scores: Iterable[MapScore]) -> GroupScore:
    rows = list(scores)
    if not rows:
        return GroupScore(0, float("nan"), float("nan"), float("nan"))
    return GroupScore(
        len(rows),
        float(np.mean([r.hit for r in rows])),
        float(np.mean([r.mass_share for r in rows])),
        float(np.mean([r.box_share for r in rows])),
    )


def control_boxes(
    brain: np.ndarray,
    lesion: Sequence[PixelBox],
    rng: np.random.Generator,
    attempts: int = 200,
) -> list[PixelBox] | None:
    """Boxes of the lesion boxes' sizes placed elsewhere: wholly inside the brain (every
    corner and the centre on it) and clear of every lesion box. None when no place fits."""
    h, w = brain.shape
    placed: list[PixelBox] = []
    for x0, y0, x1, y1 in lesion:
        bw, bh = x1 - x0, y1 - y0
        for _ in range(attempts):
            if bw >= w or bh >= h:
                return None
            nx, ny = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            box = (nx, ny, nx + bw, ny + bh)
            points = [(nx, ny), (nx + bw - 1, ny), (nx, ny + bh - 1), (nx + bw - 1, ny + bh - 1)]
            points.append((nx + bw // 2, ny + bh // 2))
            if not all(brain[y, x] for x, y in points):
                continue
            if any(_overlap(box, other) for other in [*lesion, *placed]):
                continue
            placed.append(box)
            break
        else:
            return None
    return placed


def _overlap(a: PixelBox, b: PixelBox) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
