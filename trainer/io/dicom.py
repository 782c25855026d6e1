"""DICOM files as grey ScanSlices, with pydicom and permissively licensed decoders only.

Order of operations (docs/dicom.md): decode -> colour to luminance, or modality LUT (rescale or
Modality LUT Sequence) -> VOI LUT Sequence or window, kept for ``ScanSlice.render`` so a viewer
can re-window -> MONOCHROME1 inversion -> [0, 1].
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom import Dataset
from pydicom import uid as uids
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder

from trainer.errors import UnreadableInputError
from trainer.io import dicom_values as values
from trainer.io.dicomdir import DicomDirIndex
from trainer.io.geometry import geometry_of
from trainer.io.guard import guarded, release
from trainer.io.privacy import display_metadata, shown_name
from trainer.io.scan import Scan, ScanSlice, VoiLut, Window, check_frame_limit, check_pixel_limit

log = logging.getLogger(__name__)

#: Decoding plugins we allow per compressed transfer syntax, best first. All are permissive:
#: "pillow" (MIT-CMU), "gdcm" (python-gdcm, Apache-2.0 / GDCM BSD-3), "pyjpegls" (MIT, CharLS
#: BSD-3), "pydicom" (its own RLE decoder, MIT). pydicom's "pylibjpeg" plugin is listed only for
#: JPEG 2000 and RLE, where it runs pylibjpeg-openjpeg (MIT) and pylibjpeg-rle (MIT); for JPEG
#: and JPEG-LS it would run pylibjpeg-libjpeg, which is GPL-3.0, so it is never asked for those.
PERMISSIVE_PLUGINS: dict[str, tuple[str, ...]] = {
    uids.JPEGBaseline8Bit: ("pillow",),
    uids.JPEGExtended12Bit: ("pillow",),  # 8-bit data only, see _decode_compressed
    uids.JPEGLossless: ("gdcm",),
    uids.JPEGLosslessSV1: ("gdcm",),
    uids.JPEGLSLossless: ("pyjpegls",),
    uids.JPEGLSNearLossless: ("pyjpegls",),
    uids.JPEG2000Lossless: ("pylibjpeg", "pillow"),
    uids.JPEG2000: ("pylibjpeg", "pillow"),
    uids.HTJ2KLossless: ("pylibjpeg",),
    uids.HTJ2KLosslessRPCL: ("pylibjpeg",),
    uids.HTJ2K: ("pylibjpeg",),
    uids.RLELossless: ("pylibjpeg", "pydicom"),
}
# gdcm only where it is the one permissive decoder (JPEG Lossless): as a fallback it would only
# ever see data a first decoder refused, and on corrupt JPEG data it can abort() the process,
# which no Python code can catch (benchmarks/fuzz_inputs.py found one in 600 mutants).
_PLUGIN_PACKAGES = {
    "pillow": "pillow",
    "gdcm": "python-gdcm",
    "pyjpegls": "pyjpegls",
    "pydicom": "pydicom",
    "pylibjpeg": "pylibjpeg with pylibjpeg-openjpeg or pylibjpeg-rle",
}

_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
_PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
_COLOUR = frozenset({"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "PALETTE COLOR"})
# Attributes that turn stored values into displayed ones; an enhanced multi-frame file may
# override them per frame in its functional groups.
# fmt: off
_TRANSFORM_KEYWORDS = (
    "RescaleSlope", "RescaleIntercept", "RescaleType", "ModalityLUTSequence", "WindowCenter",
    "WindowWidth", "VOILUTFunction", "VOILUTSequence", "PixelRepresentation", "BitsStored",
)
# fmt: on
_FRAME_GROUPS = ("PixelValueTransformationSequence", "FrameVOILUTSequence")


def read_header(path: Path) -> Dataset:
    """Everything before the pixel data, checked to describe an image of a size we accept.

    Why first and separately: a structured report, an RT plan or a file claiming 65535×65535
    pixels is refused here with a reason, without reading or decoding any pixel data.
    """
    with guarded(path, "not a readable DICOM file"):
        return _checked_header(path, _dcmread(path, stop_before_pixels=True))


def _checked_header(path: Path, ds: Dataset) -> Dataset:
    if _sop_class(ds) == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        raise DicomDirIndex(path, ds)
    if "Rows" not in ds or "Columns" not in ds:
        raise UnreadableInputError(path, _no_pixels_reason(ds))
    rows, columns = values.integer(ds, "Rows"), values.integer(ds, "Columns")
    frames = number_of_frames(ds)
    if rows < 1 or columns < 1:
        raise UnreadableInputError(path, f"DICOM image has no size ({rows}×{columns} pixels)")
    check_pixel_limit(path, columns, rows, frames)
    check_frame_limit(path, frames)
    return ds


def read_dicom(path: Path) -> Scan:
    """One DICOM file: kind "dicom", one slice per frame."""
    return file_scan(path, read_header(path))


def file_scan(path: Path, header: Dataset) -> Scan:
    """The Scan of one file whose header was read already (see :func:`read_header`)."""
    slices = read_slices(path)
    return Scan(source=path, kind="dicom", slices=slices, description=describe(path, header))


def describe(path: Path, header: Dataset) -> str:
    """The file name, or "DICOM file" when the name holds an identifier of the file (folders
    and files are often named after the patient); the frame count for a multi-frame file."""
    name = shown_name(path.name, header, "DICOM file")
    frames = number_of_frames(header)
    return name if frames == 1 else f"{name} ({frames} frames)"


def read_slices(path: Path) -> list[ScanSlice]:
    """Decode every frame of one file (whose header :func:`read_header` accepted)."""
    return list(iter_slices(path))


def iter_slices(path: Path) -> Iterator[ScanSlice]:
    """The frames of one file as ScanSlices, decoded one at a time when they are asked for:
    a 400-frame file never holds more than one decoded frame beyond what the caller keeps.

    Every failure is an ``UnreadableInputError`` (see :mod:`trainer.io.guard`); it may come at
    a later frame, after earlier ones were yielded.
    """
    with guarded(path, "not a readable DICOM file"):
        ds = _dcmread(path, stop_before_pixels=False)
        if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
            raise UnreadableInputError(path, _no_pixels_reason(ds))
        frames = _FrameDecoder(path, ds)
        meta = display_metadata(ds)
        # One mapping per file unless an enhanced multi-frame file gives one per frame:
        # building a VOI LUT table for each of 500 identical frames would be wasted work.
        per_frame = bool(values.sequence(ds, "PerFrameFunctionalGroupsSequence"))
        mapping = functools.cache(functools.partial(_grey_mapping, ds))
        geometry = functools.cache(functools.partial(_quiet_geometry, ds))
    many = frames.count > 1
    for i in range(frames.count):
        with guarded(path, "DICOM image could not be read"):
            frame, photometric = frames.decode(i)
            index = i if many else None
            if photometric in _COLOUR or frame.ndim == 3:
                item = ScanSlice(
                    data=_luminance(ds, frame, photometric),
                    source=path,
                    index=index,
                    meta=dict(meta),
                    value_range=(0.0, _colour_top(ds, photometric)),
                )
            else:
                grey = mapping(i if per_frame else 0)
                item = _grey_slice(path, frame, index, photometric, meta, grey)
            item.geometry = geometry(i if per_frame else None)
            del frame
        held = release(item)
        del item
        yield held.pop()


def _quiet_geometry(ds: Dataset, frame: int | None) -> Any:
    """The slice's geometry; a malformed one is no geometry, never a failed read."""
    try:
        return geometry_of(ds, frame)
    except Exception:  # geometry is an aid: the image stays readable without it
        return None


