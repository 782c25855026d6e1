"""Where a DICOM slice lies in the patient: what orientation markers and a ruler need.

DICOM gives each image its place in the patient's coordinate system (LPS: +x towards the
patient's left, +y posterior, +z towards the head): Image Orientation (Patient) holds the unit
vectors along a row and down a column, Image Position (Patient) the centre of the first pixel,
Pixel Spacing the distance between pixel centres (row spacing first), Slice Thickness the
slab each image covers. A reader expects the edges of the image labelled with the patient
direction they face (Weasis, OHIF, RadiAnt all do it); a file that does not say is not
labelled at all rather than labelled with a guess.

Only values that parse as their dictionary VR and VM are used
(:func:`trainer.io.dicom_values.checked_numbers`), so a corrupt file gives no geometry instead
of a wrong one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom import Dataset

__all__ = ["SliceGeometry", "direction_letters", "geometry_of"]

Vector = tuple[float, float, float]

#: Letters for the +x, +y, +z directions of the patient coordinate system and their opposites.
_POSITIVE = ("L", "P", "S")
_NEGATIVE = ("R", "A", "I")
#: A component counts towards an oblique label when it is at least this share of the vector:
#: a plane tilted by 15° stays "L", one tilted by 30° or more becomes "LA" (sin 15° ≈ 0.26).
_OBLIQUE_SHARE = 0.3


def direction_letters(vector: Vector) -> str:
    """ "L", "RA", "SPL"...: the patient directions a unit vector points to, largest first."""
    parts = sorted(((abs(v), axis, v) for axis, v in enumerate(vector)), key=lambda item: -item[0])
    letters = [
        (_POSITIVE if v > 0 else _NEGATIVE)[axis]
        for size, axis, v in parts
        if size >= _OBLIQUE_SHARE
    ]
    return "".join(letters)


@dataclass(frozen=True)
class SliceGeometry:
    """A slice's place and scale; every part is None when the file does not give it."""

    row: Vector | None = None  # unit vector along a row (towards higher column numbers)
    column: Vector | None = None  # unit vector down a column (towards higher row numbers)
    position: Vector | None = None  # centre of the first pixel, in mm
    spacing: tuple[float, float] | None = None  # mm between rows, mm between columns
    thickness: float | None = None  # mm

    def markers(self) -> dict[str, str]:
        """The patient direction each image edge faces: keys "left", "right", "top",
        "bottom"; empty when the orientation is unknown."""
        if self.row is None or self.column is None:
            return {}
        negated = (_negate(self.row), _negate(self.column))
        return {
            "right": direction_letters(self.row),
            "left": direction_letters(negated[0]),
            "bottom": direction_letters(self.column),
            "top": direction_letters(negated[1]),
        }

    def plane(self) -> str | None:
        """ "axial", "coronal", "sagittal" or "oblique" from the slice normal; None unknown."""
        if self.row is None or self.column is None:
            return None
        normal = _cross(self.row, self.column)
        axis = max(range(3), key=lambda k: abs(normal[k]))
        if abs(normal[axis]) < math.cos(math.radians(20)):
            return "oblique"
        return ("sagittal", "coronal", "axial")[axis]

    def location(self) -> float | None:
        """Image Position projected on the slice normal (mm): the "slice location" a reader
        compares between slices; None without position and orientation."""
        if self.row is None or self.column is None or self.position is None:
            return None
        normal = _cross(self.row, self.column)
        return sum(n * p for n, p in zip(normal, self.position, strict=True))

    def describe(self) -> str:
        """ "Pos 12.5 mm · Thk 5 mm": what the corner of the image shows; "" when unknown."""
        parts = []
        if (where := self.location()) is not None:
            parts.append(f"Pos {where:.1f} mm")
        if self.thickness is not None:
            parts.append(f"Thk {self.thickness:g} mm")
        return "  ·  ".join(parts)


def geometry_of(ds: Dataset, frame: int | None = None) -> SliceGeometry | None:
    """The geometry of a file, or of frame ``frame`` of an enhanced multi-frame file (whose
    functional groups override the top level); None when the file says nothing."""
    from trainer.io.dicom_values import frame_groups  # pydicom: a DICOM file was read

    groups = frame_groups(ds, frame) if frame is not None else []
    orientation = _last(ds, groups, "PlaneOrientationSequence", "ImageOrientationPatient", 6)
    position = _last(ds, groups, "PlanePositionSequence", "ImagePositionPatient", 3)
    spacing = _last(ds, groups, "PixelMeasuresSequence", "PixelSpacing", 2)
    thickness = _last(ds, groups, "PixelMeasuresSequence", "SliceThickness", 1)
    row = column = None
    if orientation is not None:
        row, column = _unit(orientation[:3]), _unit(orientation[3:])
        if row is None or column is None:
            row = column = None
    geometry = SliceGeometry(
        row=row,
        column=column,
        position=tuple(position) if position is not None else None,  # type: ignore[arg-type]
        spacing=(spacing[0], spacing[1])
        if spacing is not None and spacing[0] > 0 and spacing[1] > 0
        else None,
        thickness=thickness[0] if thickness is not None and thickness[0] > 0 else None,
    )
    return None if geometry == SliceGeometry() else geometry


def _last(
    ds: Dataset, groups: list[Dataset], sequence: str, keyword: str, count: int
) -> list[float] | None:
    """The most specific value: a per-frame group beats the shared group beats the top level
    (in a group, the value sits in the first item of its functional group macro, ``sequence``)."""
    from trainer.io.dicom_values import checked_numbers, first_item

    found = checked_numbers(ds, keyword, count)
    for group in groups:
        value = checked_numbers(first_item(group, sequence), keyword, count)
        if value is not None:
            found = value
    return found


def _unit(values: list[float]) -> Vector | None:
    norm = math.sqrt(sum(v * v for v in values))
    if not 0.5 < norm < 1.5:  # not a direction cosine vector at all
        return None
    return (values[0] / norm, values[1] / norm, values[2] / norm)


def _negate(vector: Vector) -> Vector:
    return (-vector[0], -vector[1], -vector[2])


def _cross(a: Vector, b: Vector) -> Vector:
    return (
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    )
