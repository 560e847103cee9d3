"""The types, limits and small helpers that image and video decoding share.

:class:`Media` (what a decoded file is) and :class:`MediaError` (why it could not be decoded, in one line) are
what callers see. The extension sets say which files count as images and videos; ``DEFAULT_MAX_PIXELS`` bounds
width × height of a declared image or stream. The helpers check arguments and files, phrase error reasons and
pixel counts, and compute a downscaled size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av
import av.error
from PIL import Image

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".webm", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg"})

DEFAULT_MAX_PIXELS = 64_000_000


class MediaError(Exception):
    """A file that cannot be decoded; ``str(e)`` is a one-line reason: what was expected, what came."""


@dataclass(frozen=True)
class Media:
    """A decoded image or sampled video.

    ``frames``: PIL images in mode "RGB" (8 bits a channel, 0..255), one for an image, up to the requested
    number for a video, in increasing time order; downscaled when ``max_side`` was given. ``times``: seconds
    of each frame from the start of the video stream (0.0 for an image). ``width``/``height``: full-resolution
    size in pixels of the image as displayed (after EXIF orientation) or of the video stream, before any
    ``max_side`` downscaling. ``duration``: seconds, videos only (the header's claim, or what decoding found
    when the header had none).
    """

    kind: Literal["image", "video"]
    frames: list[Image.Image]
    times: list[float]
    width: int
    height: int
    duration: float | None


def _one_line(text: str, limit: int = 240) -> str:
    """Collapse whitespace (no newlines survive) and cap the length, for error messages."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(error: BaseException) -> str:
    """A short human reason for an exception, without paths, errno numbers or traceback text."""
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        return _one_line(error.strerror)
    if isinstance(error, OSError) and error.strerror:
        return _one_line(error.strerror)
    text = str(error)
    return _one_line(text) if text else type(error).__name__


def _megapixels(pixels: int) -> str:
    """ "400.0 Mpx"; small counts in plain pixels so a tiny limit does not read "0.0 Mpx"."""
    return f"{pixels / 1e6:.1f} Mpx" if pixels >= 100_000 else f"{pixels} px"


def _check_pixels(what: str, width: int, height: int, max_pixels: int) -> None:
    pixels = width * height
    if pixels > max_pixels:
        raise MediaError(
            f"{what} is {width}×{height} ({_megapixels(pixels)}), over the {_megapixels(max_pixels)} limit"
        )


def _check_file(path: Path) -> int:
    """The file size in bytes; MediaError for a missing, unreadable, non-regular or empty file."""
    try:
        st = path.stat()
    except OSError as e:
        raise MediaError(f"cannot read file: {_reason(e)}") from None
    if not os.path.isfile(path):
        raise MediaError("not a regular file (expected an image or video file)")
    if st.st_size == 0:
        raise MediaError("empty file (0 bytes)")
    return st.st_size


def _check_args(frames: int | None, sampling: str | None, max_pixels: int, max_side: int | None) -> None:
    if frames is not None and frames < 1:
        raise ValueError(f"frames must be >= 1, got {frames}")
    if sampling is not None and sampling not in ("uniform", "scene"):
        raise ValueError(f"sampling must be 'uniform' or 'scene', got {sampling!r}")
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be >= 1 or None, got {max_side}")


def _fit_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(w, h) scaled so the long side is at most ``max_side``, aspect kept, each side >= 1."""
    long_side = max(width, height)
    if max_side is None or long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, round(width * scale)), max(1, round(height * scale))
