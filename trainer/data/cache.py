"""``brainmri prepare``: decode a data set once into one compact, safe file.

Why: decoding 512-px JPEGs dominates a CPU epoch, and a GPU machine reached over a 64 MiB
link cannot receive the 160 MB originals. The cache holds each image already converted to the
model's uint8 grey square (see :mod:`trainer.preprocess`), WebP-compressed, in a safetensors
file (no pickle). Pixel-identical squares are stored once. Quality is chosen automatically as
the highest that fits ``max_mib``; the mean absolute error against the uncompressed squares is
measured and stored, so its cost is on record.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from trainer.atomic import atomic_path
from trainer.data.discovery import DatasetIndex, Sample, discover
from trainer.errors import DatasetError, UnreadableInputError
from trainer.parallel import map_in_threads
from trainer.preprocess import PREPROCESS_VERSION, to_model_square

CACHE_FORMAT = "brainmri-cache"
QUALITIES = (95, 90, 85, 80, 75, 70, 60, 50)


@dataclass
class Cache:
    index: DatasetIndex
    squares: torch.Tensor  # uint8 (N, S, S), in index.samples order
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        return int(self.squares.shape[-1])


def _encode(square: np.ndarray, quality: int) -> bytes:
    buf = io.BytesIO()
    if quality >= 100:
        Image.fromarray(square).save(buf, "WEBP", lossless=True)
    else:
        Image.fromarray(square).save(buf, "WEBP", quality=quality, method=4)
    return buf.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"))


def _square_of(sample: Sample, size: int) -> tuple[np.ndarray | None, str | None, int | None]:
    """(square, error, phash of the original) for one file."""
    from trainer.data.duplicates import phash
    from trainer.io import read_grey

    try:
        grey = read_grey(sample.path)
    except UnreadableInputError as exc:
        return None, exc.reason, None
    return to_model_square(grey, size), None, phash(grey)


def _pick_quality(squares: Sequence[np.ndarray], n_total: int, max_bytes: int) -> int:
    """Highest quality whose size, extrapolated from a sample, fits the budget with 3 % room."""
    rng = np.random.default_rng(0)
    pick = rng.choice(len(squares), size=min(300, len(squares)), replace=False)
    for q in QUALITIES:
        sampled = sum(len(_encode(squares[i], q)) for i in pick)
        if sampled / len(pick) * n_total * 1.03 <= max_bytes:
            return q
    return QUALITIES[-1]


def prepare_cache(
    data: str | Path,
    img_size: int,
    out: str | Path,
    max_mib: float = 50.0,
    workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Build the cache file; returns its summary (also stored in the file)."""
    index = discover(data)
    samples = list(index.samples)
    results = map_in_threads(
        functools.partial(_square_of, size=img_size), samples, workers, progress
    )
    kept = [(s, sq, h) for s, (sq, _, h) in zip(samples, results, strict=True) if sq is not None]
    skipped = [(s.rel, err) for s, (sq, err, _) in zip(samples, results, strict=True) if sq is None]
    if not kept:
        raise DatasetError(f"{index.root}: no readable image to cache")

    unique: dict[bytes, int] = {}
    slot_of: list[int] = []
    unique_squares: list[np.ndarray] = []
    for _, sq, _ in kept:
        key = hashlib.sha1(sq.tobytes()).digest()
        if key not in unique:
            unique[key] = len(unique_squares)
            unique_squares.append(sq)
        slot_of.append(unique[key])

    max_bytes = int(max_mib * 2**20)
    quality = _pick_quality(unique_squares, len(unique_squares), max_bytes)
    while True:
        blobs = map_in_threads(functools.partial(_encode, quality=quality), unique_squares, workers)
        total = sum(len(b) for b in blobs)
        if total <= max_bytes * 0.98 or quality == QUALITIES[-1]:
            break
        quality = QUALITIES[min(QUALITIES.index(quality) + 1, len(QUALITIES) - 1)]
    errors = [
        float(np.abs(_decode(b).astype(np.int16) - a.astype(np.int16)).mean())
        for b, a in zip(
            blobs[:: max(1, len(blobs) // 300)],
            unique_squares[:: max(1, len(blobs) // 300)],
            strict=True,
        )
    ]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    summary = {
        "format": CACHE_FORMAT,
        "preprocess": PREPROCESS_VERSION,
        "img_size": img_size,
        "encoding": f"webp q{quality}" if quality < 100 else "webp lossless",
        "quality": quality,
        "source_name": index.root.name,
        "layout": index.layout,
        "classes": list(index.classes),
        "n_images": len(kept),
        "n_unique": len(blobs),
        "bytes": int(offsets[-1]),
        "mib": round(offsets[-1] / 2**20, 2),
        "mae_vs_lossless_0_255": round(float(np.mean(errors)), 3),
        "skipped": skipped,
        "samples": [[s.rel, s.label, s.folder] for s, _, _ in kept],
        "phash": [f"{h:016x}" for _, _, h in kept],
        "sha_slot": slot_of,
    }
    tensors = {
        "blobs": torch.from_numpy(np.frombuffer(b"".join(blobs), dtype=np.uint8).copy()),
        "offsets": torch.from_numpy(offsets),
        "slots": torch.tensor(slot_of, dtype=torch.int64),
    }
    from safetensors.torch import save_file

    out = Path(out)
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={"brainmri-cache": json.dumps(summary)})
    return {k: v for k, v in summary.items() if k not in ("samples", "phash", "sha_slot")}


def load_cache(path: str | Path, data_root: str | Path | None = None) -> Cache:
    """Decode every square into one uint8 tensor (7k images at 224 px: ~350 MB, seconds)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        path = path / "cache.safetensors"
    if not path.is_file():
        raise DatasetError(f"{path}: no such cache file (make one with `brainmri prepare`)")
    with safe_open(str(path), framework="pt") as fh:
        raw = (fh.metadata() or {}).get("brainmri-cache")
    if raw is None:
        raise DatasetError(f"{path}: not a brainmri cache")
    meta = json.loads(raw)
    if meta.get("preprocess") != PREPROCESS_VERSION:
        raise DatasetError(
            f"{path}: made with preprocessing {meta.get('preprocess')!r}, this version uses "
            f"{PREPROCESS_VERSION!r}; run `brainmri prepare` again"
        )
    t = load_file(str(path))
    blobs, offsets = t["blobs"].numpy().tobytes(), t["offsets"].numpy()
    decoded = map_in_threads(
        lambda i: _decode(blobs[offsets[i] : offsets[i + 1]]), range(len(offsets) - 1), workers=4
    )
    unique = torch.from_numpy(np.stack(decoded))
    squares = unique[t["slots"]]
    root = Path(data_root) if data_root else path.parent / meta["source_name"]
    classes = tuple(meta["classes"])
    samples = tuple(
        Sample(root / rel, rel, int(lab), folder) for rel, lab, folder in meta["samples"]
    )
    index = DatasetIndex(root, classes, samples, meta["layout"], tuple(map(tuple, meta["skipped"])))
    return Cache(index, squares, meta)
