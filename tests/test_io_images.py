"""Image files through trainer.io: every Pillow mode, EXIF orientation, alpha, content sniffing.

Expected values are written out by hand: Pillow's "L" is ITU-R 601-2 luma rounded to an integer,
(R·299 + G·587 + B·114) / 1000, so e.g. RGB (200, 100, 50) -> 124.2 -> 124.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import trainer.io as tio
from trainer.io.images import grey_from_pil


def _save(im: Image.Image, path: Path, fmt: str, **kwargs: object) -> Path:
    im.save(path, fmt, **kwargs)
    return path


def _header(path: Path) -> tuple[str, dict[str, object]]:
    with Image.open(path) as im:
        return im.mode, dict(im.info)


def _read(path: Path) -> tio.ScanSlice:
    scan = tio.read_scan(path)
    assert scan.kind == "image"
    assert len(scan.slices) == 1
    return scan.slices[0]


def test_8bit_grey_png_renders_as_data_over_255_exactly(tmp_path: Path) -> None:
    pixels = np.array([[0, 51, 102], [153, 204, 255]], dtype=np.uint8)
    path = _save(Image.fromarray(pixels), tmp_path / "grey.png", "PNG")
    slc = _read(path)
    assert slc.data.dtype == np.uint8  # the file's own values, a quarter of float32's memory
    np.testing.assert_array_equal(slc.data, pixels)
    np.testing.assert_array_equal(slc.render_u8(), pixels)
    expected = np.array([[0, 0.2, 0.4], [0.6, 0.8, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(slc.render(), pixels.astype(np.float32) / np.float32(255))
    np.testing.assert_allclose(slc.render(), expected, atol=1e-7)
    assert slc.index is None and slc.default_window is None and not slc.invert
    assert slc.meta["Format"] == "PNG" and slc.meta["Mode"] == "L"


def test_mode_1_bmp(tmp_path: Path) -> None:
    bits = Image.fromarray(np.array([[0, 255], [255, 0]], dtype=np.uint8)).convert("1")
    slc = _read(_save(bits, tmp_path / "bits.bmp", "BMP"))
    np.testing.assert_array_equal(slc.data, [[0, 255], [255, 0]])
    np.testing.assert_array_equal(slc.render(), [[0, 1], [1, 0]])


def test_rgb_png_becomes_pillow_luma(tmp_path: Path) -> None:
    rgb = np.array([[[200, 100, 50], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    slc = _read(_save(Image.fromarray(rgb), tmp_path / "colour.png", "PNG"))
    # 124.2 -> 124, 76.2 -> 76, 149.7 -> 150, 29.1 -> 29
    np.testing.assert_array_equal(slc.data, [[124, 76, 150, 29]])


def test_la_and_rgba_are_composited_onto_black(tmp_path: Path) -> None:
    la = np.zeros((1, 3, 2), dtype=np.uint8)
    la[..., 0] = 200
    la[..., 1] = [255, 51, 0]
    slc = _read(_save(Image.fromarray(la, mode="LA"), tmp_path / "la.png", "PNG"))
    np.testing.assert_allclose(slc.data, [[200.0, 40.0, 0.0]], atol=1e-4)  # 200·51/255 = 40

    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 51], [255, 255, 255, 0]]], np.uint8)
    slc = _read(_save(Image.fromarray(rgba, mode="RGBA"), tmp_path / "rgba.png", "PNG"))
    np.testing.assert_allclose(slc.data, [[124.0, 24.8, 0.0]], atol=1e-4)  # 124·51/255 = 24.8
    np.testing.assert_allclose(slc.render(), [[124 / 255, 24.8 / 255, 0.0]], atol=1e-6)


def test_palette_png_with_and_without_transparency(tmp_path: Path) -> None:
    palette = [255, 0, 0, 0, 255, 0, 0, 0, 255]
    im = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), mode="P")
    im.putpalette(palette)
    slc = _read(_save(im, tmp_path / "palette.png", "PNG"))
    np.testing.assert_array_equal(slc.data, [[76, 150, 29]])

    transparent = _save(im, tmp_path / "palette_trns.png", "PNG", transparency=1)
    assert _header(transparent)[1].get("transparency") == 1
    np.testing.assert_array_equal(_read(transparent).data, [[76, 0, 29]])


def test_cmyk_tiff(tmp_path: Path) -> None:
    cmyk = np.array([[[0, 0, 0, 0], [0, 0, 0, 255], [255, 0, 0, 0]]], dtype=np.uint8)
    im = Image.frombytes("CMYK", (3, 1), cmyk.tobytes())
    slc = _read(_save(im, tmp_path / "cmyk.tif", "TIFF"))
    # white, black, and cyan = RGB (0, 255, 255): 0.587·255 + 0.114·255 = 178.8 -> 179
    np.testing.assert_array_equal(slc.data, [[255, 0, 179]])


def test_ycbcr_tiff_uses_its_luma(tmp_path: Path) -> None:
    ycbcr = np.array([[[128, 128, 128], [50, 128, 128], [235, 128, 128]]], dtype=np.uint8)
    im = Image.frombytes("YCbCr", (3, 1), ycbcr.tobytes())
    path = _save(im, tmp_path / "ycbcr.tif", "TIFF")
    assert _header(path)[0] == "YCbCr"
    np.testing.assert_array_equal(_read(path).data, [[128, 50, 235]])  # neutral chroma: L = Y


@pytest.mark.parametrize(("mode", "fmt"), [("I;16", "PNG"), ("I;16B", "TIFF")])
def test_16bit_keeps_values_and_renders_min_max(tmp_path: Path, mode: str, fmt: str) -> None:
    values = np.array([[1000, 2000], [3000, 65535]], dtype=np.uint16)
    dtype = ">u2" if mode == "I;16B" else "<u2"
    im = Image.frombytes(mode, (2, 2), values.astype(dtype).tobytes())
    path = _save(im, tmp_path / f"deep.{fmt.lower()}", fmt)
    assert _header(path)[0] == mode
    slc = _read(path)
    np.testing.assert_array_equal(slc.data, values.astype(np.float32))
    span = 65535 - 1000
    expected = np.array([[0, 1000 / span], [2000 / span, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(slc.render(), expected, atol=1e-6)


def test_int32_and_float_tiff(tmp_path: Path) -> None:
    ints = Image.fromarray(np.array([[-5, 0, 10]], dtype=np.int32), mode="I")
    slc = _read(_save(ints, tmp_path / "int.tif", "TIFF"))
    np.testing.assert_array_equal(slc.data, [[-5, 0, 10]])
    np.testing.assert_allclose(slc.render(), [[0, 1 / 3, 1]], atol=1e-6)

    floats = np.array([[-1.5, 0.5, 2.5, np.nan]], dtype=np.float32)
    slc = _read(_save(Image.fromarray(floats, mode="F"), tmp_path / "float.tif", "TIFF"))
    np.testing.assert_array_equal(slc.data[:, :3], floats[:, :3])
    # NaN is ignored for min–max and renders as 0, never NaN
    np.testing.assert_array_equal(slc.render(), [[0.0, 0.5, 1.0, 0.0]])


@pytest.mark.parametrize(
    ("mode", "band_values", "expected"),
    [
        ("PA", [[0, 1], [255, 51]], [76.0, 150 * 51 / 255]),  # palette index, alpha
        ("La", [[200, 40], [255, 51]], [200.0, 40.0]),  # premultiplied: already on black
        ("RGBa", [[124, 24], [124, 24], [124, 24], [255, 51]], [124.0, 24.0]),
    ],
)
def test_modes_no_file_format_writes(
    mode: str, band_values: list[list[int]], expected: list[float]
) -> None:
    bands = [Image.fromarray(np.array([row], dtype=np.uint8), mode="L") for row in band_values]
    if mode == "PA":
        im = Image.merge("PA", [bands[0].convert("P"), bands[1]])
        im.putpalette([255, 0, 0, 0, 255, 0])
    else:
        im = Image.merge(mode, bands)
    data, value_range = grey_from_pil(im)
    np.testing.assert_allclose(data, [expected], atol=1e-4)
    assert value_range == (0.0, 255.0)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # 32 wide × 16 tall, left half white; Orientation 6 means "rotate 90° clockwise to view",
    # so the viewed image is 16 wide × 32 tall with the white half on top.
    pixels = np.zeros((16, 32), dtype=np.uint8)
    pixels[:, :16] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(Image.fromarray(pixels), tmp_path / "rotated.jpg", "JPEG", exif=exif, quality=95)
    slc = _read(path)
    assert slc.data.shape == (32, 16)
    assert slc.data[:14].min() > 240 and slc.data[18:].max() < 15


def test_png_named_jpg_is_read_by_content(tmp_path: Path) -> None:
    pixels = np.array([[10, 20], [30, 40]], dtype=np.uint8)
    path = _save(Image.fromarray(pixels), tmp_path / "actually_png.jpg", "PNG")
    slc = _read(path)
    assert slc.meta["Format"] == "PNG"
    np.testing.assert_array_equal(slc.data, pixels)


def test_jpeg_read_grey_matches_read_scan_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
    path = _save(Image.fromarray(rgb), tmp_path / "photo.jpg", "JPEG", quality=90)
    grey = tio.read_grey(path)
    assert grey.dtype == np.float32 and grey.shape == (24, 20)
    np.testing.assert_array_equal(grey, tio.read_scan(path).slices[0].render())
    with Image.open(path) as im:
        expected = np.asarray(im.convert("L"), dtype=np.float32) / np.float32(255)
    np.testing.assert_array_equal(grey, expected)


def test_read_grey_does_not_probe_jpeg_or_png_as_dicom(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_dicom(*args: object, **kwargs: object) -> None:
        raise AssertionError("a JPEG/PNG must not reach pydicom")

    monkeypatch.setattr(tio.dicom.pydicom, "dcmread", no_dicom)
    png = _save(Image.new("L", (4, 3), 128), tmp_path / "a.png", "PNG")
    jpg = _save(Image.new("RGB", (4, 3), (128, 128, 128)), tmp_path / "a.jpg", "JPEG")
    assert tio.read_grey(png).shape == (3, 4)
    assert tio.read_grey(jpg).shape == (3, 4)


READ_EVERY_WAY = """
import sys
from pathlib import Path
import trainer.io as tio
folder, count, *files = sys.argv[1:]
for path in map(Path, files):
    scan = tio.read_scan(path)
    assert tio.read_grey(path).shape == scan.slices[0].render().shape
    assert tio.first_slice(path)[1] == len(scan.slices)
    assert len(list(tio.iter_slices([path]))) == len(scan.slices)
