"""Which DICOM values may be shown, and keeping identifiers out of everything else.

The rule (docs/dicom.md): attributes that the DICOM PS3.15 Basic Application Level
Confidentiality Profile (Annex E, Table E.1-1) removes or replaces never reach ``meta``, a
description, an exception message or a log line, unless a caller explicitly asks for them with
``include_identifiers=True``.

How, by allow-listing twice:

* **Which attributes**: ``meta`` is built from :data:`_DISPLAY`, so an attribute can only be
  shown if someone names it there.
* **Which values**: a value is shown only if it parses as what the DICOM dictionary declares
  for its tag (:func:`checked_value`): the VR read from the file is the declared one, the number
  of values is the declared VM, and every value obeys its VR's grammar (PS3.5 6.2: a DS is a
  decimal number of at most 16 characters, a CS is capitals, digits, space and underscore...).
  A malformed file fails this check instead of leaking: an element whose length is corrupt
  swallows the elements after it, patient name included, and its "value" is then binary soup;
  a DS holding "DOE^JANE" is not a number. Such a value is not shown at all.
* **Free text** that passes (series description, manufacturer, a file name used as a
  description) is shown whole or not at all: not at all when it contains, as whole words, any
  identifying value of the same file (the spirit of the profile's Clean Descriptors option).
  Nothing is masked inside a text, so "does" stays "does" when the patient is called Doe.

Messages never quote a DICOM value or a foreign exception's text (see :mod:`trainer.io.guard`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword

from trainer.io.quiet import quietly

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
_MIN_PHRASE_LENGTH = 3  # shorter values ("M", "42") would hide ordinary words and numbers

# PS3.5 Table 6.2-1: longest value per VR, and the grammar of the VRs whose values we show.
_MAX_LENGTH = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "DT": 26,
    "IS": 12,
    "LO": 64,
    "LT": 10240,
    "PN": 324,
    "SH": 16,
    "ST": 1024,
    "TM": 16,
    "UI": 64,
}
_GRAMMAR = {
    "CS": re.compile(r"[A-Z0-9 _]*"),
    "DS": re.compile(r" *[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)? *"),
    "IS": re.compile(r" *[+-]?\d+ *"),
    "UI": re.compile(r"\d+(\.\d+)*"),
    "DA": re.compile(r"\d{8}"),
    "AS": re.compile(r"\d{3}[DWMY]"),
}
_NUMERIC_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})
_TEXT_VRS = frozenset(_MAX_LENGTH) | {"UC", "UT", "UR"}


def is_identifying(element: DataElement) -> bool:
    """True for an attribute that the privacy rule keeps out of display and messages."""
    keyword = element.keyword
    if keyword in IDENTIFYING_KEYWORDS:
        return True
    if element.VR in _IDENTIFYING_VRS:
        return True
    return element.VR == "UI" and keyword not in _SAFE_UIDS


# --------------------------------------------------------------------------------------------
# Type-checked values
# --------------------------------------------------------------------------------------------


def checked_value(ds: Dataset | None, keyword: str) -> Any:
    """The value of ``keyword`` in ``ds`` (or its file meta, for group 0002) if it parses as
    its dictionary VR and VM, else None. Never raises: a malformed value is an absent one."""
    if ds is None:
        return None
    try:
        tag = tag_for_keyword(keyword)
        if tag is None:
            return None
        source = getattr(ds, "file_meta", None) if tag >> 16 == 0x0002 else ds
        if source is None or tag not in source:
            return None
        element = source[tag]
    except Exception:  # a value pydicom cannot convert raises anything from ValueError on
        return None
    return element.value if _is_valid(element, strict=True) else None


def checked_text(ds: Dataset | None, keyword: str) -> str:
    """:func:`checked_value` as display text ("" when absent or malformed); several values are
    joined with a backslash, as DICOM writes them."""
    value = checked_value(ds, keyword)
    if value is None:
        return ""
    return _text(value)


def _is_valid(element: DataElement, *, strict: bool) -> bool:
    """Does ``element`` hold what its tag declares? ``strict`` also applies the VR grammar and
    the declared VM; without it (identifiers shown on request) printable text of a sane length
    is enough, so that an oddly written ID is still shown to the user who asked for it."""
    try:
        declared = dictionary_VR(element.tag).split(" or ")
    except KeyError:  # private or unknown tag: nothing to check it against
        return False
    vr = element.VR
    if vr not in declared:
        return False
    value = element.value
    if value is None or value == "" or vr == "SQ":
        return False
    values = list(value) if _is_multi(value) else [value]
    if strict and not _vm_allows(dictionary_VM(element.tag), len(values)):
        return False
    return all(_value_ok(vr, item, strict) for item in values)


def _vm_allows(vm: str, count: int) -> bool:
    """Does the dictionary VM ("1", "2", "1-3", "1-n", "2-2n") allow ``count`` values?"""
    low_text, _, high_text = vm.partition("-")
    try:
        low = int(low_text)
    except ValueError:
        return False
    if not high_text:
        return count == low
    if "n" in high_text:
        step = int(high_text.rstrip("n") or 1)
        return count >= low and count % step == 0
    return low <= count <= int(high_text)


def _value_ok(vr: str, value: Any, strict: bool) -> bool:
    if vr in _NUMERIC_VRS:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if vr not in _TEXT_VRS:
        return False  # binary and other VRs are never shown
    text = str(value)
    if vr == "PN":
        text = text.rstrip()
    if not text or not text.isprintable() or "\\" in text:
        return False
    if len(text) > _MAX_LENGTH.get(vr, 10240):
        return False
    grammar = _GRAMMAR.get(vr)
    return not strict or grammar is None or grammar.fullmatch(text) is not None


# --------------------------------------------------------------------------------------------
# Identifying values, as phrases
# --------------------------------------------------------------------------------------------


def identifying_phrases(ds: Dataset) -> set[tuple[str, ...]]:
    """Every identifying value in ``ds`` (nested sequences and file meta included) as a tuple of
    lower-case words; for person names each name part too, so "Doe^Jane" gives ("doe",
    "jane"), ("doe",) and ("jane",)."""
    phrases: set[tuple[str, ...]] = set()
    for element in _walk(ds):
        if element.VR == "SQ" or not is_identifying(element) or element.value in (None, ""):
            continue
        items = element.value if _is_multi(element.value) else [element.value]
        for item in items:
            text = str(item)
            parts = [text]
            if element.VR == "PN":
                parts += re.split(r"[\^=]", text)
            for part in parts:
                words = _words(part)
                if len("".join(words)) >= _MIN_PHRASE_LENGTH:
                    phrases.add(words)
    return phrases


def contains_identifier(
    text: str, ds: Dataset | None, phrases: set[tuple[str, ...]] | None = None
) -> bool:
    """True when ``text`` holds, as whole words, an identifying value of ``ds``."""
    if ds is None or not text:
        return False
    phrases = identifying_phrases(ds) if phrases is None else phrases
    words = _words(text)
    for phrase in phrases:
        n = len(phrase)
        if any(words[i : i + n] == phrase for i in range(len(words) - n + 1)):
            return True
    return False


def shown_name(name: str, ds: Dataset | None, fallback: str) -> str:
    """``name`` (a file name, a description) if it holds no identifier of ``ds``, else
    ``fallback``: shown whole or not at all, never masked."""
    return fallback if contains_identifier(name, ds) else name


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[^\W_]+", text.casefold()))


# --------------------------------------------------------------------------------------------
# What is shown
# --------------------------------------------------------------------------------------------


@quietly
def display_metadata(ds: Dataset, include_identifiers: bool = False) -> dict[str, str]:
    """Attributes worth showing next to an image, as label -> text, in a stable order.

    Why allow-lists: whatever is not named here, or does not parse as its VR, cannot leak.
    Identifying attributes come only with ``include_identifiers=True`` (for a user looking at
    their own data on their own screen), after the non-identifying ones, labelled with their
    DICOM names.
    """
    meta: dict[str, str] = {}
    phrases: set[tuple[str, ...]] | None = None
    for label, render in _DISPLAY:
        try:
            text = render(ds)
        except Exception:  # a malformed value is an absent one
            text = ""
        if text and label in _FREE_TEXT:
            phrases = identifying_phrases(ds) if phrases is None else phrases
            if contains_identifier(text, ds, phrases):
                text = ""
        if text:
            meta[label] = text
    if include_identifiers:
        meta.update(_identifiers(ds))
    return meta


def _identifiers(ds: Dataset) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in _elements(ds, nested=False):
        if element.VR != "SQ" and is_identifying(element) and _is_valid(element, strict=False):
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


def _text(value: Any) -> str:
    if _is_multi(value):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()


def _number(value: Any) -> str:
    return f"{float(value):g}"  # only called on values that passed the DS/IS/US grammar


def _get(ds: Dataset, keyword: str) -> Any:
    """A checked top-level value, or the first checked one in the shared functional groups of
    an enhanced multi-frame file, where scanners put spacing and thickness; None when absent or
    malformed."""
    value = checked_value(ds, keyword)
    if value is not None:
        return value
    try:
        groups = (
            ds.get("SharedFunctionalGroupsSequence")
            if "SharedFunctionalGroupsSequence" in ds
            else None
        )
        for group in groups or []:
            for element in group:
                if element.VR == "SQ" and element.value:
                    nested = checked_value(element.value[0], keyword)
                    if nested is not None:
                        return nested
    except Exception:
        return None  # a malformed sequence must not stop the image from loading
    return None


def _plain(keyword: str, unit: str = "") -> Callable[[Dataset], str]:
    def render(ds: Dataset) -> str:
        value = _get(ds, keyword)
        if value is None:
            return ""
        if not unit:
            return _text(value)
        if _is_multi(value):
            return ""
        return f"{_number(value)}{unit}" if unit == "°" else f"{_number(value)} {unit}"

    return render


def _size(ds: Dataset) -> str:
    rows, columns = _get(ds, "Rows"), _get(ds, "Columns")
    return f"{rows}×{columns}" if rows and columns else ""


def _frames(ds: Dataset) -> str:
    frames = _get(ds, "NumberOfFrames")
    return str(int(frames)) if frames is not None and int(frames) > 1 else ""


def _spacing(ds: Dataset) -> str:
    spacing = _get(ds, "PixelSpacing")
    if spacing is None:
        return ""
    return f"{_number(spacing[0])} × {_number(spacing[1])} mm"


def _bits(ds: Dataset) -> str:
    stored, allocated = _get(ds, "BitsStored"), _get(ds, "BitsAllocated")
    if not stored:
        return ""
    sign = "signed" if _get(ds, "PixelRepresentation") == 1 else "unsigned"
    return f"{stored} of {allocated}, {sign}" if allocated else f"{stored}, {sign}"


def _uid_name(keyword: str) -> Callable[[Dataset], str]:
    """A class UID by its dictionary name; a UID pydicom does not know is shown as digits."""

    def render(ds: Dataset) -> str:
        uid = _get(ds, keyword)
        return str(getattr(uid, "name", "") or uid) if uid else ""

    return render


def _window(ds: Dataset) -> str:
    center, width = _get(ds, "WindowCenter"), _get(ds, "WindowWidth")
    if center is None or width is None:
        return ""
    center = center[0] if _is_multi(center) else center
    width = width[0] if _is_multi(width) else width
    return f"C {_number(center)} / W {_number(width)}"


def _rescale(ds: Dataset) -> str:
    slope, intercept = _get(ds, "RescaleSlope"), _get(ds, "RescaleIntercept")
    if slope is None or intercept is None:
        return ""
    kind = _get(ds, "RescaleType")
    text = f"slope {_number(slope)}, intercept {_number(intercept)}"
    return f"{text} ({kind})" if kind else text


# Typed by people, so they may hold a name or an ID: shown only when they hold none.
_FREE_TEXT = frozenset(
    {"Series description", "Sequence name", "Rescale", "Manufacturer", "Model", "Body part"}
)

_DISPLAY: tuple[tuple[str, Callable[[Dataset], str]], ...] = (
    ("Modality", _plain("Modality")),
    ("SOP class", _uid_name("SOPClassUID")),
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
    ("Transfer syntax", _uid_name("TransferSyntaxUID")),
    ("Manufacturer", _plain("Manufacturer")),
    ("Model", _plain("ManufacturerModelName")),
)
