"""DICOM files as grey ScanSlices, with pydicom and permissively licensed decoders only.

Order of operations (docs/dicom.md): decode -> colour to luminance, or modality LUT (rescale or
Modality LUT Sequence) -> VOI LUT Sequence or window, kept for ``ScanSlice.render`` so a viewer
can re-window -> MONOCHROME1 inversion -> [0, 1].
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pydicom.config
from pydicom import Dataset
from pydicom import uid as uids
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder

from trainer.errors import UnreadableInputError
from trainer.io.privacy import display_metadata, scrub
from trainer.io.scan import Scan, ScanSlice, VoiLut, Window, check_pixel_limit

log = logging.getLogger(__name__)

# pydicom checks every value as it converts it and reports a bad one in a warning AND a log line
# that quote the value: a malformed birth date or patient name would be written to the log.
# This app only reads DICOM, so value validation buys nothing here; switch it off.
pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

#: Decoding plugins we allow per compressed transfer syntax, best first. All are permissive:
#: "pillow" (MIT-CMU), "gdcm" (python-gdcm, Apache-2.0 / GDCM BSD-3), "pyjpegls" (MIT, CharLS
#: BSD-3), "pydicom" (its own RLE decoder, MIT). pydicom's "pylibjpeg" plugin is listed only for
#: JPEG 2000 and RLE, where it runs pylibjpeg-openjpeg (MIT) and pylibjpeg-rle (MIT); for JPEG
#: and JPEG-LS it would run pylibjpeg-libjpeg, which is GPL-3.0, so it is never asked for those.
PERMISSIVE_PLUGINS: dict[str, tuple[str, ...]] = {
    uids.JPEGBaseline8Bit: ("pillow", "gdcm"),
    uids.JPEGExtended12Bit: ("pillow", "gdcm"),  # 8-bit data only, see _decode_compressed
    uids.JPEGLossless: ("gdcm",),
    uids.JPEGLosslessSV1: ("gdcm",),
    uids.JPEGLSLossless: ("pyjpegls", "gdcm"),
    uids.JPEGLSNearLossless: ("pyjpegls", "gdcm"),
    uids.JPEG2000Lossless: ("pylibjpeg", "pillow", "gdcm"),
    uids.JPEG2000: ("pylibjpeg", "pillow", "gdcm"),
    uids.HTJ2KLossless: ("pylibjpeg",),
    uids.HTJ2KLosslessRPCL: ("pylibjpeg",),
    uids.HTJ2K: ("pylibjpeg",),
    uids.RLELossless: ("pylibjpeg", "pydicom", "gdcm"),
}
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


def looks_like_dicom(head: bytes) -> bool:
    """DICOM by content: "DICM" after the 128-byte preamble, or, for files written without the
    preamble and file meta, a first element of group 0x0002 or 0x0008 (little or big endian)."""
    if head[128:132] == b"DICM":
        return True
    if len(head) < 8:
        return False
    group_le = int.from_bytes(head[0:2], "little")
    group_be = int.from_bytes(head[0:2], "big")
    if group_le not in (0x0002, 0x0008) and group_be != 0x0008:
        return False
    if head[4:6].isalpha() and head[4:6].isupper():  # explicit VR: two capital letters
        return True
    length = int.from_bytes(head[4:8], "little")  # implicit VR little endian: a sane length
    return group_le == 0x0008 and length < 1024


def read_header(path: Path) -> Dataset:
    """Everything before the pixel data, checked to describe an image of a size we accept.

    Why first and separately: a structured report, an RT plan or a file claiming 65535×65535
    pixels is refused here with a reason, without reading or decoding any pixel data.
    """
    ds = _dcmread(path, stop_before_pixels=True)
    if _sop_class(ds) == _DICOMDIR_SOP_CLASS or "DirectoryRecordSequence" in ds:
        raise UnreadableInputError(path, "a DICOMDIR index of other files, not an image")
    if "Rows" not in ds or "Columns" not in ds:
        raise UnreadableInputError(path, _no_pixels_reason(ds))
    rows, columns, frames = _int(ds, "Rows"), _int(ds, "Columns"), number_of_frames(ds)
    if rows < 1 or columns < 1:
        raise UnreadableInputError(path, f"DICOM image has no size ({rows}×{columns} pixels)")
    check_pixel_limit(path, columns, rows, frames)
    return ds


def read_dicom(path: Path) -> Scan:
    """One DICOM file: kind "dicom", one slice per frame."""
    return file_scan(path, read_header(path))


def file_scan(path: Path, header: Dataset) -> Scan:
    """The Scan of one file whose header was read already (see :func:`read_header`)."""
    slices = read_slices(path)
    name = scrub(path.name, header)  # a file name may carry the patient's name
    description = name if len(slices) == 1 else f"{name} ({len(slices)} frames)"
    return Scan(source=path, kind="dicom", slices=slices, description=description)


def read_slices(path: Path) -> list[ScanSlice]:
    """Decode every frame of one file (whose header :func:`read_header` accepted)."""
    ds = _dcmread(path, stop_before_pixels=False)
    if not any(keyword in ds for keyword in _PIXEL_KEYWORDS):
        raise UnreadableInputError(path, _no_pixels_reason(ds))
    try:
        _check_length(path, ds)
        frames, photometric = _decode(path, ds)
        return _slices(path, ds, frames, photometric)
    except UnreadableInputError:
        raise
    except Exception as exc:  # malformed attributes can fail anywhere in pydicom's processing
        # Only the type: the message of a failed conversion may quote a value.
        raise UnreadableInputError(
            path, f"DICOM image could not be read ({type(exc).__name__})"
        ) from exc


def number_of_frames(ds: Dataset) -> int:
    return max(1, _int(ds, "NumberOfFrames", 1))


def attribute(ds: Dataset, keyword: str, default: Any = None) -> Any:
    """``ds.get(keyword)``, but a value pydicom cannot convert (an IS of "1A") is the default:
    one malformed attribute must not stop the file from loading."""
    try:
        value = ds.get(keyword, default)
    except Exception:  # conversion errors range from ValueError to KeyError
        return default
    return default if value in (None, "") else value


def _dcmread(path: Path, *, stop_before_pixels: bool) -> Dataset:
    try:
        # force: the caller sniffed the content already, and files without the preamble are
        # still DICOM; pydicom only refuses them without force.
        ds = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=True)
    except Exception as exc:  # untrusted input: any parser failure is a bad file
        # The message of a parse error may quote a value, so only its type is kept.
        raise UnreadableInputError(
            path, f"not a readable DICOM file ({type(exc).__name__})"
        ) from exc
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
    samples = _int(ds, "SamplesPerPixel", 1)
    if ds.get("PhotometricInterpretation") == "YBR_FULL_422":
        samples = 2  # two chroma samples are shared by each pair of pixels
    bits = _int(ds, "BitsAllocated", 8)
    values = _int(ds, "Rows") * _int(ds, "Columns") * samples * number_of_frames(ds)
    expected = (values * bits + 7) // 8
    actual = len(ds.PixelData)
    if actual < expected:
        raise UnreadableInputError(
            path, f"DICOM pixel data is truncated ({actual} of {expected} bytes)"
        )


def _decode(path: Path, ds: Dataset) -> tuple[np.ndarray, str]:
    """All frames as (frames, rows, columns[, samples]) and the photometric interpretation of
    the decoded values (YBR comes out as RGB)."""
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax is None:
        raise UnreadableInputError(path, "DICOM file does not say how its pixels are encoded")
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise UnreadableInputError(
            path, f"DICOM transfer syntax {_syntax_name(syntax)} is not supported"
        ) from exc
    if not syntax.is_encapsulated:
        array, properties = _as_array(path, ds, decoder, "")
    else:
        array, properties = _decode_compressed(path, ds, decoder, syntax)
    if number_of_frames(ds) == 1:
        array = array[np.newaxis]
    photometric = str(properties.get("photometric_interpretation", ""))
    return array, photometric or str(ds.get("PhotometricInterpretation", "MONOCHROME2"))


def _decode_compressed(
    path: Path, ds: Dataset, decoder: Any, syntax: uids.UID
) -> tuple[np.ndarray, dict[str, Any]]:
    if syntax == uids.JPEGExtended12Bit and _int(ds, "BitsStored", 8) > 8:
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
    failures: list[UnreadableInputError] = []
    for plugin in plugins:
        try:
            array, properties = _as_array(path, ds, decoder, plugin)
            log.debug("decoded %s with the %s plugin", syntax.name, plugin)
            return array, properties
        except UnreadableInputError as exc:  # the next plugin may cope where this one did not
            failures.append(exc)
    raise failures[0]  # the preferred decoder's complaint is the most telling one


def _as_array(
    path: Path, ds: Dataset, decoder: Any, plugin: str
) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        return decoder.as_array(ds, decoding_plugin=plugin)
    except Exception as exc:  # decoders raise anything from RuntimeError to struct.error
        detail = str(exc).splitlines()[-1].strip() if str(exc) else ""
        detail = scrub(re.sub(r"<[^<>]* at 0x[0-9a-fA-F]+>", "the data", detail), ds)
        reason = f"DICOM pixel data could not be decoded ({type(exc).__name__}: {detail[:200]})"
        raise UnreadableInputError(path, reason) from exc


@dataclass(frozen=True)
class _GreyMapping:
    """How one grey frame's stored values become display values."""

    view: Dataset  # the attributes that apply to the frame, see _frame_view
    window: Window | None
    voi_lut: VoiLut | None
    function: str


