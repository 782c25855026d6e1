"""DICOM through trainer.io: the display pipeline, every pixel encoding we claim, series, privacy.

Expected renders are computed here from the formulas of PS3.3 C.11 written out by hand
(linear window: y = clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)), never by calling trainer.io.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.pixels import apply_color_lut
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

import trainer.io as tio
import trainer.io.dicom as tdicom
from tests.dicom_factory import make_dicom, make_non_image, make_series, pydicom_sample


def _linear(x: np.ndarray, center: float, width: float) -> np.ndarray:
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0, 1)


def _only_slice(path: Path) -> tio.ScanSlice:
    scan = tio.read_scan(path)
    assert scan.kind == "dicom" and len(scan.slices) == 1
    return scan.slices[0]


def _mr_small() -> np.ndarray:
    return pydicom.dcmread(pydicom_sample("MR_small.dcm")).pixel_array.astype(np.float32)


# --- the display pipeline on generated files -------------------------------------------------


def test_8bit_unsigned_without_window_is_min_max(tmp_path: Path) -> None:
    raw = np.array([[10, 20], [30, 110]], dtype=np.uint8)
    slc = _only_slice(make_dicom(tmp_path / "a.dcm", raw))
    np.testing.assert_array_equal(slc.data, raw.astype(np.float32))
    np.testing.assert_allclose(slc.render(), [[0.0, 0.1], [0.2, 1.0]], atol=1e-6)
    assert slc.default_window is None and slc.voi_lut is None and not slc.invert


def test_16bit_signed_rescale_then_window(tmp_path: Path) -> None:
    raw = np.array([[-1000, 0], [24, 1000]], dtype=np.int16)
    path = make_dicom(tmp_path / "ct.dcm", raw, slope=2, intercept=-1024, window=(40, 400))
    slc = _only_slice(path)
    hu = np.array([[-3024, -1024], [-976, 976]], dtype=np.float32)  # raw·2 - 1024
    np.testing.assert_array_equal(slc.data, hu)
    assert slc.default_window == tio.Window(40, 400)
    np.testing.assert_allclose(slc.render(), _linear(hu, 40, 400), atol=1e-6)
    np.testing.assert_allclose(slc.render(), [[0, 0], [0, 1]], atol=1e-6)


def test_window_arithmetic_at_its_edges(tmp_path: Path) -> None:
    # c = 100, w = 11: below 94.5 -> 0, above 104.5 -> 1, linear in between
    raw = np.array([[94, 95, 100, 104, 105]], dtype=np.uint16)
    slc = _only_slice(make_dicom(tmp_path / "w.dcm", raw, window=(100, 11)))
    expected = [[0.0, (95 - 99.5) / 10 + 0.5, 0.55, (104 - 99.5) / 10 + 0.5, 1.0]]
    np.testing.assert_allclose(slc.render(), expected, atol=1e-6)


@pytest.mark.parametrize(
    ("raw", "center", "width"),
    [
        (np.array([[-128, -1, 0, 127]], dtype=np.int8), 0, 100),
        (np.array([[0, 1, 255, 254]], dtype=np.uint8), 128, 256),
        (np.array([[0, 40000, 65535, 1]], dtype=np.uint16), 32768, 65536),
    ],
)
def test_8_and_16_bit_signed_and_unsigned(
    tmp_path: Path, raw: np.ndarray, center: float, width: float
) -> None:
    slc = _only_slice(make_dicom(tmp_path / "v.dcm", raw, window=(center, width)))
    np.testing.assert_array_equal(slc.data, raw.astype(np.float32))
    np.testing.assert_allclose(slc.render(), _linear(raw.astype(float), center, width), atol=1e-6)


def test_read_grey_of_a_dicom_is_its_first_slice_rendered(tmp_path: Path) -> None:
    frames = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    path = make_dicom(tmp_path / "two.dcm", frames, window=(5, 10))
    np.testing.assert_array_equal(tio.read_grey(path), tio.read_scan(path).slices[0].render())
    np.testing.assert_allclose(tio.read_grey(path), _linear(frames[0].astype(float), 5, 10))


def test_window_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="width must be > 0"):
        tio.Window(10, 0)


def test_12_bits_stored_in_16_ignores_the_unused_high_bits(tmp_path: Path) -> None:
    raw = np.array([[0xF000 | 100, 4095], [0x3000 | 7, 2048]], dtype=np.uint16)
    slc = _only_slice(make_dicom(tmp_path / "u12.dcm", raw, bits_stored=12))
    np.testing.assert_array_equal(slc.data, [[100, 4095], [7, 2048]])


def test_12_bit_signed_values_are_sign_extended(tmp_path: Path) -> None:
    # 0x0FFF in 12 bits is -1, 0x0800 is -2048; sign extension is the reader's job
    raw = np.array([[0x0FFF, 0x0800], [2047, 5]], dtype=np.uint16).view(np.int16)
    path = make_dicom(tmp_path / "s12.dcm", raw, bits_stored=12, window=(0, 100))
    slc = _only_slice(path)
    np.testing.assert_array_equal(slc.data, [[-1, -2048], [2047, 5]])
    np.testing.assert_allclose(slc.render(), _linear(slc.data, 0, 100), atol=1e-6)


def test_monochrome1_is_inverted_after_windowing(tmp_path: Path) -> None:
    raw = np.array([[0, 50, 100]], dtype=np.uint16)
    path = make_dicom(tmp_path / "m1.dcm", raw, photometric="MONOCHROME1", window=(50, 101))
    slc = _only_slice(path)
    assert slc.invert
    # window: (x - 49.5)/100 + 0.5 -> 0.005, 0.505, 1.0; inverted: 0.995, 0.495, 0.0
    np.testing.assert_allclose(slc.render(), [[0.995, 0.495, 0.0]], atol=1e-6)
    # a user window is inverted too
    # (x - 99.5)/100 + 0.5 -> 0 (clipped), 0.005, 0.505; inverted: 1.0, 0.995, 0.495
    np.testing.assert_allclose(slc.render(tio.Window(100, 101)), [[1.0, 0.995, 0.495]], atol=1e-6)


def test_first_of_several_windows_is_the_default(tmp_path: Path) -> None:
    raw = np.array([[0, 300, 600]], dtype=np.uint16)
    slc = _only_slice(make_dicom(tmp_path / "ww.dcm", raw, window=[(300, 601), (0, 2)]))
    assert slc.default_window == tio.Window(300, 601)
    # (x - 299.5)/600 + 0.5 -> 0.5/600, 0.5 + 0.5/600, 1.0008 (clipped to 1)
    np.testing.assert_allclose(slc.render(), [[0.5 / 600, 0.5 + 0.5 / 600, 1.0]], atol=1e-6)
    assert slc.meta["Window"] == "C 300 / W 601"


def test_voi_lut_sequence_wins_over_window(tmp_path: Path) -> None:
    raw = np.array([[0, 1, 2, 3, 9]], dtype=np.uint16)
    lut = (4, 1, [0, 1000, 30000, 65535])  # inputs 1..4; below -> first, above -> last entry
    path = make_dicom(tmp_path / "lut.dcm", raw, window=(5, 10), voi_lut=lut)
    slc = _only_slice(path)
    expected = np.array([[0, 0, 1000, 30000, 65535]]) / 65535
    np.testing.assert_allclose(slc.render(), expected, atol=1e-6)
    # an explicit window still means linear windowing of the data
    np.testing.assert_allclose(slc.render(tio.Window(5, 10)), _linear(raw, 5, 10), atol=1e-6)


def test_voi_lut_applies_to_rescaled_signed_values(tmp_path: Path) -> None:
    raw = np.array([[-3, -1, 0, 2]], dtype=np.int16)
    path = make_dicom(
        tmp_path / "slut.dcm", raw, slope=1, intercept=-1, voi_lut=(3, -2, [0, 500, 1000])
    )
    # rescaled: -4, -2, -1, 1 -> LUT index (x + 2) clipped to 0..2 -> 0, 0, 1, 2
    np.testing.assert_allclose(
        _only_slice(path).render(), [[0.0, 0.0, 500 / 65535, 1000 / 65535]], atol=1e-7
    )


def test_sigmoid_voi_function_for_the_default_window(tmp_path: Path) -> None:
    raw = np.array([[40, 140, 240]], dtype=np.uint16)
    path = make_dicom(tmp_path / "sig.dcm", raw, window=(140, 200), voi_function="SIGMOID")
    expected = 1 / (1 + np.exp(-4 * (raw.astype(float) - 140) / 200))  # 0.119, 0.5, 0.881
    np.testing.assert_allclose(_only_slice(path).render(), expected, atol=1e-6)


def test_constant_dicom_renders_zeros(tmp_path: Path) -> None:
    raw = np.full((3, 3), 500, dtype=np.int16)
    out = _only_slice(make_dicom(tmp_path / "flat.dcm", raw)).render()
    np.testing.assert_array_equal(out, np.zeros((3, 3), np.float32))


def test_multi_frame_file_gives_one_slice_per_frame(tmp_path: Path) -> None:
    frames = np.stack([np.full((2, 3), v, dtype=np.uint16) for v in (5, 6, 7)])
    frames[:, 0, 0] = 0
    scan = tio.read_scan(make_dicom(tmp_path / "mf.dcm", frames))
    assert scan.kind == "dicom" and scan.description == "mf.dcm (3 frames)"
    assert [s.index for s in scan.slices] == [0, 1, 2]
    for value, slc in zip((5, 6, 7), scan.slices, strict=True):
        assert slc.data[1, 1] == value
        np.testing.assert_allclose(slc.render()[1, 1], 1.0)


def test_enhanced_multi_frame_per_frame_rescale_and_window(tmp_path: Path) -> None:
    frames = np.array([[[10, 20]], [[10, 20]]], dtype=np.uint16)
    per_frame = []
    for slope, center in ((1, 15), (3, 45)):
        transform = Dataset()
        transform.RescaleSlope, transform.RescaleIntercept, transform.RescaleType = slope, 0, "US"
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = center, 11
        group = Dataset()
        group.PixelValueTransformationSequence = DicomSequence([transform])
        group.FrameVOILUTSequence = DicomSequence([voi])
        per_frame.append(group)
    path = make_dicom(
        tmp_path / "enh.dcm",
        frames,
        extra={"PerFrameFunctionalGroupsSequence": DicomSequence(per_frame)},
    )
    first, second = tio.read_scan(path).slices
    np.testing.assert_array_equal(first.data, [[10, 20]])
    np.testing.assert_array_equal(second.data, [[30, 60]])
    assert first.default_window == tio.Window(15, 11)
    assert second.default_window == tio.Window(45, 11)
    np.testing.assert_allclose(second.render(), _linear(np.array([[30, 60]]), 45, 11))


def test_rgb_dicom_becomes_luma_on_a_fixed_range(tmp_path: Path) -> None:
    rgb = np.array([[[200, 100, 50], [0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    slc = _only_slice(make_dicom(tmp_path / "rgb.dcm", rgb, photometric="RGB"))
    np.testing.assert_allclose(slc.data, [[124.2, 0.0, 255.0]], atol=1e-3)
    np.testing.assert_allclose(slc.render(), [[124.2 / 255, 0.0, 1.0]], atol=1e-5)


def test_ybr_full_dicom_is_converted_to_rgb_then_luma(tmp_path: Path) -> None:
    # YBR_FULL with neutral chroma (128) is grey with R = G = B = Y
    ybr = np.array([[[30, 128, 128], [200, 128, 128]]], dtype=np.uint8)
    slc = _only_slice(make_dicom(tmp_path / "ybr.dcm", ybr, photometric="YBR_FULL"))
    np.testing.assert_allclose(slc.data, [[30, 200]], atol=1.0)


def test_no_preamble_no_file_meta_is_still_dicom(tmp_path: Path) -> None:
    raw = np.array([[1, 2], [3, 4]], dtype=np.uint16)
    for implicit in (False, True):
        path = make_dicom(
            tmp_path / f"raw_{implicit}.bin", raw, preamble=False, implicit_vr=implicit
        )
        assert path.read_bytes()[:2] == b"\x08\x00"  # starts straight with group 0008
        np.testing.assert_array_equal(_only_slice(path).data, raw)
    # file meta present but no preamble: starts with group 0002
    full = make_dicom(tmp_path / "full.dcm", raw).read_bytes()
    headless = tmp_path / "headless"
    headless.write_bytes(full[132:])
    assert headless.read_bytes()[:2] == b"\x02\x00"
    np.testing.assert_array_equal(_only_slice(headless).data, raw)


# --- pixel encodings, checked against the uncompressed original ------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
    ],
)
def test_lossless_mr_small_variants_equal_the_original(name: str) -> None:
    original = _only_slice(pydicom_sample("MR_small.dcm"))
    variant = _only_slice(pydicom_sample(name))
    np.testing.assert_array_equal(variant.data, _mr_small())
    np.testing.assert_array_equal(variant.render(), original.render())


def test_jpeg_lossless_process14_equals_rle_original() -> None:
    lossless = _only_slice(pydicom_sample("SC_rgb_jpeg_gdcm.dcm"))  # JPEG Lossless SV1, RGB
    reference = _only_slice(pydicom_sample("SC_rgb_rle.dcm"))
    np.testing.assert_array_equal(lossless.data, reference.data)


def test_jpeg_lossless_16bit_grey_made_with_gdcm(tmp_path: Path) -> None:
    import gdcm  # python-gdcm: a project dependency, the permissive JPEG Lossless decoder

    reader = gdcm.ImageReader()
    reader.SetFileName(str(pydicom_sample("MR_small.dcm")))
    assert reader.Read()
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGLosslessProcess14))
    change.SetInput(reader.GetImage())
    assert change.Change()
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(tmp_path / "mr_jpeg_lossless.dcm"))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    path = tmp_path / "mr_jpeg_lossless.dcm"
    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == JPEGLossless
    np.testing.assert_array_equal(_only_slice(path).data, _mr_small())


@pytest.mark.parametrize(
    ("name", "max_error", "mean_error"),
    [
        ("SC_rgb_jpeg_dcmtk.dcm", 6.0, 1.0),  # JPEG baseline, YBR_FULL, no subsampling
        ("SC_rgb_dcmtk_+eb+cy+np.dcm", 40.0, 3.0),  # YBR_FULL_422: chroma halved
        ("SC_ybr_full_422_uncompressed.dcm", 6.0, 1.0),
        ("SC_rgb_gdcm_KY.dcm", 0.0, 0.0),  # JPEG 2000, RGB
    ],
)
def test_lossy_colour_variants_are_close_to_the_original(
    name: str, max_error: float, mean_error: float
) -> None:
    reference = _only_slice(pydicom_sample("SC_rgb_rle.dcm")).data
    data = _only_slice(pydicom_sample(name)).data
    error = np.abs(data - reference)
    assert error.max() <= max_error and error.mean() <= mean_error, (error.max(), error.mean())


def test_signed_12bit_round_trips_through_every_permissive_encoder(tmp_path: Path) -> None:
    raw = np.random.default_rng(0).integers(-2048, 2048, size=(64, 64)).astype(np.int16)
    source = make_dicom(tmp_path / "s12.dcm", raw, bits_stored=12)
    for syntax, plugin in (
        (RLELossless, "pydicom"),
        (JPEGLSLossless, "pyjpegls"),
        (JPEG2000Lossless, "pylibjpeg"),
    ):
        ds = pydicom.dcmread(source)
        ds.compress(syntax, encoding_plugin=plugin)
        path = tmp_path / f"s12_{plugin}.dcm"
        ds.save_as(path)
        np.testing.assert_array_equal(_only_slice(path).data, raw, err_msg=syntax.name)


def test_only_permissive_plugins_are_ever_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # pydicom's "pylibjpeg" plugin runs the GPL-3.0 pylibjpeg-libjpeg for JPEG and JPEG-LS
    for syntax in (
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
    ):
        assert "pylibjpeg" not in tdicom.PERMISSIVE_PLUGINS[syntax]
    asked: list[str] = []
    real = tdicom._as_array

    def spy(path: Path, ds: Dataset, decoder: object, plugin: str, index: int) -> object:
        asked.append(plugin)
        return real(path, ds, decoder, plugin, index)

    monkeypatch.setattr(tdicom, "_as_array", spy)
    for name in (
        "SC_rgb_jpeg_dcmtk.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "SC_rgb_jpeg_gdcm.dcm",
        "MR_small_jp2klossless.dcm",
        "MR_small_RLE.dcm",
    ):
        tio.read_scan(pydicom_sample(name))
    assert asked == ["pillow", "pyjpegls", "gdcm", "pylibjpeg", "pylibjpeg"]


def test_missing_decoder_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(tdicom.PERMISSIVE_PLUGINS, JPEGLosslessSV1, ())
    with pytest.raises(tio.UnreadableInputError, match="no permissive decoder installed"):
        tio.read_scan(pydicom_sample("SC_rgb_jpeg_gdcm.dcm"))
    monkeypatch.setitem(tdicom.PERMISSIVE_PLUGINS, JPEGLosslessSV1, ("no-such-plugin",))
    monkeypatch.setitem(tdicom._PLUGIN_PACKAGES, "no-such-plugin", "python-nothing")
    with pytest.raises(tio.UnreadableInputError, match=r"\(install python-nothing\)"):
        tio.read_scan(pydicom_sample("SC_rgb_jpeg_gdcm.dcm"))


def test_palette_colour_becomes_luma_of_its_lut() -> None:
    path = pydicom_sample("examples_palette.dcm")
    ds = pydicom.dcmread(path)
    rgb = apply_color_lut(ds.pixel_array, ds).astype(np.float64)
    bits = int(ds.RedPaletteColorLookupTableDescriptor[2])
    slc = _only_slice(path)
    expected = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    np.testing.assert_allclose(slc.data, expected, rtol=1e-5)
    top = 255.0 if bits == 8 else 65535.0  # the LUT's own range, not min–max
    assert slc.value_range == (0.0, top)
    np.testing.assert_allclose(slc.render(), expected / top, rtol=1e-5, atol=1e-6)


# --- series ----------------------------------------------------------------------------------


def test_shuffled_series_is_one_scan_in_instance_order(tmp_path: Path) -> None:
    volume = np.stack([np.full((4, 4), 100 * k, dtype=np.uint16) for k in range(5)])
    names = ["zz.dcm", "b7.dcm", "a1.dcm", "IM_0003", "m.dcm"]  # unrelated to the order
    make_series(
        tmp_path / "series",
        volume,
        names=names,
        write_order=[3, 0, 4, 2, 1],
        series_number=7,
        series_description="T1 AX",
    )
    scans, errors = tio.load_paths([tmp_path / "series"])
    assert errors == []
    assert len(scans) == 1
    scan = scans[0]
    assert scan.kind == "dicom-series"
    assert scan.source == tmp_path / "series"
    assert scan.description == "MR series 7 – T1 AX (5 slices)"
    assert [s.index for s in scan.slices] == [0, 1, 2, 3, 4]
    assert [float(s.data[0, 0]) for s in scan.slices] == [0, 100, 200, 300, 400]
    assert [s.source.name for s in scan.slices] == names


def test_series_without_instance_numbers_is_ordered_along_the_slice_normal(
    tmp_path: Path,
) -> None:
    volume = np.stack([np.full((2, 2), k, dtype=np.uint16) for k in range(4)])
    # sagittal: rows along +y, columns along -z, so the normal is -x; slices at x = 0, 10, 20, 30
    paths = make_series(
        tmp_path / "sag",
        volume,
        instances=[None] * 4,
        names=["a.dcm", "b.dcm", "c.dcm", "d.dcm"],
        orientation=(0, 1, 0, 0, 0, -1),
    )
    for k, path in enumerate(paths):  # move slice k to x = 10·k (make_series put it at z)
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [10.0 * k, 0.0, 0.0]
        ds.save_as(path)
    scans, errors = tio.load_paths([tmp_path / "sag"])
    assert errors == [] and len(scans) == 1
    # along the normal (-x): x = 30 comes first
    assert [float(s.data[0, 0]) for s in scans[0].slices] == [3, 2, 1, 0]


def test_two_series_in_one_folder_are_two_scans(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    make_series(
        folder,
        np.zeros((3, 2, 2), np.uint16),
        names=["s1_a", "s1_b", "s1_c"],
        series_number=1,
        series_description="T1",
    )
    make_series(
        folder,
        np.ones((2, 2, 2), np.uint16),
        names=["s2_a", "s2_b"],
        series_number=2,
        series_description="FLAIR",
    )
    scans, errors = tio.load_paths([folder])
    assert errors == []
    assert sorted(s.description for s in scans) == [
        "MR series 1 – T1 (3 slices)",
        "MR series 2 – FLAIR (2 slices)",
    ]


def test_single_file_series_and_multi_frame_file_are_dicom_scans(tmp_path: Path) -> None:
    single = make_dicom(tmp_path / "one.dcm", np.zeros((2, 2), np.uint16), series_uid="1.2.3.4")
    multi = make_dicom(tmp_path / "multi.dcm", np.zeros((3, 2, 2), np.uint16), series_uid="1.2.3.4")
    scans, errors = tio.load_paths([single, multi])
    assert errors == []
    assert [(s.kind, len(s.slices), s.description) for s in scans] == [
        ("dicom", 1, "one.dcm"),
        ("dicom", 3, "multi.dcm (3 frames)"),
    ]


def test_a_broken_slice_is_reported_and_the_series_loads(tmp_path: Path) -> None:
    volume = np.stack([np.full((8, 8), k, dtype=np.uint16) for k in range(3)])
    paths = make_series(tmp_path / "s", volume)
    paths[1].write_bytes(paths[1].read_bytes()[:-40])  # cut into the pixel data
    scans, errors = tio.load_paths([tmp_path / "s"])
    assert [e.path for e in errors] == [paths[1]]
    assert errors[0].reason == "DICOM pixel data is truncated (88 of 128 bytes)"
    assert [float(s.data[0, 0]) for s in scans[0].slices] == [0, 2]
    assert [s.index for s in scans[0].slices] == [0, 1]


def test_series_order_falls_back_to_file_name(tmp_path: Path) -> None:
    volume = np.stack([np.full((2, 2), k, dtype=np.uint16) for k in range(3)])
    make_series(
        tmp_path / "n", volume, names=["c", "a", "b"], instances=[None] * 3, write_order=[1, 2, 0]
    )
    for path in (tmp_path / "n").iterdir():  # no position either
        ds = pydicom.dcmread(path)
        del ds.ImagePositionPatient
        ds.save_as(path)
    scans, _ = tio.load_paths([tmp_path / "n"])
    assert [s.source.name for s in scans[0].slices] == ["a", "b", "c"]


# --- privacy ---------------------------------------------------------------------------------

SECRETS = ("Doe^Jane", "Doe", "Jane", "SECRET123", "19700101", "ACC0001", "Test Hospital")


def _assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text.lower(), f"{secret!r} leaked into {text!r}"


def test_identifiers_never_reach_meta_descriptions_errors_or_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = tmp_path / "patient"
    folder.mkdir()
    identity = {"patient_name": "Doe^Jane", "patient_id": "SECRET123"}
    make_dicom(
        folder / "image.dcm",
        np.arange(16, dtype=np.uint16).reshape(4, 4),
        series_description="T1 Jane Doe SECRET123",
        **identity,
    )
    make_series(folder / "series", np.zeros((2, 4, 4), np.uint16), **identity)
    broken = make_dicom(folder / "broken.dcm", np.zeros((8, 8), np.uint16), **identity)
    broken.write_bytes(broken.read_bytes()[:-10])
    make_non_image(folder / "report.dcm", "SR", patient_name="Doe^Jane")
    jpeg = make_dicom(folder / "bad_jpeg.dcm", np.zeros((8, 8), np.uint8), **identity)
    ds = pydicom.dcmread(jpeg)
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = pydicom.encaps.encapsulate([b"\xff\xd8\xff\xe0 Doe^Jane SECRET123 \xff\xd9"])
    ds.save_as(jpeg)

    scans, errors = tio.load_paths([folder])
    assert len(scans) == 2 and len(errors) == 3
    for scan in scans:
        _assert_no_secrets(scan.description)
        for slc in scan.slices:
            _assert_no_secrets(repr(slc.meta))
    assert sorted(scan.description for scan in scans) == [
        "MR series 1 – T1 AX (2 slices)",
        "image.dcm",
    ]
    image = next(scan for scan in scans if scan.kind == "dicom")
    # "T1 Jane Doe SECRET123" holds identifiers: left out whole, never masked
    assert "Series description" not in image.slices[0].meta
    for error in errors:
        _assert_no_secrets(str(error))
    _assert_no_secrets(caplog.text)


def test_display_metadata_shows_identifiers_only_on_request(tmp_path: Path) -> None:
    path = make_dicom(
        tmp_path / "a.dcm",
        np.zeros((4, 6), np.int16),
        patient_name="Doe^Jane",
        patient_id="SECRET123",
        bits_stored=12,
        slope=1,
        intercept=-1024,
        window=(40, 80),
        extra={"MagneticFieldStrength": 3, "EchoTime": 12.5},
    )
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    safe = tio.display_metadata(ds)
    assert safe["Modality"] == "MR"
    assert safe["Rows×columns"] == "4×6"
    assert safe["Pixel spacing"] == "0.5 × 0.5 mm"
    assert safe["Slice thickness"] == "5 mm"
    assert safe["Field strength"] == "3 T"
    assert safe["Echo time"] == "12.5 ms"
    assert safe["Bits stored"] == "12 of 16, signed"
    assert safe["Rescale"] == "slope 1, intercept -1024 (US)"
    assert safe["Window"] == "C 40 / W 80"
    assert safe["Transfer syntax"] == "Explicit VR Little Endian"
    _assert_no_secrets(repr(safe))
    everything = tio.display_metadata(ds, include_identifiers=True)
    assert everything["Patient's Name"] == "Doe^Jane"
    assert everything["Patient ID"] == "SECRET123"
    assert everything["Patient's Birth Date"] == "19700101"
    assert everything["Accession Number"] == "ACC0001"
    assert everything["Institution Name"] == "Test Hospital"
    assert "Study Instance UID" in everything and "Series Instance UID" in everything
    assert set(safe) <= set(everything)


def test_scan_meta_equals_display_metadata_without_identifiers() -> None:
    path = pydicom_sample("MR_small.dcm")
    slc = _only_slice(path)
    assert slc.meta == tio.display_metadata(pydicom.dcmread(path))
    assert "CompressedSamples" not in repr(slc.meta)


def test_file_name_holding_the_patients_name_is_not_used_as_description(tmp_path: Path) -> None:
    # a file name is shown as a description unless it holds the patient's name
    target = tmp_path / "CompressedSamples^MR1.dcm"
    shutil.copy(pydicom_sample("MR_small.dcm"), target)
    assert tio.read_scan(target).description == "DICOM file"


def test_free_text_is_shown_whole_or_not_at_all_never_masked(tmp_path: Path) -> None:
    # the old scrubber masked substrings: "does" became "[removed]s" for a patient named Doe
    path = make_dicom(
        tmp_path / "doe.dcm",
        np.zeros((4, 4), np.uint16),
        patient_name="Doe^Jane",
        series_description="Does T1 show it",
    )
    assert tio.read_scan(path).slices[0].meta["Series description"] == "Does T1 show it"


def test_malformed_identifying_values_are_not_quoted_by_pydicom_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # pydicom's value validation logs "Invalid value for VR UI: '1.2.SECRET123'"; trainer.io
    # drops pydicom's records while it reads (trainer.io.quiet), so reading is silent.
    caplog.set_level(logging.DEBUG)
    path = _file_with_malformed_uid(tmp_path)
    scans, errors = tio.load_paths([path])
    assert errors == [] and scans[0].slices[0].data.shape == (2, 2)
    _assert_no_secrets(caplog.text)
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    everything = tio.display_metadata(ds, include_identifiers=True)
    assert everything["Study Instance UID"] == "1.2.SECRET123"  # shown when asked for
    _assert_no_secrets(caplog.text)


def _file_with_malformed_uid(folder: Path) -> Path:
    path = make_dicom(folder / "bad_uid.dcm", np.zeros((2, 2), np.uint16))
    ds = pydicom.dcmread(path)
    with pydicom.config.disable_value_validation():
        ds.StudyInstanceUID = "1.2.SECRET123"
        ds.save_as(path)
    return path


_QUIET_SCRIPT = """
import logging, sys, threading, warnings
import pydicom, pydicom.config
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
warnings.simplefilter("always")
before = (list(warnings.filters), pydicom.config.settings.reading_validation_mode,
          logging.getLogger("pydicom").level)
