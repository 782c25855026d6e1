"""Mutants of valid scans, and what reading one must give: a result or a clean per-file error.

Shared by ``tests/test_fuzz_inputs.py`` (a few seconds, fixed seed) and
``benchmarks/fuzz_inputs.py`` (longer runs, each read in a child process so that a native
crash or a hang is counted instead of ending the run). Seeds: JPEG, PNG, TIFF (multi-page,
deflate), 8- and 16-bit DICOM written with pydicom, and pydicom's own RLE, JPEG 2000, JPEG-LS
and JPEG files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from tests.dicom_factory import make_dicom, pydicom_sample

PYDICOM_SEEDS = (
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG Lossless, decoded by gdcm
)


def write_seeds(folder: Path) -> list[Path]:
    """Small valid files of every kind the reader accepts."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    grey = (np.add.outer(np.arange(48), np.arange(40)) * 3 % 256).astype(np.uint8)
    seeds = []
    for name, fmt, kwargs in (
        ("seed.jpg", "JPEG", {"quality": 90}),
        ("seed.png", "PNG", {}),
        ("seed.tif", "TIFF", {"compression": "tiff_adobe_deflate"}),
    ):
        buffer = io.BytesIO()
        image = Image.fromarray(grey)
        if fmt == "TIFF":
            kwargs = {**kwargs, "save_all": True, "append_images": [image.rotate(90)]}
        image.save(buffer, fmt, **kwargs)
        (folder / name).write_bytes(buffer.getvalue())
        seeds.append(folder / name)
    seeds.append(make_dicom(folder / "seed8.dcm", grey, window=(128, 256)))
    frames = rng.integers(0, 4096, size=(2, 24, 20), dtype=np.uint16)
    seeds.append(make_dicom(folder / "seed16.dcm", frames, bits_stored=12, slope=1, intercept=-5))
    for name in PYDICOM_SEEDS:
        target = folder / name
        target.write_bytes(pydicom_sample(name).read_bytes())
        seeds.append(target)
    return seeds


def mutants(data: bytes, rng: np.random.Generator, count: int) -> Iterator[tuple[str, bytes]]:
    """``count`` (kind, bytes) mutants of ``data``: flips of 1 to 8 random bytes, or a cut at a
    random offset, or both."""
    for _ in range(count):
        kind = rng.choice(["flip", "truncate", "flip+truncate"])
        mutant = bytearray(data)
        if "flip" in kind:
            for offset in rng.integers(0, len(mutant), size=int(rng.integers(1, 9))):
                mutant[offset] = int(rng.integers(0, 256))
        if "truncate" in kind:
            mutant = mutant[: int(rng.integers(1, len(mutant)))]
        yield str(kind), bytes(mutant)


def read_outcome(path: Path) -> str:
    """Read ``path`` through every public reader: "ok", "error" (only UnreadableInputErrors
    naming the file), or raises whatever else escapes (a crash)."""
    import trainer.io as tio

    errors = 0
    try:
        tio.read_scan(path)
    except tio.UnreadableInputError as exc:
        _named(exc, path)
        errors += 1
    try:
        tio.read_grey(path)
    except tio.UnreadableInputError as exc:
        _named(exc, path)
        errors += 1
    for item in tio.iter_slices([path]):
        if isinstance(item, tio.UnreadableInputError):
            _named(item, path)
            errors += 1
        else:
            item.render_u8()
    return "error" if errors else "ok"


def _named(error: Exception, path: Path) -> None:
    if getattr(error, "path", None) != path:
        raise AssertionError(f"an error about {path} names {getattr(error, 'path', None)}")