def _grey_mapping(ds: Dataset, index: int) -> _GreyMapping:
    view = _frame_view(ds, index)
    function = str(attribute(view, "VOILUTFunction", "LINEAR")).upper()
    return _GreyMapping(view, _first_window(view), _voi_lut(view), function)


def _slices(path: Path, ds: Dataset, frames: np.ndarray, photometric: str) -> list[ScanSlice]:
    meta = display_metadata(ds)
    many = len(frames) > 1
    if photometric in _COLOUR or frames.ndim == 4:
        top = _colour_top(ds, photometric)
        return [
            ScanSlice(
                data=_luminance(ds, frame, photometric),
                source=path,
                index=i if many else None,
                meta=dict(meta),
                value_range=(0.0, top),
            )
            for i, frame in enumerate(frames)
        ]
    # One mapping per file unless an enhanced multi-frame file gives one per frame: building a
    # VOI LUT table for each of 500 identical frames would be wasted work.
    per_frame = bool(attribute(ds, "PerFrameFunctionalGroupsSequence"))
    mapping = functools.cache(functools.partial(_grey_mapping, ds))
    return [
        _grey_slice(
            path, frame, i if many else None, photometric, meta, mapping(i if per_frame else 0)
        )
        for i, frame in enumerate(frames)
    ]


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
        descriptor = attribute(ds, "RedPaletteColorLookupTableDescriptor", [0, 0, 16])
        bits = int(descriptor[2]) if len(descriptor) == 3 else 16
        return 255.0 if bits == 8 else 65535.0
    return float(2 ** _int(ds, "BitsStored", 8) - 1)


