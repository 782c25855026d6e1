"""Perceptual hashes and near-duplicate search, the way the public data set's README measured them.

Why this exists: the public brain-tumor MRI set holds hundreds of copies and near-copies, many
of them across ``Training`` and ``Testing``. A test image whose twin was trained on measures
memory, not generalisation. The README's numbers (``duplicates.csv``, ``splits/test_dedup.txt``)
were made with a 64-bit pHash — ``imagehash.phash(image, hash_size=8)`` on the image opened with
Pillow and converted to ``L`` — and a Hamming distance ≤ 4. :func:`phash` reproduces those hashes
bit for bit, so the lists made here equal the shipped ones.

A file is read with the project's reader (``trainer.io.read_grey``), never re-opened with
Pillow: a DICOM file must hash like any other scan, and a hostile file must be a per-file
error, not a crash. For 8-bit images that reader gives Pillow's ``L`` divided by 255, which
``rint(x * 255)`` inverts exactly; the shipped data set has no EXIF rotation and no
transparent pixel, so its hashes are the README's (checked on all 7,023 files).

A hash is a plain ``int`` (bit 63 is the first DCT coefficient, the same order as imagehash's hex
string), which keeps it JSON-friendly and lets the search run on ``uint64`` arrays: XOR, then a
popcount, over blocks of rows, so 7k × 7k comparisons take about a second instead of minutes in
a Python double loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
from PIL import Image

from trainer.errors import UnreadableInputError
from trainer.parallel import map_in_threads

HASH_SIZE = 8  # 8×8 low-frequency DCT block: 64 bits, as in the README
DEFAULT_MAX_DISTANCE = 4  # the README's "near duplicate" threshold
_BLOCK_ELEMENTS = 1 << 22  # ~32 MB of uint64 per XOR block: fast, and small enough for a laptop


HashSource = str | Path | Image.Image | np.ndarray


def _as_grey_image(source: HashSource) -> Image.Image:
    """An ``L`` image from a path, a PIL image, or a grey array (uint8, or float in [0, 1]).

    Float input is mapped back with ``rint(x * 255)``: that inverts ``L / 255`` exactly, so a
    grey float image read by ``trainer.io.read_grey`` hashes like the file it came from.
    """
    if isinstance(source, (str, Path)):
        from trainer.io import read_grey  # local: keeps ``import trainer.data`` light

        source = read_grey(source)  # raises UnreadableInputError naming the file
    if isinstance(source, Image.Image):
        return source.convert("L")
    arr = np.asarray(source)
    if arr.ndim != 2:
        raise ValueError(f"phash needs a 2-D grey image, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        from trainer.io.scan import quantise  # local, as above

        arr = quantise(arr.astype(np.float32, copy=False))
    return Image.fromarray(arr)  # 2-D uint8 is mode L


def phash(source: HashSource) -> int:
    """64-bit perceptual hash of ``source`` (path, PIL image, or grey array), as an ``int``.

    Equal to ``int(str(imagehash.phash(Image.open(path).convert("L"), hash_size=8)), 16)`` for
    8-bit images without EXIF rotation or transparency (see the module docstring).
    """
    bits = imagehash.phash(_as_grey_image(source), hash_size=HASH_SIZE).hash
    return int.from_bytes(np.packbits(bits.ravel()).tobytes(), "big")


def _phash_or_none(path: str | Path) -> int | None:
    try:
        return phash(path)
    except UnreadableInputError:
        return None


def phash_many(
    paths: Sequence[str | Path],
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[int | None]:
    """Hash files in threads (Pillow releases the GIL while decoding); ``None`` marks a file
    that cannot be decoded, so one bad file never stops a scan. Keeps the input order."""
    return map_in_threads(_phash_or_none, paths, workers, progress)


def hash_array(hashes: Iterable[int] | np.ndarray) -> np.ndarray:
    """Hashes as a ``uint64`` array (Python ints above 2**63 need the explicit dtype)."""
    if isinstance(hashes, np.ndarray):
        return hashes.astype(np.uint64, copy=False)
    return np.fromiter(hashes, dtype=np.uint64)


_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits per ``uint64`` element (numpy ≥ 2 has it built in; older numpy uses a table)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    as_bytes = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)
    return _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)


def _row_block(n_cols: int) -> int:
    return max(1, _BLOCK_ELEMENTS // max(1, n_cols))


def near_duplicate_pairs(
    hashes_a: Sequence[int] | np.ndarray,
    hashes_b: Sequence[int] | np.ndarray | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> list[tuple[int, int, int]]:
    """``(index_a, index_b, hamming)`` for every pair within ``max_distance``, sorted.

    With ``hashes_b`` None, pairs within ``hashes_a`` (``index_a < index_b``, each pair once);
    otherwise every a × b pair.
    """
    a = hash_array(hashes_a)
    within = hashes_b is None
    b = a if hashes_b is None else hash_array(hashes_b)
    out: list[tuple[int, int, int]] = []
    step = _row_block(len(b))
    for start in range(0, len(a), step):
        stop = min(start + step, len(a))
        col0 = start + 1 if within else 0  # within one set only the upper triangle is needed
        dist = popcount64(a[start:stop, None] ^ b[None, col0:])
        if within:  # in the block on the diagonal, drop column <= row (already counted)
            diag = dist[:, : stop - col0]
            diag[np.tril_indices(n=diag.shape[0], k=-1, m=diag.shape[1])] = 255
        ii, jj = np.nonzero(dist <= max_distance)
        out += zip((ii + start).tolist(), (jj + col0).tolist(), dist[ii, jj].tolist(), strict=True)
    return out


def min_distances(
    hashes: Sequence[int] | np.ndarray, reference: Sequence[int] | np.ndarray
) -> np.ndarray:
    """For each hash, the Hamming distance to its nearest reference hash (65 when there is no
    reference at all, i.e. farther than any real distance)."""
    a, ref = hash_array(hashes), hash_array(reference)
    out = np.full(len(a), 65, dtype=np.int64)
    if len(ref) == 0:
        return out
    step = _row_block(len(ref))
    for start in range(0, len(a), step):
        block = popcount64(a[start : start + step, None] ^ ref[None, :])
        out[start : start + step] = block.min(axis=1)
    return out


def dedup_subset(
    test_hashes: Sequence[int] | np.ndarray,
    reference_hashes: Sequence[int] | np.ndarray,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> list[int]:
    """Indices of test items with NO reference item within ``max_distance``, whatever its label.

    The label is ignored on purpose: a near-twin under another label is still a picture the
    model has seen. This is how the README's ``splits/test_dedup.txt`` was made (test half vs
    ``Training`` + validation half).
    """
    far = min_distances(test_hashes, reference_hashes) > max_distance
    return np.nonzero(far)[0].tolist()


def dedup_split_indices(
    split: Any,
    known_hashes: Mapping[str, int] | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
) -> list[int]:
    """Indices into ``split.test`` of the images with no near-twin in train or validation.

    ``known_hashes`` (relative path → pHash of the original file, as a cache stores them)
    avoids decoding the files again; files missing from it are hashed from disk. Unreadable
    files are left out of the list.
    """

    def hashes(samples: Sequence[Any]) -> list[int | None]:
        if known_hashes and all(s.rel in known_hashes for s in samples):
            return [known_hashes[s.rel] for s in samples]
        return phash_many([s.path for s in samples])

    test_h = hashes(split.test)
    ref_h = [h for h in hashes(tuple(split.train) + tuple(split.val)) if h is not None]
    usable = [(i, h) for i, h in enumerate(test_h) if h is not None]
    keep = dedup_subset([h for _, h in usable], ref_h, max_distance)
    return [usable[k][0] for k in keep]
