"""Hostile inputs from issue 14, written on demand (no binary fixtures in the repo).

Used by the tests (small versions), by ``benchmarks/fuzz_inputs.py`` and for the manual
``brainmri predict`` check (``python -m tests.hostile_inputs FOLDER --big`` writes all of them,
the memory bombs included). Every DICOM here carries the same identifiers (:data:`SECRETS`), so
a test can assert that none of them appears in any output.
"""

from __future__ import annotations

import argparse
import io
import os
import struct
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import RLELossless

from tests.dicom_factory import make_dicom, pydicom_sample

PATIENT = {"patient_name": "DOE^JANE", "patient_id": "PHI-12345"}
#: What must never appear in an output: name (and its parts), ID, birth date, institution.
SECRETS = ("DOE^JANE", "DOE", "JANE", "PHI-12345", "19700101", "Test Hospital")


# --- DICOM byte surgery ------------------------------------------------------------------------


def _find_element(data: bytes | bytearray, tag: int, vr: bytes) -> int:
    """Offset of an explicit-VR little-endian element (tag + VR) in a file's bytes."""
    key = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    offset = data.find(key)
    assert offset >= 0, f"element {tag:08x} {vr!r} not found"
    return offset


def corrupt_length(path: Path, keyword: str, vr: str, length: int) -> Path:
    """Give one short element a wrong length, so that it swallows the elements after it."""
    data = bytearray(path.read_bytes())
    offset = _find_element(data, pydicom.datadict.tag_for_keyword(keyword), vr.encode())
    data[offset + 6 : offset + 8] = struct.pack("<H", length)
    path.write_bytes(bytes(data))
    return path


def change_vr(path: Path, keyword: str, vr: str, new_vr: bytes) -> Path:
    """Overwrite the two VR bytes of one element (``UI`` -> ``@I``)."""
    data = bytearray(path.read_bytes())
    offset = _find_element(data, pydicom.datadict.tag_for_keyword(keyword), vr.encode())
    data[offset + 4 : offset + 6] = new_vr
    path.write_bytes(bytes(data))
    return path


def string_as(path: Path, values: dict[str, str], vr: str = "DS") -> Path:
    """Write text values under attributes declared ``vr`` (a DS holding "DOE^JANE"): written as
    LO, which pydicom accepts, then the VR bytes are changed."""
    ds = pydicom.dcmread(path)
    for keyword in values:
        if keyword in ds:
            del ds[keyword]
    for keyword, text in values.items():
        ds.add_new(pydicom.datadict.tag_for_keyword(keyword), "LO", text)
    ds.save_as(path)
    for keyword in values:
        change_vr(path, keyword, "LO", vr.encode())
    return path


# --- the corpus --------------------------------------------------------------------------------


def _image(size: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size]
    return ((x * 7 + y * 3) % 4096).astype(np.uint16)


def identified_dicom(path: Path) -> Path:
    return make_dicom(path, _image(), bits_stored=12, window=(2048, 4096), **PATIENT)


def rle_panic(path: Path) -> Path:
    """pydicom's MR_small_RLE.dcm with the byte that made the Rust RLE decoder panic."""
    data = bytearray(pydicom_sample("MR_small_RLE.dcm").read_bytes())
    assert data[3420] == 0xF6
    data[3420] = 0xAC
    path.write_bytes(bytes(data))
    return path