def number_of_frames(ds: Dataset) -> int:
    return max(1, values.integer(ds, "NumberOfFrames", 1))


def _dcmread(path: Path, *, stop_before_pixels: bool) -> Dataset:
    # Untrusted input: any parser failure is a bad file, named by its type only.
    with guarded(path, "not a readable DICOM file"):
        # force: the caller sniffed the content already, and files without the preamble are
        # still DICOM; pydicom only refuses them without force.
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
        _ensure_transfer_syntax(ds)
    return ds


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """A file without file meta has no Transfer Syntax UID; pydicom knows how it read the data
    set, which is all the decoder needs for uncompressed pixels."""
    file_meta = ds.file_meta if getattr(ds, "file_meta", None) is not None else None
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        return
    implicit, little = ds.original_encoding
    if implicit is None:
        return
    syntax = (
        uids.ImplicitVRLittleEndian
        if implicit
        else uids.ExplicitVRLittleEndian
        if little
        else uids.ExplicitVRBigEndian
    )
    if file_meta is None:
        ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax


def _check_length(path: Path, ds: Dataset) -> None:
    """Name a truncated uncompressed file as such (pydicom would say it in a long sentence)."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None or syntax.is_encapsulated or "PixelData" not in ds:
        return
    samples = values.integer(ds, "SamplesPerPixel", 1)
    if values.get(ds, "PhotometricInterpretation") == "YBR_FULL_422":
        samples = 2  # two chroma samples are shared by each pair of pixels
    bits = values.integer(ds, "BitsAllocated", 8)
    rows, columns = values.integer(ds, "Rows"), values.integer(ds, "Columns")
    count = rows * columns * samples * number_of_frames(ds)
    expected = (count * bits + 7) // 8
    actual = len(ds.PixelData)
    if actual < expected:
        raise UnreadableInputError(
            path, f"DICOM pixel data is truncated ({actual} of {expected} bytes)"
        )


class _FrameDecoder:
    """Decodes frame ``i`` of one data set on request, with the permissive plugins only."""

    def __init__(self, path: Path, ds: Dataset) -> None:
        self.path, self.ds = path, ds
        self.count = number_of_frames(ds)
        syntax = ds.file_meta.get("TransferSyntaxUID")
        if syntax is None:
            raise UnreadableInputError(path, "DICOM file does not say how its pixels are encoded")
        try:
            self.decoder = get_decoder(syntax)
        except NotImplementedError as exc:
            raise UnreadableInputError(
                path, f"DICOM transfer syntax {_syntax_name(syntax)} is not supported"
            ) from exc
        if syntax.is_encapsulated:
            self.plugins = _plugins_for(path, ds, self.decoder, syntax)
        else:
            _check_length(path, ds)
            self.plugins = [""]

    def decode(self, index: int) -> tuple[np.ndarray, str]:
        """Frame ``index`` as (rows, columns[, samples]) and the photometric interpretation of
        the decoded values (YBR comes out as RGB). The plugin that worked is tried first for
        the next frame; the first plugin's complaint is the one reported."""
        failures: list[UnreadableInputError] = []
        for plugin in list(self.plugins):
            try:
                array, properties = _as_array(self.path, self.ds, self.decoder, plugin, index)
            except UnreadableInputError as exc:  # the next plugin may cope where this one did not
                failures.append(exc)
                continue
            if plugin != self.plugins[0]:
                self.plugins.remove(plugin)
                self.plugins.insert(0, plugin)
            log.debug("decoded a frame with the %s plugin", plugin or "native")
            photometric = str(properties.get("photometric_interpretation", ""))
            fallback = values.checked_text(self.ds, "PhotometricInterpretation") or "MONOCHROME2"
            return array, photometric or fallback
        raise failures[0]


