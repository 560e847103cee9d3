"""Image files through Pillow: :func:`decode_image` and the header, size-limit and orientation steps before it.

Only JPEG, PNG, WebP, BMP, TIFF and GIF (its first frame) are opened. The pixel count is checked from the
header, before any pixel is decoded and without Pillow's process-wide bomb limit; EXIF orientation is applied;
pixel modes are mapped to RGB by :mod:`.pixel_modes`. A file no allowed plugin recognises raises
:class:`_NotAnImage`, so that :func:`~styledex.media.decode` can try it as a video.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageOps

from .common import DEFAULT_MAX_PIXELS, Media, MediaError, _check_args, _check_file, _check_pixels, _fit_size, _reason
from .pixel_modes import _to_rgb

# Pillow plugins we let near untrusted bytes, in the order tried. The allow-list keeps out plugins such as EPS
# (which runs Ghostscript) when a file with an unknown extension is probed.
_PIL_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
_EXPECTED_IMAGE = "a JPEG, PNG, WebP, BMP, TIFF or GIF header"

# Errors Pillow raises on bad image bytes. Pillow signals "not my format" with SyntaxError, and truncation
# with OSError ("image file is truncated") or EOFError; struct/zlib errors escape from some plugins on
# garbage.
_PIL_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


class _NotAnImage(MediaError):
    """No allowed image plugin recognised the bytes (lets :func:`decode` go on to try the file as a video)."""


def _fit(img: Image.Image, max_side: int | None) -> Image.Image:
    size = _fit_size(img.width, img.height, max_side)
    if size == img.size:
        return img
    # reducing_gap: a cheap box reduction first, then Lanczos over the last factor of <= 3; visually exact.
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def decode_image(path: Path | str, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_side: int | None = None) -> Media:
    """Decode one image file (JPEG, PNG, WebP, BMP, TIFF; GIF's first frame) into a single RGB frame.

    The declared size is checked against ``max_pixels`` before any pixel is decoded. EXIF orientation is
    applied, so ``width``/``height`` are the displayed size. With ``max_side``, JPEGs are decoded at a reduced
    DCT scale (``Image.draft``) and then resized exactly. Raises :class:`MediaError` (never a Pillow
    exception).
    """
    path = Path(path)
    _check_args(None, None, max_pixels, max_side)
    _check_file(path)
    try:
        fp = path.open("rb")
    except OSError as e:
        raise MediaError(f"cannot read file: {_reason(e)}") from None
    with fp:
        im = _open_image_header(fp, path, max_pixels)
        fmt = im.format or "image"
        try:
            width, height = im.size
            _check_pixels("image", width, height, max_pixels)
            if max_side is not None and fmt in ("JPEG", "MPO"):
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale (kept >= the target): far cheaper than full size.
                im.draft(None, _fit_size(width, height, max_side))
            im.load()
            oriented, swapped = _exif_transpose(im)
            rgb = _to_rgb(oriented)
            if rgb is im:
                rgb = im.copy()  # a plain Image, detached from the file object closed below
        except MediaError:
            raise
        except MemoryError:
            raise MediaError(f"{fmt} image too large to decode ({width}×{height})") from None
        except _PIL_ERRORS as e:
            raise MediaError(f"truncated or corrupt {fmt} data: {_reason(e)}") from None
        finally:
            im.close()
    if swapped:
        width, height = height, width
    return Media(kind="image", frames=[_fit(rgb, max_side)], times=[0.0], width=width, height=height, duration=None)


def _webp_size(head: bytes) -> tuple[int, int] | None:
    """Canvas size from the first 30 bytes of a WebP (VP8, VP8L or VP8X chunk), or None if unreadable."""
    if len(head) < 30 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        w = 1 + int.from_bytes(head[24:27], "little")
        h = 1 + int.from_bytes(head[27:30], "little")
        return w, h
    if chunk == b"VP8L" and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 " and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


def _open_image_header(fp: io.BufferedReader, path: Path, max_pixels: int) -> Image.Image:
    """Identify the image and read its header only (no pixels), bypassing Pillow's global bomb check.

    ``Image.open`` consults the process-wide ``MAX_IMAGE_PIXELS`` and would warn, or refuse, independently of
    our ``max_pixels``; calling the registered plugin factory directly leaves the size decision to us. The
    WebP plugin allocates its canvas while opening, so its size is read from the RIFF header and checked
    first.
    """
    head = fp.read(32)
    webp = _webp_size(head)
    if webp is not None:
        _check_pixels("image", *webp, max_pixels)
    registry = getattr(Image, "OPEN", None)
    if not isinstance(registry, dict):  # pragma: no cover - a Pillow without the plugin registry
        return _open_image_fallback(fp, head)
    Image.preinit()
    if any(name not in registry for name in _PIL_FORMATS):
        Image.init()
    recognised: list[str] = []
    for name in _PIL_FORMATS:
        if name not in registry:
            continue
        factory, accept = registry[name]
        if accept is not None:
            verdict = accept(head)
            if not verdict or isinstance(verdict, str):
                continue
        fp.seek(0)
        try:
            return factory(fp, str(path))
        except Image.DecompressionBombError as e:
            raise MediaError(f"{name} image refused by Pillow's size limit: {_reason(e)}") from None
        except MemoryError:
            raise MediaError(f"{name} header declares an image too large to open") from None
        except _PIL_ERRORS as e:
            recognised.append(f"{name} ({_reason(e)})")
    if recognised:
        raise MediaError(f"corrupt image header: {'; '.join(recognised)}")
    raise _NotAnImage(f"not a decodable image: expected {_EXPECTED_IMAGE}, got {head[:12]!r}")


def _open_image_fallback(fp: io.BufferedReader, head: bytes) -> Image.Image:  # pragma: no cover
    fp.seek(0)
    try:
        return Image.open(fp, formats=list(_PIL_FORMATS))
    except Image.DecompressionBombError as e:
        raise MediaError(f"image refused by Pillow's size limit: {_reason(e)}") from None
    except _PIL_ERRORS:
        raise _NotAnImage(f"not a decodable image: expected {_EXPECTED_IMAGE}, got {head[:12]!r}") from None


def _exif_transpose(im: Image.Image) -> tuple[Image.Image, bool]:
    """Apply the EXIF Orientation tag; returns (image, whether width and height swapped).

    A malformed EXIF block is not a reason to lose the picture: it is then left as stored.
    """
    try:
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (2, 3, 4, 5, 6, 7, 8):
            return im, False
        out = ImageOps.exif_transpose(im)
    except (SyntaxError, ValueError, TypeError, KeyError, IndexError, struct.error):
        return im, False
    return (out if out is not None else im), orientation in (5, 6, 7, 8)