def _frame_view(ds: Dataset, index: int) -> Dataset:
    """The attributes that map frame ``index`` to display values: top level, overridden by the
    shared and then the per-frame functional groups of an enhanced multi-frame file."""
    view = Dataset()
    if getattr(ds, "file_meta", None) is not None:
        view.file_meta = ds.file_meta  # the VOI/Modality LUT data's byte order lives there
    for keyword in _TRANSFORM_KEYWORDS:
        if keyword in ds:
            view.add(ds[keyword])
    for groups_keyword, position in (
        ("SharedFunctionalGroupsSequence", 0),
        ("PerFrameFunctionalGroupsSequence", index),
    ):
        groups = ds.get(groups_keyword)
        if not groups or position >= len(groups):
            continue
        for sequence_keyword in _FRAME_GROUPS:
            items = groups[position].get(sequence_keyword)
            if items:
                for element in items[0]:
                    view.add(element)
    return view


def _first_window(view: Dataset) -> Window | None:
    try:
        center, width = view.get("WindowCenter"), view.get("WindowWidth")
        if center in (None, "") or width in (None, ""):
            return None
        center = center[0] if _is_multi(center) else center
        width = width[0] if _is_multi(width) else width
        return Window(float(center), float(width))
    except (TypeError, ValueError, IndexError):
        return None  # a malformed or zero-width window is as good as none


def _voi_lut(view: Dataset) -> VoiLut | None:
    """The first VOI LUT Sequence item as a [0, 1] table; pydicom parses the LUT data (US or
    OW, either byte order) by looking up a ramp of every input value."""
    items = view.get("VOILUTSequence")
    if not items or "LUTDescriptor" not in items[0] or "LUTData" not in items[0]:
        return None
    try:
        entries, first, bits = (int(v) for v in items[0].LUTDescriptor)
        entries = entries or 2**16
        ramp = np.arange(entries, dtype=np.int64) + first
        table = np.asarray(apply_voi(ramp, view, index=0), dtype=np.float32)
    except (TypeError, ValueError, NotImplementedError, AttributeError) as exc:
        log.debug("ignoring an unusable VOI LUT (%s)", type(exc).__name__)
        return None
    if _int(view, "PixelRepresentation", 0) == 1 and first >= 2**15:
        first -= 2**16  # a signed first input written as US
    # Descriptors sometimes understate the depth of the data (16 declared, 12 used is fine;
    # 12 declared, 16 used is not): divide by whichever is larger.
    top = max(float(2**bits - 1), float(table.max(initial=0)))
    return VoiLut(first_mapped=first, table=table / np.float32(top))


def _no_pixels_reason(ds: Dataset) -> str:
    modality = str(ds.get("Modality", "") or "").strip()
    sop_class = _sop_class(ds)
    kind = f"Modality {modality}" if modality else _uid_name(sop_class) or "unknown kind"
    reason = f"DICOM has no pixel data ({kind})"
    if "Rows" in ds or "Image Storage" in _uid_name(sop_class):
        reason += "; the file may be truncated"
    return reason


def _sop_class(ds: Dataset) -> str:
    file_meta = getattr(ds, "file_meta", None)
    value = ds.get("SOPClassUID") or (
        file_meta.get("MediaStorageSOPClassUID") if file_meta is not None else None
    )
    return str(value or "")


def _uid_name(value: str) -> str:
    return uids.UID(value).name if value else ""


def _syntax_name(syntax: uids.UID) -> str:
    return syntax.name if syntax.is_valid else "(invalid UID)"


def _int(ds: Dataset, keyword: str, default: int = 0) -> int:
    try:
        return int(attribute(ds, keyword, default))
    except (TypeError, ValueError):
        return default


def _is_multi(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue"