import trainer.io as tio
from trainer.io.quiet import quiet
path = sys.argv[1]
with warnings.catch_warnings():  # the first read inside a block that restores showwarning
    tio.load_paths([path])
scans, errors = tio.load_paths([path])
meta = tio.display_metadata(pydicom.dcmread(path), include_identifiers=True)
assert not errors and meta["Study Instance UID"] == "1.2.SECRET123", (errors, meta)
after = (list(warnings.filters), pydicom.config.settings.reading_validation_mode,
         logging.getLogger("pydicom").level)
assert before == after, (before, after)
print("READ-DONE", file=sys.stderr, flush=True)
# a thread that is reading quietly does not silence pydicom for another thread
inside, release = threading.Event(), threading.Event()
def reader():
    with quiet():
        inside.set()
        release.wait()
t = threading.Thread(target=reader)
t.start()
inside.wait()
pydicom.dcmread(path).StudyInstanceUID  # this thread's own pydicom use warns as configured
release.set()
t.join()
"""


def test_reading_quietly_changes_nothing_process_wide_and_only_for_its_thread(tmp_path: Path):
    """In a fresh process with every warning shown and pydicom logging at DEBUG: importing
    and reading through trainer.io leaves pydicom's settings, the warning filters and the log
    level as they were, and nothing it reads is quoted; pydicom's own use on another thread
    while a read is in progress still warns (quieting is per thread, not process-wide)."""
    import subprocess
    import sys

    path = _file_with_malformed_uid(tmp_path)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", _QUIET_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ours, theirs = done.stderr.split("READ-DONE", 1)
    _assert_no_secrets(ours)
    assert "SECRET123" in theirs and "Warning" in theirs and "pydicom" in theirs