def _plugins_for(path: Path, ds: Dataset, decoder: Any, syntax: uids.UID) -> list[str]:
    if syntax == uids.JPEGExtended12Bit and values.integer(ds, "BitsStored", 8) > 8:
        raise UnreadableInputError(
            path,
            "12-bit JPEG (JPEG Extended) is not supported by the permissive decoders installed",
        )
    wanted = PERMISSIVE_PLUGINS.get(syntax, ())
    plugins = [name for name in wanted if name in decoder.available_plugins]
    if not plugins:
        reason = f"no permissive decoder installed for {_syntax_name(syntax)}"
        if wanted:
            reason += f" (install {' or '.join(_PLUGIN_PACKAGES[name] for name in wanted)})"
        raise UnreadableInputError(path, reason)
    return plugins


def _as_array(
    path: Path, ds: Dataset, decoder: Any, plugin: str, index: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """One frame. A decoder's failure, a Rust panic included, is named by its type only: its
    message may quote bytes of the file (see :mod:`trainer.io.guard`)."""
    with guarded(path, "DICOM pixel data could not be decoded"):
        return decoder.as_array(ds, index=index, decoding_plugin=plugin)


@dataclass(frozen=True)
class _GreyMapping:
    """How one grey frame's stored values become display values."""

    view: Dataset  # the attributes that apply to the frame, see _frame_view
    window: Window | None
    voi_lut: VoiLut | None
    function: str


def _grey_mapping(ds: Dataset, index: int) -> _GreyMapping:
    view = _frame_view(ds, index)
    function = str(values.get(view, "VOILUTFunction", "LINEAR")).upper()
    return _GreyMapping(view, _first_window(view), _voi_lut(view), function)


def _grey_slice(
    path: Path,
    frame: np.ndarray,
    index: int | None,
    photometric: str,
    meta: dict[str, str],
    grey: _GreyMapping,
) -> ScanSlice:
    try:
        data = np.asarray(apply_modality_lut(frame, grey.view), dtype=np.float32)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
        raise UnreadableInputError(
            path, "DICOM Modality LUT or rescale values are invalid"
        ) from exc
    return ScanSlice(
        data=data,
        source=path,
        index=index,
        default_window=grey.window,
        invert=photometric == "MONOCHROME1",
        meta=dict(meta),
        voi_lut=grey.voi_lut,
        voi_function=grey.function,
    )


def _luminance(ds: Dataset, frame: np.ndarray, photometric: str) -> np.ndarray:
    """Colour -> ITU-R 601 luma, the weights of Pillow's "L"."""
    if photometric == "PALETTE COLOR":
        frame = apply_color_lut(frame, ds)
    if frame.ndim == 2:
        return frame.astype(np.float32)
    rgb = frame.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def _colour_top(ds: Dataset, photometric: str) -> float:
    """The largest value of a colour channel: a colour image is shown on its full range, as a
    photo viewer would, not stretched min–max."""
    if photometric == "PALETTE COLOR":
        descriptor = values.get(ds, "RedPaletteColorLookupTableDescriptor", [0, 0, 16])
        bits = int(descriptor[2]) if len(descriptor) == 3 else 16
        return 255.0 if bits == 8 else 65535.0
    return float(2 ** values.integer(ds, "BitsStored", 8) - 1)


def _frame_view(ds: Dataset, index: int) -> Dataset:
    """The attributes that map frame ``index`` to display values: top level, overridden by the
    shared and then the per-frame functional groups of an enhanced multi-frame file."""
    view = Dataset()
    if getattr(ds, "file_meta", None) is not None:
        view.file_meta = ds.file_meta  # the VOI/Modality LUT data's byte order lives there
    for keyword in _TRANSFORM_KEYWORDS:
        if keyword in ds:
            view.add(ds[keyword])
    for group in values.frame_groups(ds, index):
        for sequence_keyword in _FRAME_GROUPS:
            item = values.first_item(group, sequence_keyword)
            if item is not None:
                for element in item:
                    view.add(element)
    return view


def _first_window(view: Dataset) -> Window | None:
    center = values.first_number(view, "WindowCenter")
    width = values.first_number(view, "WindowWidth")
    if center is None or width is None:
        return None
    try:
        return Window(center, width)
    except ValueError:
        return None  # a zero-width window is as good as none


def _voi_lut(view: Dataset) -> VoiLut | None:
    """The first VOI LUT Sequence item as a [0, 1] table; pydicom parses the LUT data (US or
    OW, either byte order) by looking up a ramp of every input value."""
    item = values.first_item(view, "VOILUTSequence")
    if item is None or "LUTDescriptor" not in item or "LUTData" not in item:
        return None
    try:
        entries, first, bits = (int(v) for v in values.get(item, "LUTDescriptor"))
        entries = entries or 2**16
        ramp = np.arange(entries, dtype=np.int64) + first
        table = np.asarray(apply_voi(ramp, view, index=0), dtype=np.float32)
    except (TypeError, ValueError, NotImplementedError, AttributeError) as exc:
        log.debug("ignoring an unusable VOI LUT (%s)", type(exc).__name__)
        return None
    if values.integer(view, "PixelRepresentation", 0) == 1 and first >= 2**15:
        first -= 2**16  # a signed first input written as US
    # Descriptors sometimes understate the depth of the data (16 declared, 12 used is fine;
    # 12 declared, 16 used is not): divide by whichever is larger.
    top = max(float(2**bits - 1), float(table.max(initial=0)))
    return VoiLut(first_mapped=first, table=table / np.float32(top))


def _no_pixels_reason(ds: Dataset) -> str:
    """Says what the object is from checked values only: a malformed Modality may hold the
    bytes of the elements it swallowed."""
    modality = values.checked_text(ds, "Modality")
    sop_class = _sop_class(ds)
    kind = f"Modality {modality}" if modality else _uid_name(sop_class) or "unknown kind"
    reason = f"DICOM has no pixel data ({kind})"
    if "Rows" in ds or "Image Storage" in _uid_name(sop_class):
        reason += "; the file may be truncated"
    return reason


def _sop_class(ds: Dataset) -> str:
    value = values.checked_value(ds, "SOPClassUID")
    value = value or values.checked_value(ds, "MediaStorageSOPClassUID")
    return str(value or "")


def _uid_name(value: str) -> str:
    """The dictionary name of a UID pydicom knows; "" for any other (never the value)."""
    if not value:
        return ""
    name = uids.UID(value).name
    return "" if name == value else name


def _syntax_name(syntax: uids.UID) -> str:
    return syntax.name if syntax.is_valid else "(invalid UID)"
