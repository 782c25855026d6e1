"""A corpus of broken and non-scan files: each gets its own clear reason naming the file, nothing
crashes, and in a batch the good files still load."""

from __future__ import annotations

import io
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate

import trainer.io as tio
from tests.dicom_factory import make_dicom, make_non_image, pydicom_sample

TRUNCATED_IMAGE = re.compile(r"image data is truncated or corrupt \(.+\)")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width×height pixels in 57 bytes: IHDR and IEND, no image data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _encoded(fmt: str) -> bytes:
    pixels = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()


def _build_corpus(folder: Path) -> dict[str, str | re.Pattern[str]]:
    """Write every bad input into ``folder``; file name -> expected reason."""
    folder.mkdir()
    expected: dict[str, str | re.Pattern[str]] = {}

    (folder / "empty.png").write_bytes(b"")
    expected["empty.png"] = "file is empty"

    jpeg = _encoded("JPEG")
    (folder / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 6 // 10])
    expected["truncated.jpg"] = TRUNCATED_IMAGE

    (folder / "cut_header.jpg").write_bytes(jpeg[:100])
    expected["cut_header.jpg"] = "image header is truncated or corrupt (Truncated File Read)"

    png = _encoded("PNG")
    (folder / "truncated.png").write_bytes(png[: len(png) * 6 // 10])
    expected["truncated.png"] = TRUNCATED_IMAGE

    noise = np.random.default_rng(7).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    (folder / "noise.jpg").write_bytes(b"\x13\x37" + noise)
    expected["noise.jpg"] = "not an image or DICOM file (its content is not a JPG image)"

    (folder / "notes.txt").write_text("Patient notes, not an image.\n")
    expected["notes.txt"] = "not an image or DICOM file"
    (folder / "labels.json").write_text('{"label": "glioma"}\n')
    expected["labels.json"] = "not an image or DICOM file"

    (folder / "huge.png").write_bytes(_png_header_only(50000, 50000))
    expected["huge.png"] = "image is 50000×50000 pixels, over the 100-megapixel limit"

    make_dicom(
        folder / "huge.dcm", np.zeros((2, 2), np.uint16), extra={"Rows": 60000, "Columns": 60000}
    )
    expected["huge.dcm"] = "image is 60000×60000 pixels, over the 100-megapixel limit"

    shutil.copy(pydicom_sample("MR_truncated.dcm"), folder / "MR_truncated.dcm")
    expected["MR_truncated.dcm"] = "DICOM pixel data is truncated (8130 of 8192 bytes)"

    header = pydicom_sample("MR_small.dcm").read_bytes()[:1000]  # cut inside the header
    (folder / "cut_header.dcm").write_bytes(header)
    expected["cut_header.dcm"] = "DICOM has no pixel data (Modality MR); the file may be truncated"

    make_non_image(folder / "report.dcm", "SR")
    expected["report.dcm"] = "DICOM has no pixel data (Modality SR)"
    make_non_image(folder / "plan.dcm", "RTPLAN")
    expected["plan.dcm"] = "DICOM has no pixel data (Modality RTPLAN)"
    make_non_image(folder / "DICOMDIR", "DICOMDIR")
    expected["DICOMDIR"] = "a DICOMDIR index of other files, not an image"

    shutil.copy(pydicom_sample("JPGExtended.dcm"), folder / "jpeg12.dcm")
    expected["jpeg12.dcm"] = (
        "12-bit JPEG (JPEG Extended) is not supported by the permissive decoders installed"
    )

    corrupt = make_dicom(folder / "corrupt_jpeg.dcm", np.zeros((8, 8), np.uint8))
    ds = pydicom.dcmread(corrupt)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xdb" + b"\x00" * 64 + b"\xff\xd9"])
    ds.save_as(corrupt)
    expected["corrupt_jpeg.dcm"] = re.compile(r"DICOM pixel data could not be decoded \(.+\)")

    video = make_dicom(folder / "video.dcm", np.zeros((8, 8), np.uint8))
    ds = pydicom.dcmread(video)
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds.save_as(video)
    expected["video.dcm"] = "DICOM transfer syntax MPEG2 Main Profile / Main Level is not supported"
    return expected


def _matches(reason: str, expected: str | re.Pattern[str]) -> bool:
    if isinstance(expected, re.Pattern):
        return expected.fullmatch(reason) is not None
    return reason == expected


def test_every_bad_file_has_its_own_reason(tmp_path: Path) -> None:
    expected = _build_corpus(tmp_path / "corpus")
    for name, reason in expected.items():
        path = tmp_path / "corpus" / name
        for reader in (tio.read_scan, tio.read_grey):
            with pytest.raises(tio.UnreadableInputError) as caught:
                reader(path)
            assert caught.value.path == path
            assert _matches(caught.value.reason, reason), (name, caught.value.reason)
            assert str(caught.value) == f"{path}: {caught.value.reason}"


def test_truncated_images_keep_pillows_words(tmp_path: Path) -> None:
    _build_corpus(tmp_path / "corpus")
    with pytest.raises(tio.UnreadableInputError, match=r"image file is truncated"):
        tio.read_scan(tmp_path / "corpus" / "truncated.jpg")


def test_folder_and_missing_file_passed_as_files(tmp_path: Path) -> None:
    with pytest.raises(tio.UnreadableInputError) as caught:
        tio.read_scan(tmp_path)
    assert caught.value.reason == "is a folder, not a file"
    with pytest.raises(tio.UnreadableInputError) as caught:
        tio.read_grey(tmp_path / "nowhere.png")
    assert caught.value.reason == "file not found"


def test_batch_reports_each_bad_file_once_and_loads_the_rest(tmp_path: Path) -> None:
    expected = _build_corpus(tmp_path / "corpus")
    good_png = tmp_path / "corpus" / "good.png"
    Image.new("L", (5, 4), 200).save(good_png)
    (tmp_path / "corpus" / "sub").mkdir()
    good_dcm = make_dicom(tmp_path / "corpus" / "sub" / "good.dcm", np.eye(3, dtype=np.uint16))
    (tmp_path / "corpus" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: skipped
    (tmp_path / "corpus" / ".cache").mkdir()
    (tmp_path / "corpus" / ".cache" / "junk.txt").write_text("skipped")
    missing = tmp_path / "missing.dcm"

    scans, errors = tio.load_paths([tmp_path / "corpus", missing, good_png])

    assert [scan.source for scan in scans] == [good_png, good_dcm]
    assert [scan.kind for scan in scans] == ["image", "dicom"]
    # errors come in the order of the files: the folder walked in sorted order, then the rest
    assert [error.path.name for error in errors] == [*sorted(expected), "missing.dcm"]
    by_name = {error.path.name: error.reason for error in errors}
    assert len(by_name) == len(errors) == len(expected) + 1
    assert by_name.pop("missing.dcm") == "file not found"
    # in a batch a DICOMDIR stands for the images it lists (trainer.io.dicomdir); this one
    # lists none, which is its error there
    assert by_name.pop("DICOMDIR") == "a DICOMDIR index that lists no images"
    expected.pop("DICOMDIR")
    for name, reason in expected.items():
        assert _matches(by_name[name], reason), (name, by_name[name])


def test_a_single_path_string_is_one_input(tmp_path: Path) -> None:
    path = tmp_path / "one.png"
    Image.new("L", (2, 2), 0).save(path)
    scans, errors = tio.load_paths(str(path))  # type: ignore[arg-type]
    assert errors == [] and [scan.source for scan in scans] == [path]


def test_pixel_limit_is_ours_and_pillows_is_left_as_it_was(tmp_path: Path) -> None:
    before = Image.MAX_IMAGE_PIXELS
    # 9500×9500 = 90.25 MP: above Pillow's warning threshold (89.5 MP), below our 100 MP limit.
    # It must get as far as decoding (and fail there: it has no pixel data), with no
    # DecompressionBombWarning, which this test suite turns into an error.
    path = tmp_path / "big_but_allowed.png"
    path.write_bytes(_png_header_only(9500, 9500))
    with pytest.raises(tio.UnreadableInputError, match="truncated or corrupt"):
        tio.read_scan(path)
    assert before == Image.MAX_IMAGE_PIXELS


def test_non_images_and_bombs_are_refused_from_the_header_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[bool] = []
    real = pydicom.dcmread

    def spy(path: object, **kwargs: object) -> object:
        reads.append(bool(kwargs.get("stop_before_pixels")))
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tio.dicom.pydicom, "dcmread", spy)
    report = make_non_image(tmp_path / "report.dcm", "SR")
    bomb = make_dicom(
        tmp_path / "bomb.dcm",
        np.zeros((2, 2), np.uint16),
        extra={"Rows": 65535, "Columns": 65535, "NumberOfFrames": 1},
    )
    for path in (report, bomb):
        with pytest.raises(tio.UnreadableInputError):
            tio.read_scan(path)
    assert reads == [True, True]  # the pixel data was never read
