"""Which DICOM attributes may be shown, and keeping identifiers out of everything else.

The rule (docs/dicom.md): attributes that the DICOM PS3.15 Basic Application Level
Confidentiality Profile (Annex E, Table E.1-1) removes or replaces never reach ``meta``, a
description, an exception message or a log line, unless a caller explicitly asks for them with
``include_identifiers=True``. ``meta`` is built from an allow-list, so a new attribute can only
leak if someone adds it there; free text that must be shown (series description, sequence name)
and third-party error messages are additionally scrubbed of every identifying value in the same
file, the spirit of the profile's Clean Descriptors option.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only duck-typed attribute access is needed at run time
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

#: Attributes treated as identifying: the PS3.15 Table E.1-1 entries that can occur in the MR/CT
#: images this app reads (instance UIDs count: they link a file back to a patient's record). Any
#: other attribute whose VR is PN (a person), DA/DT/TM (a date or time) or UI (an instance UID)
#: is identifying too, see :func:`is_identifying`.
# fmt: off
IDENTIFYING_KEYWORDS: frozenset[str] = frozenset(
    {
        # patient
        "PatientName", "PatientID", "IssuerOfPatientID", "OtherPatientIDs",
        "OtherPatientIDsSequence", "OtherPatientNames", "PatientBirthName", "PatientBirthDate",
        "PatientBirthTime", "PatientSex", "PatientAge", "PatientSize", "PatientWeight",
        "PatientAddress", "PatientTelephoneNumbers", "PatientMotherBirthName",
        "PatientReligiousPreference", "PatientComments", "PatientInsurancePlanCodeSequence",
        "EthnicGroup", "Occupation", "MilitaryRank", "BranchOfService", "MedicalRecordLocator",
        "AdditionalPatientHistory", "MedicalAlerts", "Allergies", "PregnancyStatus",
        "SmokingStatus", "LastMenstrualDate", "CountryOfResidence", "RegionOfResidence",
        "ResponsiblePerson", "ResponsibleOrganization", "PatientState",
        "AdmittingDiagnosesDescription", "AdmissionID", "IssuerOfAdmissionIDSequence",
        "CurrentPatientLocation", "PatientInstitutionResidence", "ReasonForTheRequestedProcedure",
        # people and places
        "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
        "InstitutionCodeSequence", "ReferringPhysicianName", "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers", "PhysiciansOfRecord", "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy", "OperatorsName", "RequestingPhysician",
        "ScheduledPerformingPhysicianName", "StationName", "DeviceSerialNumber", "PersonName",
        "VerifyingObserverName", "ContentCreatorName",
        # study, visit and request
        "AccessionNumber", "StudyID", "StudyDescription", "RequestAttributesSequence",
        "RequestedProcedureID", "RequestedProcedureDescription", "ScheduledProcedureStepID",
        "PerformedProcedureStepID", "PerformedProcedureStepDescription",
        "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime", "ImageComments",
        "FillerOrderNumberImagingServiceRequest", "PlacerOrderNumberImagingServiceRequest",
        "ProtocolName", "ContrastBolusAgent", "AcquisitionComments", "DerivationDescription",
        "TimezoneOffsetFromUTC",
        # dates and times
        "StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "StudyTime", "SeriesTime",
        "AcquisitionTime", "ContentTime", "AcquisitionDateTime", "InstanceCreationDate",
        "InstanceCreationTime", "OverlayDate", "OverlayTime", "CurveDate", "CurveTime",
        # instance UIDs
        "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "MediaStorageSOPInstanceUID",
        "FrameOfReferenceUID", "SynchronizationFrameOfReferenceUID", "ReferencedSOPInstanceUID",
        "InstanceCreatorUID", "IrradiationEventUID", "ConcatenationUID",
        "DimensionOrganizationUID", "StorageMediaFileSetUID", "UID",
    }
)
# fmt: on

# UIDs that name a kind of thing, not an instance of it: safe to show.
_SAFE_UIDS = frozenset(
    {
        "SOPClassUID",
        "MediaStorageSOPClassUID",
        "TransferSyntaxUID",
        "ImplementationClassUID",
        "ReferencedSOPClassUID",
        "CodingSchemeUID",
    }
)
_IDENTIFYING_VRS = frozenset({"PN", "DA", "DT", "TM"})
_MASK = "[removed]"
_MIN_MASKED_LENGTH = 3  # shorter values ("M", "42") would mangle ordinary words and numbers


def is_identifying(element: DataElement) -> bool:
    """True for an attribute that the privacy rule keeps out of display and messages."""
    keyword = element.keyword
    if keyword in IDENTIFYING_KEYWORDS:
        return True
    if element.VR in _IDENTIFYING_VRS:
        return True
    return element.VR == "UI" and keyword not in _SAFE_UIDS


def identifying_values(ds: Dataset) -> set[str]:
    """Every identifying value in ``ds`` (nested sequences and file meta included), as the strings
    that could appear in text: the whole value and, for person names, each name part."""
    values: set[str] = set()
    for element in _walk(ds):
        if element.VR == "SQ" or not is_identifying(element) or element.value in (None, ""):
            continue
        items = element.value if _is_multi(element.value) else [element.value]
        for item in items:
            values.update(_spellings(item))
    return {v for v in values if len(v) >= _MIN_MASKED_LENGTH}


def scrub(text: str, ds: Dataset | None) -> str:
    """``text`` with every identifying value of ``ds`` masked, for free text we must show (series
    description) and for third-party error messages that may quote a value."""
    if ds is None or not text:
        return text
    return _mask(text, identifying_values(ds))


def _mask(text: str, values: set[str]) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = re.sub(re.escape(value), _MASK, text, flags=re.IGNORECASE)
    return text


def display_metadata(ds: Dataset, include_identifiers: bool = False) -> dict[str, str]:
    """Attributes worth showing next to an image, as label -> text, in a stable order.

    Why an allow-list: whatever is not named here cannot leak. Identifying attributes come only
    with ``include_identifiers=True`` (for a user looking at their own data on their own screen),
    after the non-identifying ones, labelled with their DICOM names.
    """
    meta: dict[str, str] = {}
    secrets: set[str] | None = None
    for label, render in _DISPLAY:
        text = render(ds)
        if text and label in _FREE_TEXT:
            secrets = identifying_values(ds) if secrets is None else secrets
            text = _mask(text, secrets)
        if text:
            meta[label] = text
    if include_identifiers:
        meta.update(_identifiers(ds))
    return meta


def _identifiers(ds: Dataset) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in _elements(ds, nested=False):
        if element.VR != "SQ" and is_identifying(element) and element.value not in (None, ""):
            found[element.name] = _text(element.value)
    return found


def _walk(ds: Dataset) -> Iterator[DataElement]:
    yield from _elements(ds, nested=True)


def _elements(ds: Dataset, *, nested: bool) -> Iterator[DataElement]:
    """Elements of the file meta and the data set; one whose value pydicom cannot convert is
    skipped: it cannot be shown, and failing here would lose a readable image."""
    file_meta = getattr(ds, "file_meta", None)
    for dataset in (file_meta, ds) if file_meta is not None else (ds,):
        for tag in list(dataset.keys()):
            try:
                element = dataset[tag]
            except Exception:  # malformed values raise anything from ValueError to KeyError
                continue
            yield element
            if nested and element.VR == "SQ" and element.value:
                for item in element.value:
                    yield from _elements(item, nested=True)


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def _spellings(value: Any) -> set[str]:
    text = str(value).strip()
    spellings = {text}
    if hasattr(value, "components"):  # a PersonName: "Doe^Jane" also leaks as "Doe" or "Jane"
        parts = [p for p in re.split(r"[\^=]", text) if p.strip()]
        spellings.update(p.strip() for p in parts)
        if len(parts) >= 2:
            spellings.add(f"{parts[1]} {parts[0]}")
            spellings.add(f"{parts[0]} {parts[1]}")
    return spellings


def _text(value: Any) -> str:
    if _is_multi(value):
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _number(value: Any) -> str:
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return str(value)


def _get(ds: Dataset, keyword: str) -> Any:
    """A top-level value, or the first one found in the shared functional groups of an enhanced
    multi-frame file, where scanners put spacing and thickness; None when absent or unreadable."""
    try:
        value = ds.get(keyword)
        if value not in (None, "") or "SharedFunctionalGroupsSequence" not in ds:
            return value
        for group in ds.SharedFunctionalGroupsSequence:
            for element in group:
                if element.VR == "SQ" and element.value and keyword in element.value[0]:
                    return element.value[0].get(keyword)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError):
        return None  # a malformed value must not stop the image from loading
    return None


def _plain(keyword: str, unit: str = "") -> Callable[[Dataset], str]:
    def render(ds: Dataset) -> str:
        value = _get(ds, keyword)
        if value in (None, ""):
            return ""
        if not unit:
            return _text(value)
        return f"{_number(value)}{unit}" if unit == "°" else f"{_number(value)} {unit}"

    return render


def _size(ds: Dataset) -> str:
    rows, columns = _get(ds, "Rows"), _get(ds, "Columns")
    return f"{rows}×{columns}" if rows and columns else ""


def _frames(ds: Dataset) -> str:
    frames = _get(ds, "NumberOfFrames")
    try:
        return str(int(frames)) if frames and int(frames) > 1 else ""
    except (TypeError, ValueError):
        return ""


def _spacing(ds: Dataset) -> str:
    spacing = _get(ds, "PixelSpacing")
    if not spacing or not _is_multi(spacing) or len(spacing) != 2:
        return ""
    return f"{_number(spacing[0])} × {_number(spacing[1])} mm"


def _bits(ds: Dataset) -> str:
    stored, allocated = _get(ds, "BitsStored"), _get(ds, "BitsAllocated")
    if not stored:
        return ""
    sign = "signed" if _get(ds, "PixelRepresentation") == 1 else "unsigned"
    return f"{stored} of {allocated}, {sign}" if allocated else f"{stored}, {sign}"


def _transfer_syntax(ds: Dataset) -> str:
    file_meta = getattr(ds, "file_meta", None)
    uid = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    return getattr(uid, "name", "") or (str(uid) if uid else "")


def _sop_class(ds: Dataset) -> str:
    uid = _get(ds, "SOPClassUID")
    return getattr(uid, "name", "") or (str(uid) if uid else "")


def _window(ds: Dataset) -> str:
    center, width = _get(ds, "WindowCenter"), _get(ds, "WindowWidth")
    if center in (None, "") or width in (None, ""):
        return ""
    center = center[0] if _is_multi(center) else center
    width = width[0] if _is_multi(width) else width
    return f"C {_number(center)} / W {_number(width)}"


def _rescale(ds: Dataset) -> str:
    slope, intercept = _get(ds, "RescaleSlope"), _get(ds, "RescaleIntercept")
    if slope in (None, "") or intercept in (None, ""):
        return ""
    kind = _get(ds, "RescaleType")
    text = f"slope {_number(slope)}, intercept {_number(intercept)}"
    return f"{text} ({kind})" if kind else text


# Typed by people at the scanner, so they may hold a name or an ID: scrubbed before display.
_FREE_TEXT = frozenset({"Series description", "Sequence name"})

_DISPLAY: tuple[tuple[str, Callable[[Dataset], str]], ...] = (
    ("Modality", _plain("Modality")),
    ("SOP class", _sop_class),
    ("Rows×columns", _size),
    ("Frames", _frames),
    ("Pixel spacing", _spacing),
    ("Slice thickness", _plain("SliceThickness", "mm")),
    ("Spacing between slices", _plain("SpacingBetweenSlices", "mm")),
    ("Series number", _plain("SeriesNumber")),
    ("Series description", _plain("SeriesDescription")),
    ("Body part", _plain("BodyPartExamined")),
    ("Sequence name", _plain("SequenceName")),
    ("Scanning sequence", _plain("ScanningSequence")),
    ("MR acquisition", _plain("MRAcquisitionType")),
    ("Field strength", _plain("MagneticFieldStrength", "T")),
    ("Echo time", _plain("EchoTime", "ms")),
    ("Repetition time", _plain("RepetitionTime", "ms")),
    ("Inversion time", _plain("InversionTime", "ms")),
    ("Flip angle", _plain("FlipAngle", "°")),
    ("Photometric interpretation", _plain("PhotometricInterpretation")),
    ("Bits stored", _bits),
    ("Rescale", _rescale),
    ("Window", _window),
    ("Transfer syntax", _transfer_syntax),
    ("Manufacturer", _plain("Manufacturer")),
    ("Model", _plain("ManufacturerModelName")),
)
