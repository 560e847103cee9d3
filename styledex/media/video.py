"""Video files: :func:`decode_video`, from a path to a :class:`Media` of sampled RGB frames.

It checks the stream's declared size, samples frames, and falls back from seeking to one sequential pass when a
seek fails. Opening and decoding the stream is :mod:`.video_source`'s job; which frames to keep is
:mod:`.sampling`'s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .common import DEFAULT_MAX_PIXELS, Media, MediaError, _check_args, _check_file, _check_pixels
from .sampling import _sample
from .video_source import _SeekFailed, _VideoSource


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
