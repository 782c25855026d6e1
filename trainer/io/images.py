"""Ordinary image files (JPEG, PNG, BMP, TIFF, ... anything Pillow opens) as grey ScanSlices.

Every training image passes through here, so the common case (an 8-bit JPEG or PNG) is one
lazy open, one size check, EXIF orientation, one conversion to L: nothing else.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from trainer.errors import UnreadableInputError
from trainer.io.guard import guarded
from trainer.io.scan import Scan, ScanSlice, check_frame_limit, check_pixel_limit

NOT_A_SCAN = "not an image or DICOM file"

# 8-bit modes, all shown as data/255 like any photo viewer. Modes with alpha are composited onto
# black (the MRI background), so a transparent margin does not turn into a grey frame.
_OPAQUE_8BIT = frozenset({"1", "L", "P", "RGB", "RGBX", "CMYK", "YCbCr", "HSV", "LAB"})
_WITH_ALPHA = frozenset({"LA", "PA", "RGBA", "P"})  # P only when it has a transparency entry
_PREMULTIPLIED = frozenset({"La", "RGBa"})  # colour already multiplied by alpha = on black
# Deep modes keep their values (0..65535, int32, float); their useful range is unknown, so they
# render min–max.
_DEEP = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})
SUPPORTED_MODES = _OPAQUE_8BIT | _WITH_ALPHA | _PREMULTIPLIED | _DEEP

_PILLOW_LIMIT_LOCK = threading.Lock()
_ORIENTATION = 0x0112  # EXIF Orientation
_BLOCK_PIXELS = 1 << 22


def read_image(path: Path) -> Scan:
    """All frames of an image file; a multi-page TIFF gives one slice per page."""
    pages = PageCount()
    slices = list(iter_pages(path, pages))
    description = path.name if pages.count == 1 else f"{path.name} ({pages.count} pages)"
    return Scan(source=path, kind="image", slices=slices, description=description)


class PageCount:
    """Filled in by :func:`iter_pages` once the file's header is read."""

    count = 1


def iter_pages(path: Path, pages: PageCount | None = None) -> Iterator[ScanSlice]:
    """The pages of an image file as ScanSlices, decoded one at a time when asked for; the
    file stays open in between. Page count and pixel limits are checked from the header."""
    with _opened(path) as im, _pillow_errors(path):
        count = int(getattr(im, "n_frames", 1)) if im.format == "TIFF" else 1
        if pages is not None:
            pages.count = count
        check_pixel_limit(path, im.width, im.height, count)
        check_frame_limit(path, count, "pages")
        meta = {"Format": str(im.format), "Mode": im.mode, "Size": f"{im.width}×{im.height}"}
        if count == 1:
            yield _slice(path, im, None, meta)
            return
        meta["Pages"] = str(count)
        for i, page in enumerate(ImageSequence.Iterator(im)):
            check_pixel_limit(path, page.width, page.height, count)  # pages may differ
            yield _slice(path, page, i, meta)


def read_first_slice(path: Path) -> ScanSlice:
    """The first frame only: the training loader's path, which must not decode other pages."""
    with _opened(path) as im, _pillow_errors(path):
        check_pixel_limit(path, im.width, im.height)
        return _slice(path, im, None, {})


