"""Content views with the real VGG19 (styledex.embed.content_views): a query that asks with its mirror, corners and
centre finds a mirrored or corner-cropped copy of its photo above other photos, where its vector alone ranks the
mirror below them and scores a corner crop far lower; and `add` stores each item's region views as the query embeds
them. skimage's sample photos; 256 px, ~10 forward passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styledex.catalog import Catalog
from styledex.config import load_config
from styledex.embed.content_views import best_view_scores, query_views, views_key
from styledex.embed.embedder import Embedder
from styledex.pipeline import add_sources, read_sources
from styledex.search import catalog_embedder
from styledex.space_indexes import SpaceIndexes


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut())
    w, h = photo.size
    return {
        "query": photo,
        "mirrored": photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
        "top-left 65%": photo.crop((0, 0, int(w * 0.65), int(h * 0.65))),
        "bottom-right 65%": photo.crop((int(w * 0.35), int(h * 0.35), w, h)),
        "chelsea": Image.fromarray(skimage.data.chelsea()),
        "coffee": Image.fromarray(skimage.data.coffee()),
        "rocket": Image.fromarray(skimage.data.rocket()),
    }


def test_views_find_mirrored_and_cropped_copies_above_other_photos(photos: dict[str, Image.Image]) -> None:
    embedder = Embedder(["content"], device="cpu")
    query = embedder.embed([photos["query"]], views=True)
    items = embedder.embed(list(photos.values())[1:])["content"]
    plain = items @ query["content"][0]
    best = best_view_scores(query_views(query["content"][0], query[views_key("content")][0]), items)
    copies, others = slice(0, 3), slice(3, 6)
    assert best[copies].min() > best[others].max() + 0.3  # measured: copies 0.65-0.76, other photos <= 0.16
    assert plain[0] < plain[others].max()  # alone, the mirror is less alike than another photo (-0.03 vs 0.15)
    assert best[1] > plain[1] + 0.4  # and the corner crop far less alike than with views (0.21 vs 0.76)
    assert np.all(best >= plain - 1e-6)


def test_add_stores_each_items_region_views(tmp_path: Path, photos: dict[str, Image.Image]) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for name in ("query", "chelsea"):
        photos[name].resize((96, 64)).save(media / f"{name}.png")
    config_path = tmp_path / "config.yaml"
    config_path.write_text("embed: {spaces: [content, adain], image_size: 64, device: cpu}\n")
    config = load_config(config_path)
    with Catalog.open(tmp_path / "catalog", create=True) as catalog, catalog.writing():
        embedder = catalog_embedder(catalog, config)
        add_sources(SpaceIndexes.of(catalog, config.index), read_sources([media]), config, embedder, progress=False)
        for item in catalog.items(status="ok"):
            with Image.open(item["path"]) as image:
                expected = embedder.embed([image.convert("RGB")], views=True)[views_key("content")][0]
            stored = catalog.item_views(int(item["id"]), "content", 2048)
            assert stored is not None and stored.shape == (5, 2048)
            assert np.allclose(stored, expected, atol=2e-3)  # float16 storage
            assert catalog.item_views(int(item["id"]), "adain", 2944) is None  # style spaces have no views
