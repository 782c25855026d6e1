"""Reading values out of a pydicom Dataset: the one place that does it, for all of trainer.io.

Why one place: a file from a scanner, a PACS export or a fuzzer may hold anything, and every
reader of a value needs the same answers to the same questions. A value pydicom cannot convert
(an IS of "1A", an element whose length is corrupt) raises anything from ValueError to
KeyError, and pydicom warns, quoting the value, which may be a patient's name or birth date.
Every accessor here therefore reads inside :func:`trainer.io.quiet.quiet` and, but for an
infinite integer (:func:`integer`), never raises for anything in the file: a value it cannot
give is absent (None, or the caller's default), and one malformed attribute never stops an
image from loading.

Two kinds of reading, for two purposes:

* **As pydicom converts it** (:func:`get`, :func:`integer`, :func:`number`,
  :func:`first_number`, :func:`floats`): what structures the input (size, frame count, UIDs
  that group files, the order of slices, the rescale and window of a frame). A value declared
  with an unusual VR still counts if it converts; non-finite numbers are passed on as they are.
* **Checked** (:func:`checked_value`, :func:`checked_text`, :func:`checked_numbers`,
  :func:`checked_or_shared`): only a value that parses as its dictionary VR and VM, every item
  obeying its VR's grammar (PS3.5 6.2). This is what may be shown (:mod:`trainer.io.privacy`)
  and what geometry is built from (:mod:`trainer.io.geometry`): a corrupt length makes an
  element swallow the ones after it, patient name included, and such "binary soup", or a DS
  holding "DOE^JANE", is not a value at all.

Sequences (:func:`sequence`, :func:`first_item`, :func:`frame_groups`) give data sets only:
a sequence attribute that is missing, malformed or declared with another VR has no items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from collections.abc import Sequence as SequenceOf
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.sequence import Sequence

from trainer.io.quiet import quiet, quietly

if TYPE_CHECKING:  # only duck-typed attribute access is needed at run time
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

__all__ = [
    "as_text",
    "checked_numbers",
    "checked_or_shared",
    "checked_text",
    "checked_value",
    "conforms",
    "elements",
    "first_item",
    "first_number",
    "floats",
    "frame_groups",
    "get",
    "integer",
    "is_multi",
    "number",
    "sequence",
]

_SHARED_GROUPS = "SharedFunctionalGroupsSequence"
_PER_FRAME_GROUPS = "PerFrameFunctionalGroupsSequence"

# PS3.5 Table 6.2-1: longest value per VR, and the grammar of the VRs whose values are checked.
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


# --------------------------------------------------------------------------------------------
# As pydicom converts them
# --------------------------------------------------------------------------------------------


@quietly
def get(ds: Any, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword)``, but absent, empty ("") or unconvertible (an IS of "1A" in strict
    mode, an IS of "inf", an odd-length US) is ``default``. In pydicom's default (warning)
    mode a malformed IS or DS comes back as the text it holds, "1A", and is passed on as such:
    the typed accessors below turn it into their default."""
    try:
        value = ds.get(keyword, default)
    except Exception:  # conversion errors range from ValueError to KeyError
        return default
    return default if value in (None, "") else value


def integer(ds: Any, keyword: str, default: int = 0) -> int:
    """:func:`get` as an int (a DS of "2.0" is 2); ``default`` when absent or not one number
    (several values, "1A", NaN).

    The one exception this module lets through: an infinite value (a float VR holding "inf"
    where a size or count belongs) raises OverflowError, as ``int`` does, so that a header
    claiming infinitely many frames or rows is refused as unreadable (:mod:`trainer.io.guard`)
    instead of being read as one frame or as no rows."""
    try:
        return int(get(ds, keyword, default))
    except (TypeError, ValueError):
        return default


def number(ds: Any, keyword: str) -> float | None:
    """:func:`get` as a float; None when absent or not one number (several values, "1A")."""
    value = get(ds, keyword)
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def first_number(ds: Any, keyword: str) -> float | None:
    """The first of several values (or the only one) as a float, as for Window Center, whose
    later values are alternatives; None when absent or not a number."""
    value = get(ds, keyword)
    if value is None:
        return None
    try:
        return float(value[0] if is_multi(value) else value)
    except (TypeError, ValueError, IndexError):
        return None


