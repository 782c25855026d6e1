"""What a loaded scan is, and how its values become the [0, 1] picture the model and viewer see.

Why the split between ``data`` and ``render()``: ``data`` keeps the source's own units (Hounsfield
units, MR signal, 8-bit grey) so that a viewer can re-window without reading the file again,
while ``render()`` is the single place where those units become display values. The model and
the viewer call the same ``render()``, so they can never disagree about what a scan looks like.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from trainer.errors import UnreadableInputError
from trainer.io.geometry import SliceGeometry

#: Largest image (one frame) we agree to decode, in pixels. A compressed file a few kB long can
#: claim 50000×50000 pixels; decoding it would take 2.5 GB per byte of pixel depth.
MAX_IMAGE_PIXELS: int = 100_000_000

#: Largest file (all frames together) we agree to decode: ``data`` costs 4 bytes per pixel.
MAX_FILE_PIXELS: int = 4 * MAX_IMAGE_PIXELS


#: Default for :func:`max_frames`. An enhanced MR file holds a few hundred frames; a crafted
#: 20 kB file can claim 20,000 one-pixel frames, each costing one model pass.
DEFAULT_MAX_FRAMES: int = 1000
MAX_FRAMES_VARIABLE = "BRAINMRI_MAX_FRAMES"


def max_frames() -> int:
    """Most frames (DICOM) or pages (TIFF) read from one file: ``DEFAULT_MAX_FRAMES``, or the
    positive integer in the environment variable ``BRAINMRI_MAX_FRAMES``."""
    raw = os.environ.get(MAX_FRAMES_VARIABLE, "")
    try:
        value = int(raw)
    except ValueError:
        return DEFAULT_MAX_FRAMES
    return value if value > 0 else DEFAULT_MAX_FRAMES


def check_frame_limit(path: Path, frames: int, what: str = "frames") -> None:
    """Refuse a file with more frames or pages than :func:`max_frames`, from its header."""
    limit = max_frames()
    if frames > limit:
        raise UnreadableInputError(
            path, f"file holds {frames} {what}, over the limit of {limit} {what} per file"
        )


def check_pixel_limit(path: Path, width: int, height: int, frames: int = 1) -> None:
    """Refuse a decompression bomb from its header, before a single pixel is decoded."""
    limit = MAX_IMAGE_PIXELS
    if width * height > limit:
        raise UnreadableInputError(
            path,
            f"image is {width}×{height} pixels, over the {limit / 1e6:g}-megapixel limit",
        )
    if width * height * frames > MAX_FILE_PIXELS:
        raise UnreadableInputError(
            path,
            f"file holds {frames} frames of {width}×{height} pixels, over the "
            f"{MAX_FILE_PIXELS / 1e6:g}-megapixel limit for one file",
        )


@dataclass(frozen=True)
class Window:
    """A DICOM window, in the units of ``ScanSlice.data`` (after the modality LUT)."""

    center: float
    width: float

    def __post_init__(self) -> None:
        # A zero or negative width has no meaning (PS3.3 C.11.2.1.2) and would divide by zero.
        if not self.width > 0:
            raise ValueError(f"window width must be > 0, got {self.width}")


@dataclass(frozen=True, eq=False)
class VoiLut:
    """A VOI LUT Sequence item, reduced to a lookup table already scaled to [0, 1].

    Kept as a table rather than as the pydicom item so that rendering needs no pydicom and no
    dataset, and so that the LUT's nominal bit depth is resolved once, at read time.
    """

    first_mapped: int
    table: np.ndarray  # float32, entry k is the output for input value first_mapped + k

    def apply(self, values: np.ndarray) -> np.ndarray:
        # Inputs below the first entry take the first output, above the last the last output
        # (PS3.3 C.11.2.1.1); NaN (possible in float pixel data) maps to the first entry.
        offset = np.nan_to_num(values - np.float32(self.first_mapped), nan=0.0)
        index = np.rint(np.clip(offset, 0, len(self.table) - 1)).astype(np.intp)
        return self.table[index]


@dataclass
class ScanSlice:
    """One 2-D grey picture: a single image, one frame of a multi-frame file, or one slice of a
    series. See ``docs/dicom.md`` for the order of operations."""

    data: np.ndarray
    source: Path
    index: int | None
    default_window: Window | None = None
    invert: bool = False
    meta: dict[str, str] = field(default_factory=dict)
    voi_lut: VoiLut | None = None
    #: How ``default_window`` is applied: "LINEAR", "LINEAR_EXACT" or "SIGMOID" (VOI LUT Function).
    voi_function: str = "LINEAR"
    #: Fixed input range mapped to [0, 1] when there is no VOI LUT and no window: (0, 255) for
    #: 8-bit images and colour DICOM, so that they look like what a photo viewer shows. None means
    #: min–max of ``data``, right for 16-bit and raw values whose useful range is unknown.
    value_range: tuple[float, float] | None = None
    #: Where the slice lies in the patient (DICOM only): orientation markers, position, ruler.
    geometry: SliceGeometry | None = None

    def render(self, window: Window | None = None) -> np.ndarray:
        """float32 (H, W) in [0, 1]; ``window=None`` uses the source's own default.

        Precedence without a window: VOI LUT Sequence, then the first Window Center/Width, then
        ``value_range``, then min–max (a constant image gives zeros, never NaN). An explicit
        window is always linear (PS3.3 C.11.2.1.2.1). MONOCHROME1 is inverted after all of that.
        """
        return self._render(self.data, window, self._bounds(window))

    def render_u8(self, window: Window | None = None) -> np.ndarray:
        """``quantise(self.render(window))``, value for value, without ever holding the float
        picture: rendered in blocks of rows, and an 8-bit image shown on its own 0–255 range
        is its data already. What the model needs of a 100-megapixel page costs its size in
        bytes, not four times that."""
        if (
            window is None
            and self.data.dtype == np.uint8
            and self.voi_lut is None
            and self.default_window is None
            and self.value_range == (0.0, 255.0)
            and not self.invert
        ):
            return self.data  # rint(v / 255 * 255) == v for every 8-bit v
        bounds = self._bounds(window)
        out = np.empty(self.data.shape[:2], dtype=np.uint8)
        step = max(1, _BLOCK_PIXELS // max(1, self.data.shape[1]))
        for start in range(0, self.data.shape[0], step):
            block = self._render(self.data[start : start + step], window, bounds)
            out[start : start + step] = quantise(block)
        return out

    def _bounds(self, window: Window | None) -> tuple[float, float] | None:
        """The min–max range when rendering falls through to it (whole image, finite values)."""
        falls_through = window is None and self.voi_lut is None and self.default_window is None
        return _finite_bounds(self.data) if falls_through and self.value_range is None else None

    def _render(
        self, data: np.ndarray, window: Window | None, bounds: tuple[float, float] | None
    ) -> np.ndarray:
        if window is not None:
            out = apply_window(data, window)
        elif self.voi_lut is not None:
            out = self.voi_lut.apply(data)
        elif self.default_window is not None:
            out = apply_window(data, self.default_window, self.voi_function)
        elif self.value_range is not None:
            out = _scale(data, *self.value_range)
        else:
            if bounds is None:
                return np.zeros(data.shape, dtype=np.float32)
            out = _scale(data, *bounds)
        out = np.asarray(out, dtype=np.float32)
        if self.invert:
            out = np.subtract(np.float32(1.0), out, out=out)
        # every branch above made a fresh array, so the clean-up may work in place
        return np.nan_to_num(out, copy=False, nan=0.0)


_BLOCK_PIXELS = 1 << 22  # rows rendered at a time by render_u8: about 16 MB of float32


def quantise(grey01: np.ndarray) -> np.ndarray:
    """A [0, 1] picture (or RGB(A) image) as uint8: ``rint(x · 255)``, clipped, NaN as 0.
    The one definition: the model's input (``trainer.preprocess.to_model_square``), the
    overlays, the perceptual hash and the app's pictures all use it, so a picture shown is
    the picture the model saw."""
    finite = np.nan_to_num(grey01, nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.rint(finite * 255.0), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class SeriesInfo:
    """What a DICOM series is, in words a reader may see: never a UID, a name or a date.

    ``study`` is an opaque key that is equal for the series of one study within this process
    (a salted hash of the Study Instance UID, see :mod:`trainer.io.series`), so a browser can
    group series by study without holding the UID. ``notes`` say what was done to the files
    (duplicates left out, a mixed series split into stacks).
    """

    title: str  # "MR series 4 – T1 AX (24 slices)"
    study: str
    number: str = ""
    description: str = ""
    modality: str = ""
    stack: int = 1  # which of ``stacks`` separate stacks of one Series Instance UID this is
    stacks: int = 1
    notes: tuple[str, ...] = ()


@dataclass
class Scan:
    """One item a user loaded: an image, a DICOM file, or a DICOM series (one per series)."""

    source: Path
    kind: str  # "image" | "dicom" | "dicom-series"
    slices: list[ScanSlice]
    description: str
    series: SeriesInfo | None = None  # DICOM only: its series, titled and grouped by study


def apply_window(data: np.ndarray, window: Window, function: str = "LINEAR") -> np.ndarray:
    """DICOM VOI windowing to [0, 1] (PS3.3 C.11.2.1.2), written out rather than taken from
    pydicom because pydicom's output range depends on Bits Stored, which ``data`` no longer has
    after the modality LUT."""
    c, w = float(window.center), float(window.width)
    if function == "SIGMOID":
        # 1 / (1 + exp(-4(x - c)/w)) written with tanh, which cannot overflow.
        return np.float32(0.5) * (1 + np.tanh(np.float32(2.0 / w) * (data - np.float32(c))))
    if function == "LINEAR_EXACT" or w < 1.0:
        # LINEAR needs width >= 1; narrower windows only make sense for float data, where the
        # exact form is the natural reading.
        return np.clip((data - np.float32(c)) / np.float32(w) + np.float32(0.5), 0.0, 1.0)
    if w == 1.0:
        return (data > np.float32(c - 0.5)).astype(np.float32)
    return np.clip((data - np.float32(c - 0.5)) / np.float32(w - 1.0) + np.float32(0.5), 0.0, 1.0)


def _scale(data: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(data.shape, dtype=np.float32)
    out = np.subtract(data, np.float32(low), dtype=np.float32)
    out /= np.float32(high - low)  # for 8-bit images exactly data / 255
    return np.clip(out, 0.0, 1.0, out=out)


def _finite_bounds(data: np.ndarray) -> tuple[float, float] | None:
    """Min and max ignoring NaN/inf (float TIFFs and float DICOM can hold them); None when the
    image is constant or has no finite value, so the caller returns zeros instead of 0/0."""
    if data.size == 0:
        return None
    low, high = float(data.min()), float(data.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        finite = data[np.isfinite(data)]
        if finite.size == 0:
            return None
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        return None
    return low, high