found, errors = tio.load_paths([Path(folder)])
assert len(found) == int(count) and not errors, (found, errors)
"""


def test_reading_an_image_loads_no_pydicom_and_dicom_still_reads(tmp_path: Path) -> None:
    """pydicom costs about 0.2 s to import: a PNG or JPEG (the app's first image, ``brainmri
    predict scan.jpg``) must not pay for it. Files are told apart by content, so a DICOM file
    without a suffix still reads, and loads pydicom then; so do the package's DICOM modules,
    reached as attributes (``trainer.io.dicom``) as before."""
    from fresh_interpreter import modules_after

    from tests.dicom_factory import make_dicom

    folder = tmp_path / "mixed"
    folder.mkdir()
    png = _save(Image.new("L", (5, 4), 128), folder / "a.png", "PNG")
    jpg = _save(Image.new("RGB", (5, 4), (10, 200, 30)), folder / "b.jpg", "JPEG")
    bare = make_dicom(tmp_path / "scan", np.arange(20, dtype=np.uint16).reshape(4, 5))
    images = modules_after(READ_EVERY_WAY, args=[str(folder), "2", str(png), str(jpg)])
    assert "trainer.io" in images
    assert not {m for m in images if m == "pydicom" or m.startswith("pydicom.")}
    assert not {"trainer.io.dicom", "trainer.io.series", "trainer.io.dicom_values"} & images

    shutil.copy(bare, folder / "c")  # no suffix either: one DICOM file among the images
    code = (
        f"{READ_EVERY_WAY}\n"
        "assert tio.read_scan(path).kind == 'dicom'\n"
        "assert tio.dicom.number_of_frames(tio.dicom.read_header(path)) == 1\n"
        "from trainer.io import display_metadata\n"
        "assert display_metadata(tio.dicom.read_header(path))\n"
    )
    assert "pydicom" in modules_after(code, args=[str(folder), "3", str(bare)])


def test_multipage_tiff_gives_one_slice_per_page(tmp_path: Path) -> None:
    pages = [Image.new("L", (3, 2), value) for value in (10, 20, 30)]
    path = tmp_path / "stack.tif"
    pages[0].save(path, "TIFF", save_all=True, append_images=pages[1:])
    scan = tio.read_scan(path)
    assert scan.kind == "image" and scan.description == "stack.tif (3 pages)"
    assert [s.index for s in scan.slices] == [0, 1, 2]
    assert [float(s.data[0, 0]) for s in scan.slices] == [10.0, 20.0, 30.0]
    np.testing.assert_array_equal(tio.read_grey(path), np.full((2, 3), 10 / 255, np.float32))


def test_explicit_window_on_an_image_is_linear_dicom_windowing(tmp_path: Path) -> None:
    pixels = np.array([[78, 128, 178]], dtype=np.uint8)
    slc = _read(_save(Image.fromarray(pixels), tmp_path / "w.png", "PNG"))
    # PS3.3 C.11.2.1.2.1 with c = 128, w = 101: y = (x - 127.5) / 100 + 0.5
    np.testing.assert_allclose(slc.render(tio.Window(128, 101)), [[0.005, 0.505, 1.0]], atol=1e-6)


def test_constant_image_renders_zeros_without_nan(tmp_path: Path) -> None:
    deep = Image.frombytes("I;16", (3, 2), np.full((2, 3), 700, "<u2").tobytes())
    slc = _read(_save(deep, tmp_path / "flat.png", "PNG"))
    out = slc.render()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, np.zeros((2, 3), np.float32))


def test_other_formats_by_content(tmp_path: Path) -> None:
    pixels = np.array([[0, 255], [128, 64]], dtype=np.uint8)
    for fmt, name in [("BMP", "a.bmp"), ("TIFF", "a.tiff"), ("GIF", "a.gif"), ("WEBP", "a.img")]:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        path = tmp_path / name
        path.write_bytes(buffer.getvalue())
        np.testing.assert_array_equal(_read(path).data, pixels, err_msg=fmt)