def floats(ds: Any, keyword: str) -> list[float] | None:
    """Every value as a float (one value gives a list of one); None when absent or when any
    value is not a number. The count is the caller's to check."""
    value = get(ds, keyword)
    if value is None:
        return None
    try:
        return [float(v) for v in (value if is_multi(value) else [value])]
    except (TypeError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# Sequences and functional groups
# --------------------------------------------------------------------------------------------


def sequence(ds: Any, keyword: str) -> SequenceOf[Dataset]:
    """The items of a sequence attribute; none when it is absent, malformed, or not a
    sequence at all (a file that declares the tag with another VR)."""
    value = get(ds, keyword)
    return value if isinstance(value, Sequence) else ()


def first_item(ds: Any, keyword: str) -> Dataset | None:
    """The first item of a sequence attribute (the one that applies where a sequence holds
    one item, as a functional group's macros do); None when it has none."""
    items = sequence(ds, keyword)
    return items[0] if items else None


def frame_groups(ds: Any, frame: int) -> list[Dataset]:
    """The functional groups of frame ``frame`` of an enhanced multi-frame file, least
    specific first: the shared group, then the frame's own per-frame group (a value in a later
    one overrides the same value in an earlier one, and both override the top level). Empty
    for a file without functional groups."""
    groups = []
    for keyword, position in ((_SHARED_GROUPS, 0), (_PER_FRAME_GROUPS, frame)):
        items = sequence(ds, keyword)
        if 0 <= position < len(items):
            groups.append(items[position])
    return groups


# --------------------------------------------------------------------------------------------
# Checked against the dictionary
# --------------------------------------------------------------------------------------------


@quietly
def checked_value(ds: Any, keyword: str) -> Any:
    """The value of ``keyword`` in ``ds`` (or its file meta, for group 0002) if it parses as
    its dictionary VR and VM (:func:`conforms`), else None."""
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
    return element.value if conforms(element, strict=True) else None


def checked_text(ds: Any, keyword: str) -> str:
    """:func:`checked_value` as text (:func:`as_text`); "" when absent or malformed."""
    value = checked_value(ds, keyword)
    if value is None:
        return ""
    return as_text(value)


def checked_numbers(ds: Any, keyword: str, count: int) -> list[float] | None:
    """:func:`checked_value` as exactly ``count`` finite floats (Pixel Spacing: 2, Image
    Position: 3); None when absent, malformed, of another count, or not finite."""
    value = checked_value(ds, keyword)
    if value is None:
        return None
    values = [value] if isinstance(value, (str, int, float)) else list(value)
    try:
        numbers = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if len(numbers) != count or not all(math.isfinite(v) for v in numbers):
        return None
    return numbers


@quietly
def checked_or_shared(ds: Any, keyword: str) -> Any:
    """A checked top-level value, or else the first checked one found in the first item of
    any sequence in the shared functional groups of an enhanced multi-frame file (where
    scanners put spacing, thickness, rescale and window); None when absent or malformed."""
    value = checked_value(ds, keyword)
    if value is not None:
        return value
    try:
        groups = ds.get(_SHARED_GROUPS) if _SHARED_GROUPS in ds else None
        for group in groups or []:
            for element in group:
                if element.VR == "SQ" and element.value:
                    nested = checked_value(element.value[0], keyword)
                    if nested is not None:
                        return nested
    except Exception:
        return None  # a malformed sequence is as good as none
    return None


def conforms(element: DataElement, *, strict: bool = True) -> bool:
    """Does ``element`` hold what its tag declares? Its VR must be the dictionary's, its value
    not empty and not a sequence, every item a finite number (numeric VRs) or printable text of
    at most the VR's length without a backslash (text VRs); binary VRs never conform.
    ``strict`` also requires the dictionary VM and the VR's grammar; without it (identifiers
    shown on request) an oddly written ID still conforms."""
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
    values = list(value) if is_multi(value) else [value]
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
# Elements and values
# --------------------------------------------------------------------------------------------


def elements(ds: Dataset, *, nested: bool) -> Iterator[DataElement]:
    """The elements of the file meta and then of the data set, and with ``nested`` those of
    every sequence item after their sequence; one whose value pydicom cannot convert is
    skipped: it cannot be read, and failing here would lose a readable image."""
    file_meta = getattr(ds, "file_meta", None)
    for dataset in (file_meta, ds) if file_meta is not None else (ds,):
        for tag in list(dataset.keys()):
            try:
                with quiet():  # only around the conversion: never held across a yield
                    element = dataset[tag]
            except Exception:  # malformed values raise anything from ValueError to KeyError
                continue
            yield element
            if nested and element.VR == "SQ" and element.value:
                for item in element.value:
                    yield from elements(item, nested=True)


def is_multi(value: Any) -> bool:
    """Several values (a pydicom MultiValue, a list or a tuple), not one."""
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"


def as_text(value: Any) -> str:
    """A value as text, stripped; several values joined with a backslash, as DICOM writes
    them."""
    if is_multi(value):
        return "\\".join(str(v).strip() for v in value)
    return str(value).strip()
