"""trainer.io.dicom_values: every value read out of a pydicom Dataset, on real and malformed files.

Malformed values are written into real files as raw bytes under the VR a test names (pydicom
converts them only when they are read, as it does for a scanner's file); the assertions state
what each accessor gives for them.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag

import trainer.io as tio
from tests.dicom_factory import make_dicom, pydicom_sample
from trainer.io import dicom_values as values
from trainer.io.geometry import geometry_of


def _raw(ds: Dataset, keyword: str, vr: str, raw: bytes) -> None:
    """``keyword`` holding ``raw`` as written in a file, declared ``vr``."""
    tag = Tag(tag_for_keyword(keyword))
    ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)


def _file_with(tmp_path: Path, raw: dict[str, tuple[str, bytes]]) -> Dataset:
    """A valid 4×4 image whose attributes in ``raw`` hold the given bytes, written to a file and
    read back (so that pydicom meets the values only when they are read)."""
    path = make_dicom(tmp_path / "raw.dcm", np.zeros((4, 4), np.uint16))
    ds = pydicom.dcmread(path)
    for keyword, (vr, data) in raw.items():
        _raw(ds, keyword, vr, data)
    ds.save_as(path)
    return pydicom.dcmread(path)


# --- pydicom's own test file --------------------------------------------------------------------


def test_mr_small_values_as_pydicom_converts_them_and_checked() -> None:
    ds = pydicom.dcmread(pydicom_sample("MR_small.dcm"))
    assert values.get(ds, "Rows") == 64 and values.integer(ds, "Columns") == 64
    assert values.integer(ds, "NumberOfFrames", 1) == 1  # absent: the default
    assert values.get(ds, "SeriesDescription", "none") == "none"
    assert values.number(ds, "InstanceNumber") == 1.0
    assert values.first_number(ds, "WindowCenter") == 600.0
    assert values.first_number(ds, "WindowWidth") == 1600.0
    assert values.floats(ds, "ImageOrientationPatient") == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert values.checked_text(ds, "Modality") == "MR"
    assert values.checked_text(ds, "SeriesNumber") == "1"
    assert values.checked_value(ds, "SOPClassUID") == "1.2.840.10008.5.1.4.1.1.4"
    assert values.checked_numbers(ds, "PixelSpacing", 2) == [0.3125, 0.3125]
    assert values.checked_numbers(ds, "PixelSpacing", 3) is None  # two values, not three
    assert values.checked_numbers(ds, "ImagePositionPatient", 3) == [-83.9063, -91.2, 6.6406]
    assert values.checked_numbers(ds, "SliceThickness", 1) == [0.8]
    assert values.checked_or_shared(ds, "SliceThickness") == 0.8  # top level, no groups
    # group 0002 comes from the file meta
    assert values.checked_value(ds, "TransferSyntaxUID") == ds.file_meta.TransferSyntaxUID
    # an attribute the file does not have, and a keyword no dictionary knows
    assert values.checked_value(ds, "RescaleSlope") is None
    assert values.checked_value(ds, "NoSuchKeyword") is None
    assert values.sequence(ds, "PerFrameFunctionalGroupsSequence") == ()
    assert values.frame_groups(ds, 0) == []


def test_a_real_enhanced_file_per_frame_position_over_shared_measures() -> None:
    # pydicom's liver_1frame.dcm (a segmentation): spacing, thickness and orientation in the
    # shared functional groups, one Plane Position per frame, nothing at the top level.
    ds = pydicom.dcmread(pydicom_sample("liver_1frame.dcm"), stop_before_pixels=True)
    assert values.checked_value(ds, "PixelSpacing") is None
    groups = values.frame_groups(ds, 2)
    assert len(groups) == 2
    shared, own = groups
    measures = values.first_item(shared, "PixelMeasuresSequence")
    assert values.checked_numbers(measures, "PixelSpacing", 2) == [0.810547, 0.810547]
    position = values.first_item(own, "PlanePositionSequence")
    assert values.checked_numbers(position, "ImagePositionPatient", 3) == [-235.2, -226.8, -126.69]
    assert values.checked_or_shared(ds, "PixelSpacing") == [0.810547, 0.810547]
    assert values.checked_or_shared(ds, "SliceThickness") == 1.0
    assert values.frame_groups(ds, 3) == [shared]  # the file has three per-frame groups
    geometry = geometry_of(ds, 1)
    assert geometry is not None
    assert geometry.position == (-235.2, -226.8, -127.69)
    assert geometry.spacing == (0.810547, 0.810547) and geometry.thickness == 1.0
    assert geometry.plane() == "axial"


# --- malformed values ---------------------------------------------------------------------------


def test_an_integer_string_pydicom_cannot_convert(tmp_path: Path) -> None:
    ds = _file_with(
        tmp_path,
        {
            "InstanceNumber": ("IS", b"1A"),
            "SeriesNumber": ("IS", b"inf "),
            "NumberOfFrames": ("IS", b"1A"),
        },
    )
    # pydicom (warning mode, its default) passes an unparsable IS on as its text
    assert values.get(ds, "InstanceNumber") == "1A"
    assert values.number(ds, "InstanceNumber") is None
    assert values.integer(ds, "InstanceNumber", 7) == 7
    assert values.checked_value(ds, "InstanceNumber") is None
    assert values.checked_text(ds, "InstanceNumber") == ""
    # "inf" makes pydicom's conversion raise: the value is absent to every accessor
    assert values.get(ds, "SeriesNumber", "default") == "default"
    assert values.integer(ds, "SeriesNumber", 3) == 3
    assert values.checked_text(ds, "SeriesNumber") == ""
    assert tio.dicom.number_of_frames(ds) == 1
    assert values.checked_text(ds, "Modality") == "MR"  # the rest of the file reads as usual


def test_not_a_number_and_infinity_in_a_decimal_string(tmp_path: Path) -> None:
    ds = _file_with(
        tmp_path,
        {
            "SliceThickness": ("DS", b"nan "),
            "SpacingBetweenSlices": ("DS", b"1e999 "),
            "WindowCenter": ("DS", b"nan "),
            "WindowWidth": ("DS", b"DOE^JANE"),
            "BitsStored": ("DS", b"nan "),
            "NumberOfFrames": ("DS", b"1e999 "),
        },
    )
    # as pydicom converts them: NaN is a float, passed on; text is no number
    assert math.isnan(values.number(ds, "SliceThickness") or 0.0)
    assert math.isnan(values.first_number(ds, "WindowCenter") or 0.0)
    assert values.first_number(ds, "WindowWidth") is None
    # checked: "nan" and "DOE^JANE" are not DS; "1e999" is, but is no finite number
    assert values.checked_value(ds, "SliceThickness") is None
    assert values.checked_value(ds, "WindowWidth") is None
    assert values.checked_value(ds, "SpacingBetweenSlices") == math.inf
    assert values.checked_numbers(ds, "SpacingBetweenSlices", 1) is None
    assert values.checked_numbers(ds, "SliceThickness", 1) is None
    geometry = geometry_of(ds)
    assert geometry is not None and geometry.thickness is None
    # an integer: NaN is the default; infinity raises (a header claiming infinitely many
    # frames is refused as unreadable, not read as one frame)
    assert values.integer(ds, "BitsStored", 8) == 8
    with pytest.raises(OverflowError):
        values.integer(ds, "NumberOfFrames", 1)


def test_wrong_multiplicity(tmp_path: Path) -> None:
    ds = _file_with(
        tmp_path,
        {
            "PixelSpacing": ("DS", b"0.5\\0.5\\0.5 "),
            "ImagePositionPatient": ("DS", b"1\\2"),
            "ImageOrientationPatient": ("DS", b"1\\0\\0\\0\\1\\0"),
            "Modality": ("CS", b"MR\\CT "),
        },
    )
    assert values.floats(ds, "PixelSpacing") == [0.5, 0.5, 0.5]  # as stored
    assert values.checked_value(ds, "PixelSpacing") is None  # Pixel Spacing has VM 2
    assert values.checked_numbers(ds, "PixelSpacing", 2) is None
    assert values.checked_numbers(ds, "ImagePositionPatient", 3) is None
    assert values.checked_numbers(ds, "ImageOrientationPatient", 6) == [1, 0, 0, 0, 1, 0]
    assert values.checked_text(ds, "Modality") == ""  # Modality has VM 1
    assert values.first_number(ds, "PixelSpacing") == 0.5
    assert values.number(ds, "PixelSpacing") is None  # several values are not one number
    geometry = geometry_of(ds)
    assert geometry is not None
    assert geometry.spacing is None and geometry.position is None
    assert geometry.markers() == {"right": "L", "left": "R", "bottom": "P", "top": "A"}
    assert tio.series.slice_position(ds) is None  # a position of two values is none


def test_bytes_and_values_declared_with_another_vr(tmp_path: Path) -> None:
    ds = _file_with(
        tmp_path,
        {
            "WindowCenter": ("OB", b"40"),
            "PixelSpacing": ("OB", b"0.5\\0.5 "),
            "SeriesDescription": ("OB", b"T1 AX "),
            "Rows": ("US", b"\x04"),  # an odd length for a US: pydicom's conversion raises
            "SharedFunctionalGroupsSequence": ("LO", b"abcd"),
        },
    )
    assert values.get(ds, "SeriesDescription") == b"T1 AX "
    assert values.checked_value(ds, "WindowCenter") is None  # declared OB, not DS
    assert values.checked_text(ds, "SeriesDescription") == ""
    assert values.checked_numbers(ds, "PixelSpacing", 2) is None
    assert values.floats(ds, "PixelSpacing") is None
    assert values.get(ds, "Rows") is None and values.integer(ds, "Rows", 9) == 9
    assert values.checked_value(ds, "Rows") is None
    # a sequence attribute declared as text has no items
    assert values.get(ds, "SharedFunctionalGroupsSequence") == "abcd"
    assert values.sequence(ds, "SharedFunctionalGroupsSequence") == ()
    assert values.first_item(ds, "SharedFunctionalGroupsSequence") is None
    assert values.frame_groups(ds, 0) == []
    assert values.checked_or_shared(ds, "PixelSpacing") is None
    # elements() skips the element pydicom cannot convert and yields the others
    keywords = [element.keyword for element in values.elements(ds, nested=False)]
    assert "Rows" not in keywords and "Columns" in keywords and "TransferSyntaxUID" in keywords


def test_strict_and_lenient_conformance() -> None:
    ds = Dataset()
    _raw(ds, "Modality", "CS", b"mr")
    _raw(ds, "ImageType", "CS", b"ORIGINAL\\PRIMARY")
    _raw(ds, "PatientID", "LO", b"\x01\x02")
    lower, several, binary = ds["Modality"], ds["ImageType"], ds["PatientID"]
    assert not values.conforms(lower) and values.conforms(lower, strict=False)  # CS grammar
    assert values.conforms(several)  # Image Type has VM 2-n
    assert not values.conforms(binary, strict=False)  # not printable
    assert values.as_text(several.value) == "ORIGINAL\\PRIMARY"
    assert values.is_multi(several.value) and not values.is_multi("ORIGINAL")


# --- functional groups --------------------------------------------------------------------------


def _group(spacing: list[float] | None = None, window: tuple[float, float] | None = None):
    group = Dataset()
    if spacing is not None:
        measures = Dataset()
        measures.PixelSpacing = spacing
        group.PixelMeasuresSequence = DicomSequence([measures])
    if window is not None:
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = window
        group.FrameVOILUTSequence = DicomSequence([voi])
    return group


def test_a_per_frame_group_overrides_the_shared_one(tmp_path: Path) -> None:
    frames = np.arange(3 * 4 * 4, dtype=np.uint16).reshape(3, 4, 4)
    per_frame = [
        _group(),  # frame 0: nothing of its own
        _group(spacing=[0.7, 0.7], window=(50, 80)),  # frame 1: both overridden
        # frame 2: a spacing of three values (none: the shared one holds) and a zero-width
        # window (it replaces the shared window, and a zero width is no window)
        _group(spacing=[0.7, 0.7, 0.7], window=(20, 0)),
    ]
    path = make_dicom(
        tmp_path / "enhanced.dcm",
        frames,
        extra={
            "SharedFunctionalGroupsSequence": DicomSequence(
                [_group(spacing=[0.5, 0.5], window=(100, 200))]
            ),
            "PerFrameFunctionalGroupsSequence": DicomSequence(per_frame),
        },
    )
    ds = pydicom.dcmread(path)
    shared, own = values.frame_groups(ds, 1)
    assert values.first_item(shared, "PixelMeasuresSequence").PixelSpacing == [0.5, 0.5]
    assert values.first_item(own, "PixelMeasuresSequence").PixelSpacing == [0.7, 0.7]
    assert values.first_item(values.frame_groups(ds, 0)[1], "PixelMeasuresSequence") is None
    # the displayed spacing is the shared one (what holds for the file as a whole)
    assert values.checked_or_shared(ds, "PixelSpacing") == [0.5, 0.5]
    spacings = [getattr(geometry_of(ds, frame), "spacing", None) for frame in range(3)]
    assert spacings == [(0.5, 0.5), (0.7, 0.7), (0.5, 0.5)]
    windows = [slc.default_window for slc in tio.read_scan(path).slices]
    assert windows == [tio.Window(100, 200), tio.Window(50, 80), None]


def test_functional_groups_declared_as_text_are_ignored_by_every_reader(tmp_path: Path) -> None:
    pixels = np.full((4, 4), 7, np.uint16)
    path = make_dicom(tmp_path / "groups.dcm", pixels, window=(5, 10), position=(0, 0, 2))
    ds = pydicom.dcmread(path)
    _raw(ds, "SharedFunctionalGroupsSequence", "LO", b"abcd")
    _raw(ds, "PerFrameFunctionalGroupsSequence", "LO", b"abcd")
    ds.save_as(path)
    (slc,) = tio.read_scan(path).slices
    assert slc.default_window == tio.Window(5, 10)  # the top level's
    assert slc.geometry is not None and slc.geometry.plane() == "axial"


# --- quiet --------------------------------------------------------------------------------------


def test_reading_a_malformed_value_is_not_quoted_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # pydicom logs "Invalid value for VR UI: '1.2.SECRET123'" as it converts the value
    caplog.set_level(logging.DEBUG)
    ds = _file_with(
        tmp_path,
        {"StudyInstanceUID": ("UI", b"1.2.SECRET123 "), "SeriesNumber": ("IS", b"SECRET4 ")},
    )
    assert values.get(ds, "StudyInstanceUID") == "1.2.SECRET123"
    assert values.checked_value(ds, "SeriesNumber") is None
    assert "SECRET" not in caplog.text
    caplog.clear()
    # outside trainer.io, pydicom still logs as configured (the check above is not vacuous)
    pydicom.dcmread(ds.filename).SeriesNumber  # noqa: B018
    assert "SECRET4" in caplog.text
