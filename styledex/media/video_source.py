"""Video files through PyAV (FFmpeg): an open stream, its frames in order, seeking, and facts the header lacks.

:class:`_VideoSource` opens the container, picks the first real video stream and reads its header facts (time
base, frame rate, size, duration) in convenient units; :class:`_Decoder` yields (pts, frame) pairs in
presentation order, tolerates bad packets and seeks backward to keyframes, raising :class:`_SeekFailed` when
the file cannot seek. :func:`_scan_duration` and :func:`_learn_size` fill in a missing duration or frame size;
:func:`_frame_image` turns a frame into a downscaled PIL "RGB" image. Which frames to take is
:mod:`.sampling`'s job.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
from PIL import Image

from .common import MediaError, _check_pixels, _fit_size, _reason

# PyAV raises FFmpegError subclasses, several of which also derive from OSError/ValueError; some demuxers
# raise plain Python errors on odd metadata.
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError, RuntimeError, UnicodeDecodeError)

# Decode or demux errors tolerated in one file before its stream is treated as ended (corrupt tail).
_MAX_BAD_PACKETS = 64


class _VideoSource:
    """An open container and its video stream, with the stream's header facts in convenient units.

    Also owns a second, lazily opened handle on the same file used only to *probe* where a seek would land (an
    index lookup plus one packet read, no decoding), so the sampler can tell a useful seek from a wasted one.
    """

    def __init__(self, path: Path):
        self.path = path
        self.container = self._open()
        self._probe: av.container.InputContainer | None = None
        try:
            self.stream = self._pick_stream()
        except BaseException:
            self.container.close()
            raise
        stream = self.stream
        self.index: int = stream.index
        self.time_base: Fraction = stream.time_base or Fraction(1, 1_000_000)
        self.start_pts: int = stream.start_time if stream.start_time is not None else 0
        self.fps: float | None = _frame_rate(stream)
        ctx = stream.codec_context
        self.codec: str = ctx.name if ctx is not None else "unknown"
        self.width: int = (ctx.width if ctx is not None else 0) or 0
        self.height: int = (ctx.height if ctx is not None else 0) or 0
        self.duration: float | None = self._duration()
        self.header_frames: int = stream.frames or 0
        # Decoder threading stays at PyAV's default (slice threads): frame threads would add a delay of one
        # frame per thread to every seek, and batch decoding runs in parallel worker processes anyway.

    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(str(self.path), metadata_errors="ignore")
        except _AV_ERRORS as e:
            raise MediaError(f"not a decodable video container: {_reason(e)} (got {_head_repr(self.path)})") from None

    def _pick_stream(self) -> av.video.stream.VideoStream:
        streams = list(self.container.streams)
        # Cover art in audio files shows up as a one-frame video stream flagged attached_pic: not a video.
        video = [s for s in streams if s.type == "video" and not (s.disposition & av.stream.Disposition.attached_pic)]
        if not video:
            kinds = sorted({"attached picture" if s.type == "video" else str(s.type) for s in streams})
            raise MediaError(f"no video stream (streams: {', '.join(kinds) or 'none'})")
        return video[0]

    def _duration(self) -> float | None:
        stream, container = self.stream, self.container
        seconds = None
        if stream.duration and stream.duration > 0:
            seconds = float(stream.duration * self.time_base)
        elif container.duration and container.duration > 0:
            seconds = container.duration / av.time_base
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return None
        return seconds

    def reopen(self) -> None:
        """Start over from the beginning with a fresh demuxer (rewind, or recover from a failed seek)."""
        self.container.close()
        self.container = self._open()
        self.stream = next(s for s in self.container.streams if s.index == self.index)

    def landing(self, pts: int) -> int | None:
        """Pts of the packet a backward keyframe seek to ``pts`` lands on (None: cannot tell)."""
        try:
            if self._probe is None:
                self._probe = av.open(str(self.path), metadata_errors="ignore")
            stream = next(s for s in self._probe.streams if s.index == self.index)
            self._probe.seek(int(pts), backward=True, any_frame=False, stream=stream)
            for packet in self._probe.demux(stream):
                return packet.pts if packet.pts is not None else packet.dts
        except (*_AV_ERRORS, StopIteration):
            return None
        return None

    def seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base)

    def pts_at(self, seconds: float) -> int:
        """The smallest pts at or after ``seconds`` from the stream start (a hair of float error forgiven)."""
        return self.start_pts + math.ceil(Fraction(seconds) / self.time_base - Fraction(1, 1_000_000))

    def close(self) -> None:
        self.container.close()
        if self._probe is not None:
            self._probe.close()


def _frame_rate(stream: av.video.stream.VideoStream) -> float | None:
    """Frames per second of ``stream``, or None when nothing plausible (0 < fps < 10000) is declared.

    The average rate (frames / declared duration) is preferred: it is right for variable frame rates. But it
    inherits a lying duration: a header claiming hours over a 20 s clip gives 0.007 fps, and the end of the
    clip would then be placed minutes after its last frame. When it is under a quarter of the rate FFmpeg
    estimated from the first packets' timestamps, those timestamps win.
    """

    def plausible(rate: Fraction | None) -> float | None:
        return float(rate) if rate and 0 < float(rate) < 10_000 else None

    average, base = plausible(stream.average_rate), plausible(stream.base_rate)
    if average is not None and (base is None or average >= base / 4):
        return average
    return base or plausible(stream.guessed_rate)


def _head_repr(path: Path, n: int = 12) -> str:
    """'<size> bytes starting b"..."', to say in an error what the file actually holds."""
    try:
        with path.open("rb") as f:
            head = f.read(n)
        return f"{path.stat().st_size} bytes starting {head!r}"
    except OSError:
        return "an unreadable file"


class _SeekFailed(Exception):
    """Seeking is unusable in this file: fall back to a sequential pass."""


class _Decoder:
    """Frames of one stream in presentation order, tolerant of bad packets, able to seek.

    ``last`` is the most recent (pts, frame) decoded since the last seek: the decoder's position.
    """

    def __init__(self, src: _VideoSource):
        self.src = src
        self._packets: Iterator[av.Packet] = src.container.demux(src.stream)
        self._ready: deque[av.VideoFrame] = deque()
        self.eof = False
        self.bad_packets = 0
        self.last: tuple[int, av.VideoFrame] | None = None
        self._step = max(1, round(1 / (src.fps * src.time_base))) if src.fps else 1

    def seek(self, pts: int) -> None:
        try:
            self.src.container.seek(int(pts), backward=True, any_frame=False, stream=self.src.stream)
        except _AV_ERRORS as e:
            raise _SeekFailed(_reason(e)) from None
        self._packets = self.src.container.demux(self.src.stream)
        self._ready.clear()
        self.eof = False
        self.last = None

    def next(self) -> tuple[int, av.VideoFrame] | None:
        """The next (pts, frame), or None at the end of the stream (or once too many packets were bad)."""
        while not self._ready:
            if self.eof:
                return None
            try:
                packet = next(self._packets)
            except StopIteration:
                self.eof = True
                return None
            except _AV_ERRORS:
                # A demuxer error ends the generator; a fresh one resumes from the current byte position.
                self._bad()
                self._packets = self.src.container.demux(self.src.stream)
                continue
            try:
                self._ready.extend(packet.decode())
            except _AV_ERRORS:
                self._bad()
        frame = self._ready.popleft()
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:  # no timestamps at all (rare raw streams): count frames instead
            pts = self.last[0] + self._step if self.last else self.src.start_pts
        self.last = (pts, frame)
        return pts, frame

    def _bad(self) -> None:
        self.bad_packets += 1
        if self.bad_packets > _MAX_BAD_PACKETS:
            self.eof = True


def _frame_image(frame: av.VideoFrame, max_side: int | None) -> Image.Image:
    """The frame as a PIL "RGB" image, downscaled by swscale (area averaging) to fit ``max_side``."""
    width, height = _fit_size(frame.width, frame.height, max_side)
    if (width, height) == (frame.width, frame.height):
        return frame.to_image()
    return frame.to_image(width=width, height=height, interpolation="AREA")


def _scan_duration(src: _VideoSource) -> float | None:
    """Seconds from the stream start to the end of its last packet, read from packet timestamps only.

    For containers that declare no duration (streamed Matroska/WebM, raw streams): reading packets costs file
    I/O but no decoding, far less than the decode-everything fallback it replaces. Leaves ``src`` rewound.
    """
    end: int | None = None
    try:
        for packet in src.container.demux(src.stream):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is not None:
                stop = ts + (packet.duration or 0)
                end = stop if end is None else max(end, stop)
    except _AV_ERRORS:
        pass  # a corrupt tail: what was read so far is the duration we can vouch for
    src.reopen()
    if end is None:
        return None
    seconds = src.seconds(end)
    return seconds if seconds > 0 else None


def _learn_size(src: _VideoSource, max_pixels: int) -> None:
    """Some containers declare no frame size: take it from the first decoded frame, then check it."""
    got = _Decoder(src).next()
    if got is not None:
        src.width, src.height = got[1].width, got[1].height
        _check_pixels("video", src.width, src.height, max_pixels)
    src.reopen()
