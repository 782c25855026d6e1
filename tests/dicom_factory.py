"""Small, valid DICOM files written with pydicom, for tests: no binary fixtures in the repo.

Import as ``from tests.dicom_factory import make_dicom, ...``. ``make_dicom`` writes one image
file whose every display-relevant attribute is a parameter, so a test can state the stored
values and compute by hand what ``render()`` must give.
``pydicom_sample`` finds the test files that ship inside the pydicom wheel (never downloads).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom import Dataset, FileMetaDataset
from pydicom.data import get_testdata_file
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.11"
RT_PLAN_STORAGE = "1.2.840.10008.5.1.4.1.1.481.5"
MEDIA_STORAGE_DIRECTORY_STORAGE = "1.2.840.10008.1.3.10"

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def pydicom_sample(name: str) -> Path:
    """A test file shipped inside the pydicom package; fails instead of downloading."""
    found = get_testdata_file(name, download=False)
    assert found is not None, f"{name} is not among pydicom's bundled test files"
    return Path(str(found))


def make_dicom(
    path: Path,
    pixels: np.ndarray,
    *,
    bits_stored: int | None = None,
    slope: float | None = None,
    intercept: float | None = None,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | Sequence[tuple[float, float]] | None = None,
    voi_lut: tuple[int, int, Sequence[int]] | None = None,
    voi_function: str | None = None,
    multi_frame: bool | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    series_description: str = "T1 AX",
    instance: int | None = 1,
    position: Sequence[float] | None = None,
    orientation: Sequence[float] = AXIAL,
    patient_name: str = "Test^Anonymous",
    patient_id: str = "ANON0001",
    modality: str = "MR",
    sop_class: str = MR_IMAGE_STORAGE,
    implicit_vr: bool = False,
    preamble: bool = True,
    extra: dict[str, object] | None = None,
) -> Path:
    """Write ``pixels`` as a DICOM image and return ``path``.

    ``pixels``: (rows, columns) or, for several frames, (frames, rows, columns); a trailing
    axis of 3 makes a colour image (``photometric`` "RGB" or "YBR_FULL", values as given).
    The dtype decides Bits Allocated and Pixel Representation (uint8/int8/uint16/int16);
    ``bits_stored`` defaults to all allocated bits. ``window`` is one (center, width) or several;
    ``voi_lut`` is (entries, first mapped value, LUT data) with 16-bit entries. ``extra`` sets
    any further attribute by keyword.
    """
    pixels = np.asarray(pixels)
    colour = photometric in ("RGB", "YBR_FULL")
    frame_ndim = 3 if colour else 2
    frames = pixels.shape[0] if pixels.ndim == frame_ndim + 1 else 1
    if multi_frame is None:
        multi_frame = pixels.ndim == frame_ndim + 1
    rows, columns = pixels.shape[-3:-1] if colour else pixels.shape[-2:]
    bits_allocated = pixels.dtype.itemsize * 8
    signed = np.issubdtype(pixels.dtype, np.signedinteger)

    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, implicit_vr)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = patient_name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.StudyDate = "20240102"
    ds.AccessionNumber = "ACC0001"
    ds.InstitutionName = "Test Hospital"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.SeriesNumber = series_number
    ds.SeriesDescription = series_description
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SliceThickness = 5.0

    ds.Rows, ds.Columns = int(rows), int(columns)
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored or bits_allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if multi_frame:
        ds.NumberOfFrames = frames
    if slope is not None or intercept is not None:
        ds.RescaleSlope = slope if slope is not None else 1
        ds.RescaleIntercept = intercept if intercept is not None else 0
        ds.RescaleType = "US"
    if window is not None:
        windows = [window] if isinstance(window[0], (int, float)) else list(window)
        ds.WindowCenter = [float(c) for c, _ in windows]
        ds.WindowWidth = [float(w) for _, w in windows]
    if voi_function is not None:
        ds.VOILUTFunction = voi_function
    if voi_lut is not None:
        ds.VOILUTSequence = DicomSequence([_lut_item(*voi_lut)])
    for keyword, value in (extra or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = _pixel_bytes(pixels)
    if not preamble:  # a bare data set, as old or hand-made files are: no preamble, no meta
        ds.file_meta = FileMetaDataset()
    ds.save_as(path, enforce_file_format=preamble, implicit_vr=implicit_vr, little_endian=True)
    return path


def make_series(
    folder: Path,
    volume: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    write_order: Sequence[int] | None = None,
    spacing: float = 5.0,
    instances: Sequence[int | None] | None = None,
    **kwargs: object,
) -> list[Path]:
    """One file per slice of ``volume`` (slices, rows, columns), slice k at z = k·spacing with
    Instance Number k+1 unless ``instances`` says otherwise; ``names`` and ``write_order`` let a
    test shuffle what the file system shows. Returns the paths in slice order."""
    folder.mkdir(parents=True, exist_ok=True)
    count = volume.shape[0]
    names = names or [f"slice_{k:03d}.dcm" for k in range(count)]
    series_uid = str(kwargs.pop("series_uid", None) or generate_uid())
    paths = [folder / names[k] for k in range(count)]
    for k in write_order or range(count):
        instance = instances[k] if instances is not None else k + 1
        make_dicom(
            paths[k],
            volume[k],
            series_uid=series_uid,
            instance=instance,
            position=(0.0, 0.0, k * spacing),
            **kwargs,  # type: ignore[arg-type]
        )
    return paths


def make_non_image(path: Path, kind: str = "SR", *, patient_name: str = "Doe^Jane") -> Path:
    """A DICOM object with no pixel data: a Basic Text SR ("SR"), an RT Plan ("RTPLAN") or a
    DICOMDIR ("DICOMDIR"), each with its real SOP Class UID."""
    sop_class = {
        "SR": BASIC_TEXT_SR_STORAGE,
        "RTPLAN": RT_PLAN_STORAGE,
        "DICOMDIR": MEDIA_STORAGE_DIRECTORY_STORAGE,
    }[kind]
    ds = Dataset()
    ds.file_meta = _file_meta(sop_class, implicit_vr=False)
    if kind == "DICOMDIR":
        ds.FileSetID = "TEST"
        ds.DirectoryRecordSequence = DicomSequence([])
    else:
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = kind
        ds.PatientName = patient_name
        ds.PatientID = "SECRET123"
        ds.StudyInstanceUID = generate_uid()
        ds.SeriesInstanceUID = generate_uid()
    if kind == "SR":
        ds.ValueType = "CONTAINER"
        ds.ContinuityOfContent = "SEPARATE"
    if kind == "RTPLAN":
        ds.RTPlanLabel = "PLAN1"
        ds.RTPlanGeometry = "PATIENT"
    ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    return path


def _file_meta(sop_class: str, implicit_vr: bool) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit_vr else ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _lut_item(entries: int, first: int, data: Sequence[int]) -> Dataset:
    item = Dataset()
    # Both are "ambiguous VR" attributes: say which one, as a real file does.
    item.add_new("LUTDescriptor", "SS" if first < 0 else "US", [entries, first, 16])
    item.add_new("LUTData", "US", [int(v) for v in data])
    item.LUTExplanation = "TEST LUT"
    return item


def _pixel_bytes(pixels: np.ndarray) -> bytes:
    data = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
    return data + b"\0" if len(data) % 2 else data  # DICOM values have even length