def malformed_dicoms(folder: Path) -> dict[str, Path]:
    """DICOMs carrying :data:`PATIENT` and :data:`SECRETS`, each malformed in its own way."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {
        "long_modality": corrupt_length(
            identified_dicom(folder / "long_modality.dcm"), "Modality", "CS", 190
        ),
        "long_series_description": corrupt_length(
            identified_dicom(folder / "long_description.dcm"), "SeriesDescription", "LO", 120
        ),
        "vr_byte": change_vr(identified_dicom(folder / "vr_byte.dcm"), "SOPClassUID", "UI", b"@I"),
        "ds_name": string_as(
            identified_dicom(folder / "ds_name.dcm"),
            {
                "SliceThickness": "DOE^JANE",
                "WindowCenter": "DOE^JANE",
                "WindowWidth": "PHI-12345",
                "SpacingBetweenSlices": "19700101 Test Hospital",
            },
        ),
        "cs_name": string_as(
            identified_dicom(folder / "cs_name.dcm"), {"BodyPartExamined": "JANE"}, "CS"
        ),
    }
    return out


def many_frames(path: Path, frames: int = 20_000) -> Path:
    """A small DICOM claiming ``frames`` one-pixel frames: one model pass each, if allowed."""
    return make_dicom(path, np.zeros((frames, 1, 1), np.uint8), **PATIENT)


def many_pages(path: Path, pages: int = 3_000) -> Path:
    page = Image.new("L", (4, 4), 10)
    page.save(path, format="TIFF", save_all=True, append_images=[page] * (pages - 1))
    return path


def big_rle(path: Path, frames: int = 400, side: int = 1000) -> Path:
    """``frames`` frames of ``side``² pixels, RLE: small on disk, large when decoded."""
    frame = np.zeros((side, side), np.uint16)
    frame[side // 4 : side // 2, side // 4 : side // 2] = 1000
    make_dicom(path, frame, multi_frame=True, **PATIENT)
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless, encoding_plugin="pylibjpeg")
    encoded = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.NumberOfFrames = frames  # the same encoded frame, ``frames`` times: no volume in memory
    ds.PixelData = encapsulate([encoded] * frames)
    ds.save_as(path)
    return path


def big_tiff(path: Path, pages: int = 4, side: int = 10_000) -> Path:
    """``pages`` deflate-compressed pages of ``side``² pixels (100 MP each by default)."""
    page = Image.new("L", (side, side), 0)
    page.paste(200, (side // 4, side // 4, side // 2, side // 2))
    page.save(
        path,
        format="TIFF",
        compression="tiff_adobe_deflate",
        save_all=True,
        append_images=[page] * (pages - 1),
    )
    return path


def odd_paths(folder: Path, *, depth: int = 1100) -> dict[str, Path]:
    """A link loop, a folder ``depth`` levels deep (with a readable image at the bottom when
    the path is short enough), a FIFO named like an image, and a file name that is not
    UTF-8."""
    folder.mkdir(parents=True, exist_ok=True)
    loop = folder / "loop.jpg"
    loop.symlink_to(loop.name)
    (folder / "loop_a").symlink_to("loop_b")
    (folder / "loop_b").symlink_to("loop_a")
    deep = folder / "deep"
    fd = os.open(folder, os.O_RDONLY)
    try:  # deeper than PATH_MAX allows by name: create each level relative to the last one
        os.mkdir("deep", dir_fd=fd)
        for _ in range(depth):
            next_fd = os.open("deep", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
            os.mkdir("deep", dir_fd=fd)
    finally:
        os.close(fd)
    fifo = folder / "fifo.jpg"
    os.mkfifo(fifo)
    odd_name = Path(os.fsdecode(bytes(folder) + b"/scan_\xff\xfe.png"))
    Image.new("L", (8, 8), 100).save(odd_name, format="PNG")
    return {"loop": loop, "deep": deep, "fifo": fifo, "odd_name": odd_name}


def good_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / "good.png"
    Image.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(png)
    jpeg = folder / "good.jpg"
    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 50), 90, np.uint8)).save(buffer, format="JPEG")
    jpeg.write_bytes(buffer.getvalue())
    dcm = identified_dicom(folder / "good.dcm")
    return [png, jpeg, dcm, make_dicom(folder / "good_small.dcm", _image(32))]


def build(folder: Path, *, big: bool = False) -> Path:
    """Every hostile input next to good files in ``folder``; ``big`` adds the memory bombs."""
    folder.mkdir(parents=True, exist_ok=True)
    good_files(folder / "good")
    malformed_dicoms(folder / "malformed")
    rle_panic(folder / "rle_panic.dcm")
    many_frames(folder / "many_frames.dcm")
    many_pages(folder / "many_pages.tif")
    odd_paths(folder / "paths")
    if big:
        big_rle(folder / "big_rle.dcm")
        big_tiff(folder / "big_deflate.tif")
    return folder


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument(
        "--big", action="store_true", help="add the 400-frame RLE and 4×100 MP TIFF"
    )
    args = parser.parse_args()
    print(build(args.folder, big=args.big))
