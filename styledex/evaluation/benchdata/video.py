"""Video through PyAV: where a source video's segments lie, decoding one segment's frames, writing an MP4 clip.

PyAV is imported inside each function, so planning or rendering images alone never loads it.
"""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

from PIL import Image

from .files import atomic_target
from .recipe import Recipe


def video_windows(path: Path, recipe: Recipe) -> list[tuple[float, int]]:
    """(start seconds, frames) of each segment: centred on equal parts of the video, never overlapping."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if container.duration:
            duration = container.duration / 1e6
        elif stream.duration and stream.time_base:
            duration = float(stream.duration * stream.time_base)
        else:
            duration = (stream.frames or 0) / float(stream.average_rate or 25)
    part = duration / recipe.segments
    length = min(recipe.segment_seconds, 0.9 * part)
    frames = max(1, min(recipe.max_frames, math.floor(length * recipe.fps + 1e-6)))
    return [(max(0.0, part * (i + 0.5) - length / 2), frames) for i in range(recipe.segments)]


def read_segment(path: Path, start: float, frames: int, fps: float) -> list[Image.Image]:
    """``frames`` RGB frames sampled at ``fps`` from ``start`` s: seek to the keyframe before, decode on."""
    import av

    targets = [start + i / fps for i in range(frames)]
    out: list[Image.Image] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            container.seek(int(start / stream.time_base), stream=stream, backward=True, any_frame=False)
        except av.error.FFmpegError:  # some AVI indexes refuse to seek: decode from the start instead
            container.seek(0)
        eps = 0.5 / fps
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            while len(out) < frames and t >= targets[len(out)] - eps:
                out.append(frame.to_image())  # the first frame at or after each sample time
            if len(out) == frames:
                break
    if not out:
        raise RuntimeError(f"no frames decoded from {path} at {start:.2f} s")
    return out


def write_mp4(frames: list[Image.Image], path: Path, fps: float) -> None:
    """Encode RGB frames (same size, even sides) to an MP4 (H.264, else MPEG-4 part 2), atomically."""
    import av

    tmp = atomic_target(path)
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    try:
        with av.open(str(tmp), "w", format="mp4") as container:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = frames[0].size
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                # one thread: x264 output then does not depend on the core count; crf 18 keeps brushwork
                stream.options = {"crf": "18", "preset": "medium", "threads": "1"}
            else:
                stream.bit_rate = 2_000_000
            for img in frames:
                frame = av.VideoFrame.from_image(img).reformat(format="yuv420p")
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