def grey_from_pil(im: Image.Image) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(grey in the image's own units, fixed display range or None for min–max): uint8 for
    8-bit sources (4 times less memory than float32, the same values), float32 otherwise.

    Colour becomes luminance with Pillow's ITU-R 601-2 "L" conversion, so that a colour JPEG
    gives exactly the grey values the rest of the project has always trained on.
    """
    mode = im.mode
    if mode in _DEEP:
        return np.asarray(im).astype(np.float32), None
    if mode in _PREMULTIPLIED:
        colour = im.getchannel(0) if mode == "La" else Image.merge("RGB", im.split()[:3])
        return _pixels(colour.convert("L")), (0.0, 255.0)
    if mode in _WITH_ALPHA and (mode != "P" or "transparency" in im.info):
        rgba = im.convert("LA") if mode == "LA" else im.convert("RGBA")
        grey = np.asarray(rgba.convert("L"), dtype=np.float32)
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32)
        return grey * (alpha / np.float32(255.0)), (0.0, 255.0)
    if mode == "L":  # the common case: one copy, kept as uint8 (the file's own values)
        return _pixels(im), (0.0, 255.0)
    if mode in _OPAQUE_8BIT:
        source = im.convert("RGB") if mode in {"YCbCr", "HSV", "LAB"} else im
        return _pixels(source.convert("L")), (0.0, 255.0)
    raise ValueError(f"unsupported image mode {mode}")


def _pixels(im: Image.Image) -> np.ndarray:
    """``np.asarray(im)`` for an 8-bit image, copied in blocks of rows: ``np.asarray`` goes
    through ``tobytes()``, which holds the pixels twice more while it joins its chunks."""
    width, height = im.size
    if width * height <= _BLOCK_PIXELS:
        return np.asarray(im)
    out = np.empty((height, width), dtype=np.uint8)
    step = max(1, _BLOCK_PIXELS // width)
    for top in range(0, height, step):
        bottom = min(height, top + step)
        out[top:bottom] = np.asarray(im.crop((0, top, width, bottom)))
    return out


def _slice(path: Path, im: Image.Image, index: int | None, meta: dict[str, str]) -> ScanSlice:
    if im.mode not in SUPPORTED_MODES:
        raise UnreadableInputError(path, f"unsupported image mode {im.mode}")
    # exif_transpose copies even an upright image: only call it when there is a rotation
    upright = ImageOps.exif_transpose(im) if im.getexif().get(_ORIENTATION, 1) != 1 else im
    data, value_range = grey_from_pil(upright)
    return ScanSlice(data=data, source=path, index=index, meta=dict(meta), value_range=value_range)


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """The Pillow image, opened lazily (header only) and closed on exit."""
    im = _open_header(path)
    try:
        yield im
    finally:
        im.close()


@contextmanager
def _pillow_errors(path: Path) -> Iterator[None]:
    """Pillow's decoding failures as one user-facing reason that keeps Pillow's own words
    ("image file is truncated", "broken data stream", ...)."""
    try:
        yield
    except UnreadableInputError:
        raise
    except Image.DecompressionBombError as exc:
        raise UnreadableInputError(path, f"image is over Pillow's pixel limit ({exc})") from exc
    except (OSError, SyntaxError, EOFError, ValueError, struct.error) as exc:
        raise UnreadableInputError(path, f"image data is truncated or corrupt ({exc})") from exc
    except GeneratorExit:
        raise
    except BaseException:  # anything else in a decoder plugin: named by its type only
        with guarded(path, "image could not be decoded"):
            raise


def _open_header(path: Path) -> Image.Image:
    """Identify the file and read its header, with our pixel limit, not Pillow's, deciding.

    Pillow checks its own limit inside ``Image.open``: it warns above 89 MP and refuses above
    179 MP without telling the size. Its check is switched off for this one call (under a lock,
    so that concurrent callers restore it correctly) and ``check_pixel_limit`` runs right after,
    on the real width and height, before anything is decoded.
    """
    try:
        with _PILLOW_LIMIT_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError as exc:
        raise UnreadableInputError(path, _not_a_scan_reason(path)) from exc
    except OSError as exc:
        if exc.errno is not None:  # the operating system's error, not Pillow's
            raise UnreadableInputError(path, f"cannot be read ({exc.strerror})") from exc
        raise UnreadableInputError(path, f"image header is truncated or corrupt ({exc})") from exc
    except (SyntaxError, EOFError, ValueError, struct.error) as exc:
        raise UnreadableInputError(path, f"image header is truncated or corrupt ({exc})") from exc


_IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".jp2"}
)


def _not_a_scan_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return f"{NOT_A_SCAN} (its content is not a {suffix[1:].upper()} image)"
    return NOT_A_SCAN
