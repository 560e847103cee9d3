"""Decode images and videos into 8-bit RGB frames, robustly and with bounded memory.

The media stage of the pipeline (reader → **media** → embed → writer): every file becomes a :class:`Media`
holding PIL images in mode "RGB" (H × W × 3, uint8, 0..255), one for an image and up to ``frames`` for a
video, or raises :class:`MediaError` with a one-line reason. Nothing here touches global state (no Pillow
limits, no ``LOAD_TRUNCATED_IMAGES``, no logging settings), so callers may decode from several threads.

Images go through Pillow, limited to JPEG, PNG, WebP, BMP, TIFF and GIF: the pixel count is checked from the
header before any pixel is decoded, EXIF orientation is applied, every pixel mode is mapped to RGB (alpha
composited over white, 16-bit and float scaled rather than clipped, CMYK and non-sRGB profiles converted
through the embedded ICC profile when there is one).

Videos go through PyAV (FFmpeg): ``frames`` frames are sampled over the duration by seeking to each target
time (never by decoding the whole file, except for clips too short to seek in, files of unknown duration, or
scene sampling), with a bound on the work per target so that a header claiming hours cannot stall a worker.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .common import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    VIDEO_EXTENSIONS,
    Media,
    MediaError,
    _check_args,
    _check_file,
    _check_pixels,
)
from .image import _NotAnImage, decode_image
from .sampling import _sample
from .video_source import _Decoder as _Decoder  # tests wrap _Decoder.next/.seek through styledex.media
from .video_source import _SeekFailed, _VideoSource

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Media",
    "MediaError",
    "decode",
    "decode_image",
    "decode_video",
    "media_kind",
]


def media_kind(path: Path | str) -> Literal["image", "video"] | None:
    """ "image" or "video" from the file extension (case-insensitive), None when it is neither."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def decode(
    path: Path | str,
    *,
    frames: int = 8,
    sampling: Literal["uniform", "scene"] = "uniform",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
) -> Media:
    """Decode an image or video file; dispatch on the extension (see :func:`media_kind`).

    A file with an unknown extension is tried as an image, then as a video. ``frames`` and ``sampling`` apply
    to videos only; ``max_pixels`` bounds width × height of the declared image or stream; ``max_side``
    (pixels) downscales every frame, aspect kept, so its long side is at most that. Raises
    :class:`MediaError`.
    """
    kind = media_kind(path)
    if kind == "image":
        return decode_image(path, max_pixels=max_pixels, max_side=max_side)
    if kind == "video":
        return decode_video(path, frames=frames, sampling=sampling, max_pixels=max_pixels, max_side=max_side)
    try:
        return decode_image(path, max_pixels=max_pixels, max_side=max_side)
    except _NotAnImage:
        try:
            return decode_video(path, frames=frames, sampling=sampling, max_pixels=max_pixels, max_side=max_side)
        except MediaError as video_error:
            # The video reason already says what came ("got N bytes starting b'...'"): the more telling one.
            raise MediaError(f"neither an image nor a video: {video_error}") from None


# ------------------------------------------------------------------------------------------------------------
# Shared helpers


# ------------------------------------------------------------------------------------------------------------
# Images


# ------------------------------------------------------------------------------------------------------------
# Videos


def decode_video(
    path: Path | str,
    *,
    frames: int = 8,
    sampling: Literal["uniform", "scene"] = "uniform",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = None,
    seek: bool = True,
) -> Media:
    """Sample up to ``frames`` RGB frames from the first video stream of a file.

    ``sampling="uniform"``: targets t_i = duration × (i + 0.5) / frames seconds, each answered by the first
    frame with a timestamp >= t_i, found by seeking (backward to a keyframe, then decoding forward, at most
    ``_SEEK_MAX_FRAMES`` frames a target). A duration the container does not declare is first read from the
    packet timestamps (no decoding). Clips of at most 2 × ``frames`` frames are decoded once from the start
    instead, keeping at most 2 × ``frames`` + 1 images.
    ``sampling="scene"``: one decoding pass scores every frame by its change from the previous one (64-px-wide
    thumbnails); the first frame and the ``frames`` - 1 largest changes (spread at least ~1/(4 × frames) of
    the clip apart where possible) are then fetched at full size, in time order.

    ``seek=False`` finds the same frames by decoding every frame from the start (the fallback when a seek fails;
    ``styledex bench --part levers`` times the two on a long clip).

    Fewer frames come back when the stream has fewer; identical timestamps are never repeated. ``times`` are
    seconds from the stream start. Raises :class:`MediaError` (no video stream, too many pixels, nothing
    decodable, unreadable container).
    """
    path = Path(path)
    _check_args(frames, sampling, max_pixels, max_side)
    _check_file(path)
    src = _VideoSource(path)
    try:
        if src.width and src.height:
            _check_pixels("video", src.width, src.height, max_pixels)
        try:
            items, duration = _sample(src, frames, sampling, max_side, max_pixels, seekable=seek)
        except _SeekFailed:
            src.reopen()
            items, duration = _sample(src, frames, sampling, max_side, max_pixels, seekable=False)
    except MemoryError:
        raise MediaError("video frames too large to decode in memory") from None
    finally:
        src.close()
    if not items:
        raise MediaError(f"no decodable video frames (expected at least one {src.codec} frame, got none)")
    return Media(
        kind="video",
        frames=[img for _, img in items],
        times=[src.seconds(pts) for pts, _ in items],
        width=src.width,
        height=src.height,
        duration=duration,
    )
