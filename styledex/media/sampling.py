"""Which frames of a video to keep: uniform targets over the duration, or the largest scene changes.

:func:`_sample` chooses the strategy and returns ((pts, image) in ascending pts, duration in seconds):
uniform targets found by seeking (:func:`_sample_by_seeking`, at most ``_SEEK_MAX_FRAMES`` frames decoded a
target), the same targets by one sequential pass when seeking fails or is turned off
(:func:`_sample_sequential_targets`), a reservoir over clips too short to seek in (:func:`_sample_reservoir`),
or scene sampling (:func:`_scene_scores` then :func:`_pick_scenes`). Decoding itself is :mod:`.video_source`'s.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

import av
import numpy as np
from PIL import Image

from .video_source import _Decoder, _frame_image, _learn_size, _scan_duration, _SeekFailed, _VideoSource

# The most frames decoded while pursuing one seek target before giving up and taking the last decoded frame:
# bounds the work per target when a header lies about the duration or keyframes are hours apart. 300 frames is
# 10-12 s of typical video, enough to cross an ordinary GOP (and all of the short clips this project targets).
_SEEK_MAX_FRAMES = 300
# Scene sampling compares frames as thumbnails this wide (RGB, so isoluminant cuts still register).
_SCENE_THUMB_WIDTH = 64


class _Picks:
    """Chosen (pts, image) pairs, deduplicated by pts, converted to RGB at once (frees decoder buffers)."""

    def __init__(self, max_side: int | None):
        self.max_side = max_side
        self.items: list[tuple[int, Image.Image]] = []

    def add(self, pts: int, frame: av.VideoFrame) -> None:
        if any(p == pts for p, _ in self.items):
            return
        self.items.append((pts, _frame_image(frame, self.max_side)))


def _sample_by_seeking(
    src: _VideoSource,
    targets: list[int],
    max_side: int | None,
    *,
    keyframes: list[int] | None = None,
    budget: int | None = _SEEK_MAX_FRAMES,
) -> tuple[list[tuple[int, Image.Image]], int | None]:
    """For each target pts (ascending), the first frame with pts >= target, found by seeking.

    Before each target the sampler keeps decoding forward when a seek would land on a keyframe at or behind
    the current position (no keyframe in between: known from ``keyframes`` when given, else probed on a second
    handle), and otherwise seeks backward to the keyframe at or before the target. At most ``budget`` frames
    are decoded per target; past that, or at the end of the stream, the last decoded frame stands in. Returns
    (picks, pts of the stream's last frame if the end was reached, else None).
    """
    dec = _Decoder(src)  # nothing decoded yet (dec.last is None): the first target always seeks
    picks = _Picks(max_side)
    end: tuple[int, av.VideoFrame] | None = None
    for target in targets:
        if end is not None and target > end[0]:
            picks.add(*end)  # beyond the real end of the stream: its last frame is the closest there is
            continue
        cur = dec.last
        if cur is not None and cur[0] >= target:
            picks.add(*cur)  # the frame that answered the previous target is also the first at/after this one
            continue
        if cur is None or dec.eof or not _forward_is_cheaper(src, cur[0], target, keyframes):
            dec.seek(target)  # backward=True: lands on the keyframe at or before the target
        spent = 0
        while True:
            got = dec.next()
            if got is None:
                if dec.last is None:
                    raise _SeekFailed("no frame decoded after seeking")
                end = dec.last
                picks.add(*end)
                break
            spent += 1
            if got[0] >= target or (budget is not None and spent >= budget):
                picks.add(*got)
                break
    return picks.items, (end[0] if end is not None else None)


def _forward_is_cheaper(src: _VideoSource, position: int, target: int, keyframes: list[int] | None) -> bool:
    """Whether decoding on from ``position`` beats seeking to ``target`` (no keyframe lies between)."""
    landing = _key_before(keyframes, target) if keyframes is not None else src.landing(target)
    return landing is not None and landing <= position


def _key_before(keyframes: list[int], target: int) -> int:
    """The last keyframe pts <= target (the first one if none is)."""
    i = bisect.bisect_right(keyframes, target)
    return keyframes[max(0, i - 1)] if keyframes else target


def _sample_sequential_targets(
    src: _VideoSource, targets: list[int], max_side: int | None
) -> list[tuple[int, Image.Image]]:
    """Like :func:`_sample_by_seeking` but by decoding from the start: the fallback when seeking fails."""
    dec = _Decoder(src)
    picks = _Picks(max_side)
    pending = deque(sorted(targets))
    while pending:
        got = dec.next()
        if got is None:
            if dec.last is not None:
                picks.add(*dec.last)
            break
        while pending and got[0] >= pending[0]:
            pending.popleft()
            picks.add(*got)
    return picks.items


def _sample_reservoir(
    src: _VideoSource, n: int, max_side: int | None
) -> tuple[list[tuple[int, Image.Image]], int, int | None]:
    """``n`` frames spread evenly over a short stream (or one longer than declared), in one sequential pass.

    Keeps every ``stride``-th frame; whenever more than 2n are held, drops every other one and doubles the
    stride, so at most 2n + 1 images are ever in memory. Returns (picks, frames decoded, pts of the last
    frame).
    """
    dec = _Decoder(src)
    kept: list[tuple[int, int, Image.Image]] = []  # (frame index, pts, image)
    stride = 1
    index = 0
    while (got := dec.next()) is not None:
        pts, frame = got
        if index % stride == 0:
            kept.append((index, pts, _frame_image(frame, max_side)))
            if len(kept) > 2 * n:
                stride *= 2
                kept = [k for k in kept if k[0] % stride == 0]
        index += 1
    last_pts = dec.last[0] if dec.last else None
    # Over n: take the kept frames (evenly spaced) at the centres of n equal slices, distinct since len > n.
    chosen = kept if len(kept) <= n else [kept[int((i + 0.5) * len(kept) / n)] for i in range(n)]
    items: list[tuple[int, Image.Image]] = []
    for _, pts, img in chosen:
        if not items or items[-1][0] != pts:
            items.append((pts, img))
    return items, index, last_pts


def _scene_scores(src: _VideoSource) -> tuple[list[int], np.ndarray, list[int]]:
    """Decode every frame once as a small RGB thumbnail; return (pts, change score, keyframe pts).

    Score of frame i: mean absolute difference (0..255) between the thumbnails of frames i-1 and i; +inf for
    the first frame, so it is always chosen. Memory: one thumbnail plus three numbers a frame.
    """
    dec = _Decoder(src)
    pts_list: list[int] = []
    scores: list[float] = []
    keys: list[int] = []
    prev: np.ndarray | None = None
    while (got := dec.next()) is not None:
        pts, frame = got
        tw = min(_SCENE_THUMB_WIDTH, frame.width)
        th = max(1, round(frame.height * tw / frame.width))
        thumb = frame.reformat(width=tw, height=th, format="rgb24", interpolation="AREA").to_ndarray()
        thumb = thumb.astype(np.int16)
        scores.append(math.inf if prev is None else float(np.abs(thumb - prev).mean()))
        pts_list.append(pts)
        if frame.key_frame:
            keys.append(pts)
        prev = thumb
    return pts_list, np.asarray(scores, dtype=np.float64), keys


def _pick_scenes(scores: np.ndarray, n: int, min_gap: int) -> list[int]:
    """Ascending indices of the first frame and the ``n`` - 1 largest changes.

    Picks are at least ``min_gap`` frames apart while that is possible; among equal scores the frame farthest
    from those already chosen wins, so a clip with fewer cuts than ``n`` still gets spread-out frames.
    """
    total = len(scores)
    if total <= n:
        return list(range(total))
    positions = np.arange(total)
    chosen = [0]
    dist = positions.astype(np.float64)  # distance to the nearest chosen frame
    rounded = np.round(np.where(np.isfinite(scores), scores, 1e9), 3)
    for _ in range(n - 1):
        valid = dist >= min_gap
        if not valid.any():
            valid = dist > 0
        candidates = np.flatnonzero(valid)
        if candidates.size == 0:
            break
        best = int(candidates[np.lexsort((dist[candidates], rounded[candidates]))[-1]])
        chosen.append(best)
        dist = np.minimum(dist, np.abs(positions - best))
    return sorted(chosen)


def _sample(
    src: _VideoSource,
    n: int,
    sampling: str,
    max_side: int | None,
    max_pixels: int,
    *,
    seekable: bool = True,
) -> tuple[list[tuple[int, Image.Image]], float | None]:
    """Dispatch to a sampling strategy; returns ((pts, image) ascending, duration in seconds)."""
    if not (src.width and src.height):
        _learn_size(src, max_pixels)
    duration = src.duration
    if sampling == "scene":
        pts_list, scores, keys = _scene_scores(src)
        if not pts_list:
            return [], duration
        min_gap = max(1, len(pts_list) // (4 * n))
        wanted = [pts_list[i] for i in _pick_scenes(scores, n, min_gap)]
        decoded = src.seconds(pts_list[-1]) + (1 / src.fps if src.fps else 0.0)
        if duration is None or decoded < 0.9 * duration:
            duration = decoded  # the whole stream was decoded: trust that over a header that overstates
        if not seekable:
            src.reopen()
            return _sample_sequential_targets(src, wanted, max_side), duration
        src.reopen()  # rewind: pass one left the demuxer at the end
        items, _ = _sample_by_seeking(src, wanted, max_side, keyframes=sorted(set(keys)) or None, budget=None)
        return items, duration

    if duration is None:
        duration = _scan_duration(src)  # no decoding: one demux pass over the packets' timestamps
        if duration is None:
            return [], None
    estimated = src.header_frames or (round(duration * src.fps) if src.fps else 0)
    if estimated <= 2 * n:
        items, _, _ = _sample_reservoir(src, n, max_side)
        return items, duration

    targets = [src.pts_at(duration * (i + 0.5) / n) for i in range(n)]
    if not seekable:
        return _sample_sequential_targets(src, targets, max_side), duration
    items, end_pts = _sample_by_seeking(src, targets, max_side)
    if end_pts is not None and len(items) < n:
        # The header overstated the duration (targets fell past the real end): spread the samples again over
        # what is really there. One retry only, so a lying header costs at most twice the work.
        real = src.seconds(end_pts) + (1 / src.fps if src.fps else 0.0)
        if 0 < real < 0.9 * duration:
            src.reopen()
            retry = [src.pts_at(real * (i + 0.5) / n) for i in range(n)]
            items, _ = _sample_by_seeking(src, retry, max_side)
            duration = real
    return items, duration
