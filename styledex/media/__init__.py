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

Modules, each with one job (callers import from ``styledex.media``, which re-exports the public names):

- :mod:`.common`: :class:`Media`, :class:`MediaError`, the extension sets, ``DEFAULT_MAX_PIXELS``, and the
  argument, file, pixel-count, size and error-reason helpers the others share.
- :mod:`.dispatch`: :func:`media_kind` (by extension) and :func:`decode` (image or video; an unknown extension
  is tried as both).
- :mod:`.image`: :func:`decode_image`: header-only open with our own pixel limit, WebP canvas size, EXIF
  orientation, GIF's first frame.
- :mod:`.pixel_modes`: any Pillow mode to 8-bit RGB (16-bit and float scaling, alpha over white, ICC to sRGB).
- :mod:`.video`: :func:`decode_video`: size check, sampling, fallback from seeking to one sequential pass.
- :mod:`.video_source`: PyAV: the container and stream, header facts, a bad-packet-tolerant decoder that seeks,
  a missing duration or frame size found from the file, frames to PIL images.
- :mod:`.sampling`: which frames to keep: uniform targets by seeking or one pass, a reservoir for short clips,
  scene-change scores and picks.
"""

from __future__ import annotations

from .common import DEFAULT_MAX_PIXELS as DEFAULT_MAX_PIXELS
from .common import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Media, MediaError
from .dispatch import decode, media_kind
from .image import decode_image
from .video import decode_video

# Not public: tests/unit/test_media.py wraps _Decoder.next/.seek and raises _SeekFailed through ``styledex.media``.
from .video_source import _Decoder as _Decoder
from .video_source import _SeekFailed as _SeekFailed

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
