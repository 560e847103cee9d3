"""Which decoder a file goes to: :func:`media_kind` from the extension, :func:`decode` by that kind.

A file whose extension is neither an image's nor a video's is tried as an image, then as a video.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .common import DEFAULT_MAX_PIXELS, IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Media, MediaError
from .image import _NotAnImage, decode_image
from .video import decode_video


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
