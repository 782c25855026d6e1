"""Which DICOM values may be shown, and keeping identifiers out of everything else.

The rule (docs/dicom.md): attributes that the DICOM PS3.15 Basic Application Level
Confidentiality Profile (Annex E, Table E.1-1) removes or replaces never reach ``meta``, a
description, an exception message or a log line, unless a caller explicitly asks for them with
``include_identifiers=True``.

How, by allow-listing twice:

* **Which attributes**: ``meta`` is built from :data:`_DISPLAY`, so an attribute can only be
  shown if someone names it there.
* **Which values**: a value is shown only if it parses as what the DICOM dictionary declares
  for its tag (read with :func:`trainer.io.dicom_values.checked_or_shared`): the VR read from
  the file is the declared one, the number of values is the declared VM, and every value obeys
  its VR's grammar (PS3.5 6.2: a DS is a decimal number of at most 16 characters, a CS is
  capitals, digits, space and underscore...).
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

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from trainer.io.dicom_values import as_text, checked_or_shared, conforms, elements, is_multi
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


def is_identifying(element: DataElement) -> bool:
    """True for an attribute that the privacy rule keeps out of display and messages."""
    keyword = element.keyword
    if keyword in IDENTIFYING_KEYWORDS:
        return True
    if element.VR in _IDENTIFYING_VRS:
        return True
    return element.VR == "UI" and keyword not in _SAFE_UIDS


# --------------------------------------------------------------------------------------------
# Identifying values, as phrases
# --------------------------------------------------------------------------------------------


def identifying_phrases(ds: Dataset) -> set[tuple[str, ...]]:
    """Every identifying value in ``ds`` (nested sequences and file meta included) as a tuple of
    lower-case words; for person names each name part too, so "Doe^Jane" gives ("doe",
    "jane"), ("doe",) and ("jane",)."""
    phrases: set[tuple[str, ...]] = set()
    for element in elements(ds, nested=True):
        if element.VR == "SQ" or not is_identifying(element) or element.value in (None, ""):
            continue
        items = element.value if is_multi(element.value) else [element.value]
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
    for element in elements(ds, nested=False):
        if element.VR != "SQ" and is_identifying(element) and conforms(element, strict=False):
            found[element.name] = as_text(element.value)
    return found


def _number(value: Any) -> str:
    return f"{float(value):g}"  # only called on values that passed the DS/IS/US grammar


def _plain(keyword: str, unit: str = "") -> Callable[[Dataset], str]:
    def render(ds: Dataset) -> str:
        value = checked_or_shared(ds, keyword)
        if value is None:
            return ""
        if not unit:
            return as_text(value)
        if is_multi(value):
            return ""
        return f"{_number(value)}{unit}" if unit == "°" else f"{_number(value)} {unit}"

    return render


def _size(ds: Dataset) -> str:
    rows, columns = checked_or_shared(ds, "Rows"), checked_or_shared(ds, "Columns")
    return f"{rows}×{columns}" if rows and columns else ""


def _frames(ds: Dataset) -> str:
    frames = checked_or_shared(ds, "NumberOfFrames")
    return str(int(frames)) if frames is not None and int(frames) > 1 else ""


def _spacing(ds: Dataset) -> str:
    spacing = checked_or_shared(ds, "PixelSpacing")
    if spacing is None:
        return ""
    return f"{_number(spacing[0])} × {_number(spacing[1])} mm"


def _bits(ds: Dataset) -> str:
    stored, allocated = checked_or_shared(ds, "BitsStored"), checked_or_shared(ds, "BitsAllocated")
    if not stored:
        return ""
    sign = "signed" if checked_or_shared(ds, "PixelRepresentation") == 1 else "unsigned"
    return f"{stored} of {allocated}, {sign}" if allocated else f"{stored}, {sign}"


def _uid_name(keyword: str) -> Callable[[Dataset], str]:
    """A class UID by its dictionary name; a UID pydicom does not know is shown as digits."""

    def render(ds: Dataset) -> str:
        uid = checked_or_shared(ds, keyword)
        return str(getattr(uid, "name", "") or uid) if uid else ""

    return render


def _window(ds: Dataset) -> str:
    center, width = checked_or_shared(ds, "WindowCenter"), checked_or_shared(ds, "WindowWidth")
    if center is None or width is None:
        return ""
    center = center[0] if is_multi(center) else center
    width = width[0] if is_multi(width) else width
    return f"C {_number(center)} / W {_number(width)}"


def _rescale(ds: Dataset) -> str:
    slope, intercept = (
        checked_or_shared(ds, "RescaleSlope"),
        checked_or_shared(ds, "RescaleIntercept"),
    )
    if slope is None or intercept is None:
        return ""
    kind = checked_or_shared(ds, "RescaleType")
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
