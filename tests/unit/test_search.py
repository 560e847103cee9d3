"""The search (styledex.search.Searcher) on small catalogs, checked against a brute-force ranking in numpy: an item is
its own best match, excluded ids never return, a mix ranks by Σ wₛ·cosₛ / Σ wₛ of the exact cosines, filters keep
every result that passes, a video result names its best frame, a file query finds the item added from that file, and
a content query asks with its views (mirror, stored regions: the best view counts). Random unit vectors in two real
spaces (flat indexes, exact) and the fake embedder: no model; seconds in all."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import load_config
from styledex.embed.content_views import mirror, views_key
from styledex.embed.embedder import aggregate_frames
from styledex.embed.spaces import resolve
from styledex.pipeline import add_sources, decode_with_config, read_sources
from styledex.search import ItemFilter, Searcher, catalog_embedder
from styledex.space_indexes import SpaceIndexes

from helpers.fake_embedder import DEFAULT_SPACES, FakeEmbedder
from helpers.media import make_image

SPACES = DEFAULT_SPACES  # content (2048-d), predictor (100-d)
N = 40
VIDEOS = (38, 39, 40)  # item ids of the videos (3 frames each); the rest are images
FRAME_TIMES = [0.0, 0.5, 1.0]


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _metadata(item_id: int) -> dict:
    meta: dict = {"group": "odd" if item_id % 2 else "even"}
    if item_id % 5 == 0:
        meta["year"] = 1880 + item_id  # a number, matched as its text
    return meta


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """N items (ids 1..N) with random unit vectors in SPACES; the videos' item vectors are their frames' mean."""
    rng = np.random.default_rng(11)
    records = []
    for item_id in range(1, N + 1):
        vectors = {}
        for space in SPACES:
            dim = resolve(space).dim
            if item_id in VIDEOS:
                frames = _unit(rng, len(FRAME_TIMES), dim)
                vectors[space] = SpaceVectors(aggregate_frames(frames), frames, FRAME_TIMES)
            else:
                vectors[space] = SpaceVectors(_unit(rng, 1, dim)[0])
        kind = "video" if item_id in VIDEOS else "image"
        records.append(ItemRecord(path=f"/m/{item_id}", status="ok", kind=kind, sha256=f"{item_id:064x}",
                                  metadata=_metadata(item_id), vectors=vectors))  # fmt: skip
    directory = tmp_path_factory.mktemp("search") / "catalog"
    with Catalog.open(directory, create=True) as catalog, catalog.writing():
        catalog.set_meta("embed", {"spaces": FakeEmbedder(SPACES).fingerprints(), "image_size": 32})
        assert catalog.write_batch(records) == list(range(1, N + 1))
    return directory


@pytest.fixture
def searcher(directory: Path):
    with Catalog.open(directory) as catalog:
        yield Searcher(catalog, embedder=FakeEmbedder(SPACES))


def _vectors(searcher: Searcher) -> dict[str, np.ndarray]:
    """Space → [n, dim] float64 item vectors, row i - 1 for item i (n = N unless a test added items)."""
    out = {}
    for space in SPACES:
        ids, vectors = searcher.catalog.load_vectors(space, resolve(space).dim)
        assert ids.tolist() == list(range(1, len(ids) + 1))  # N, or more in a test that added some
        out[space] = vectors.astype(np.float64)
    return out


def _brute_force(
    searcher: Searcher, queries: dict[str, np.ndarray], weights: dict[str, float]
) -> tuple[list[int], dict[int, float], dict[int, dict[str, float]]]:
    """Every item ranked by Σ wₛ·cosₛ / Σ wₛ (ties by id): (ids best first, fused score by id, cosines by id)."""
    vectors = _vectors(searcher)
    # A content query asks with its views too (its mirror, stored regions): an item's cosine is its best view's.
    views = {s: queries.get(views_key(s), queries[s][None, :]).astype(np.float64) for s in weights}
    cosines = {s: (vectors[s] @ views[s].T).max(axis=1) for s in weights}
    fused = sum(w * cosines[s] for s, w in weights.items()) / sum(weights.values())
    n = len(fused)
    order = sorted(range(1, n + 1), key=lambda i: (-fused[i - 1], i))
    per_item = {i: {s: float(cosines[s][i - 1]) for s in weights} for i in range(1, n + 1)}
    return order, {i: float(fused[i - 1]) for i in range(1, n + 1)}, per_item


MIXES = [{"content": 1.0}, {"predictor": 1.0}, {"content": 2.0, "predictor": 0.5}]


@pytest.mark.parametrize("weights", MIXES, ids=["content", "predictor", "mix"])
def test_an_items_own_vectors_find_it_first_with_score_one(searcher: Searcher, weights: dict[str, float]) -> None:
    for item_id in range(1, N + 1):
        queries = searcher.query_vectors_for_item(item_id, list(weights))
        best = searcher.search(queries, weights, 3)[0]
        assert best["id"] == item_id and best["score"] == pytest.approx(1.0, abs=1e-6)
        assert best["scores"] == pytest.approx(dict.fromkeys(weights, 1.0), abs=1e-6)


@pytest.mark.parametrize("weights", MIXES, ids=["content", "predictor", "mix"])
def test_the_ranking_is_the_weighted_mean_of_exact_cosines(searcher: Searcher, weights: dict[str, float]) -> None:
    queries = searcher.query_vectors_for_item(7, SPACES)
    order, fused, cosines = _brute_force(searcher, queries, weights)
    for k in (5, N):
        results = searcher.search(queries, weights, k)
        assert [r["id"] for r in results] == order[:k]
        for r in results:
            assert r["score"] == pytest.approx(fused[r["id"]], abs=2e-6)
            assert r["scores"] == pytest.approx(cosines[r["id"]], abs=2e-6)
            assert r["path"] == f"/m/{r['id']}" and r["metadata"] == _metadata(r["id"])


def test_excluded_ids_never_come_back_and_the_rest_keep_their_order(searcher: Searcher) -> None:
    weights = {"content": 1.0, "predictor": 3.0}
    queries = searcher.query_vectors_for_item(12, SPACES)
    order, _, _ = _brute_force(searcher, queries, weights)
    excluded = [12, order[1], order[3], order[20]]
    results = searcher.search(queries, weights, 10, exclude=excluded)
    assert [r["id"] for r in results] == [i for i in order if i not in excluded][:10]


@pytest.mark.parametrize(
    ("kind", "where", "k"),
    [("video", [], 2), ("video", [], 5), (None, ["group:odd"], 6), ("image", ["group:even", "year:1890"], 3)],
)
def test_a_filter_keeps_every_result_that_passes_it(
    searcher: Searcher, kind: str | None, where: list[str], k: int
) -> None:
    # A query far from the videos: they rank near the bottom, beyond the first fetch of 4·k candidates.
    videos = _vectors(searcher)
    queries = {s: -videos[s][[i - 1 for i in VIDEOS]].sum(axis=0) for s in SPACES}
    queries = {s: (q / np.linalg.norm(q)).astype(np.float32) for s, q in queries.items()}
    weights = {"content": 1.0, "predictor": 1.0}
    order, _, _ = _brute_force(searcher, queries, weights)
    if kind == "video":
        assert min(order.index(v) for v in VIDEOS) >= 4 * k  # the case the over-fetch exists for

    keep = ItemFilter.parse(kind, where)
    passing = [i for i in order if keep.matches(searcher.catalog.item(i))]
    results = searcher.search(queries, weights, k, where=keep)
    assert [r["id"] for r in results] == passing[:k]
    assert len(results) == min(k, len(passing))  # none dropped, none invented


def test_a_video_result_names_the_frame_that_matches_best(searcher: Searcher) -> None:
    weights = {"content": 1.0, "predictor": 2.0}
    for video in VIDEOS:
        queries = {s: searcher.catalog.frame_vectors(video, s)[1][1] for s in SPACES}  # its middle frame
        (hit,) = [r for r in searcher.search(queries, weights, N) if r["id"] == video]
        mixed = sum(w * searcher.catalog.frame_vectors(video, s)[1].astype(np.float64) @ queries[s]
                    for s, w in weights.items())  # fmt: skip
        assert hit["frame"] == int(np.argmax(mixed)) == 1 and hit["time"] == FRAME_TIMES[1]
    image_hit = searcher.search(searcher.query_vectors_for_item(1, SPACES), weights, 1)[0]
    assert "frame" not in image_hit and "time" not in image_hit


def test_new_and_removed_items_show_in_the_next_search(tmp_path: Path, directory: Path) -> None:
    copy = tmp_path / "catalog"
    shutil.copytree(directory, copy)
    with Catalog.open(copy) as catalog, catalog.writing():
        searcher = Searcher(catalog, embedder=FakeEmbedder(SPACES))
        queries = searcher.query_vectors_for_item(3, SPACES)
        weights = {"content": 1.0}
        assert searcher.search(queries, weights, 1)[0]["id"] == 3
        twin = {s: SpaceVectors(v) for s, v in queries.items()}
        (new,) = catalog.write_batch([ItemRecord(path="/m/twin", status="ok", kind="image", vectors=twin)])
        top = searcher.search(queries, weights, 2)
        assert sorted(r["id"] for r in top) == [3, new]  # the same vector: both score 1
        catalog.remove([3])
        assert [r["id"] for r in searcher.search(queries, weights, 1)] == [new]
        assert 3 not in [r["id"] for r in searcher.search(queries, weights, N)]


def test_a_file_query_finds_the_item_added_from_that_file(tmp_path: Path) -> None:
    config_path = tmp_path / "config.yaml"
    config_path.write_text("embed: {spaces: [content, predictor], image_size: 32}\ncatalog: {items_per_batch: 3}\n")
    config = load_config(config_path)
    media = tmp_path / "media"
    media.mkdir()
    files = [make_image(media / f"{i}.png", size=(32, 24), seed=i, pattern=("noise", "gradient", "checker")[i % 3])
             for i in range(6)]  # fmt: skip
    with Catalog.open(tmp_path / "catalog", create=True) as catalog, catalog.writing():
        embedder = catalog_embedder(catalog, config, factory=FakeEmbedder)
        indexes = SpaceIndexes.of(catalog, config.index)
        ids = add_sources(indexes, read_sources([media]), config, embedder, progress=False).added
    with Catalog.open(tmp_path / "catalog") as catalog:
        searcher = Searcher(catalog, embedder=FakeEmbedder(SPACES, image_size=32))
        for path, item_id in zip(files, ids, strict=True):
            queries = searcher.query_vectors_for_media(decode_with_config(path, config))
            best = searcher.search(queries, {"content": 1.0, "predictor": 1.0}, 1)[0]
            assert best["id"] == item_id and best["score"] == pytest.approx(1.0, abs=1e-6)


def test_a_content_query_asks_with_its_mirror_and_stored_regions(tmp_path: Path, directory: Path) -> None:
    copy = tmp_path / "catalog"
    shutil.copytree(directory, copy)
    rng = np.random.default_rng(8)
    with Catalog.open(copy) as catalog, catalog.writing():
        searcher = Searcher(catalog, embedder=FakeEmbedder(SPACES))
        crop, mirrored, other = (searcher.query_vectors_for_item(i, SPACES, views=False) for i in (5, 9, 30))
        regions = _unit(rng, 5, 2048)
        regions[1] = crop["content"]  # the new item's top-right corner is item 5
        whole = mirror(mirrored["content"][None, :])[0]  # and the new item is item 9 mirrored
        vectors = {"content": SpaceVectors(whole, views=regions), "predictor": SpaceVectors(other["predictor"])}
        (new,) = catalog.write_batch([ItemRecord(path="/m/wide", status="ok", kind="image", vectors=vectors)])
        assert np.allclose(catalog.item_views(new, "content", 2048), regions, atol=1e-3)  # stored as float16

        queries = searcher.query_vectors_for_item(new, SPACES)
        assert queries[views_key("content")].shape == (12, 2048) and views_key("predictor") not in queries
        for weights in MIXES:
            order, fused, cosines = _brute_force(searcher, queries, weights)
            results = searcher.search(queries, weights, 10, exclude=[new])
            assert [r["id"] for r in results] == [i for i in order if i != new][:10]
            for r in results:
                assert r["scores"] == pytest.approx(cosines[r["id"]], abs=2e-6)
        top = searcher.search(queries, {"content": 1.0}, 2, exclude=[new])
        assert sorted(r["id"] for r in top) == [5, 9] and [r["score"] for r in top] == pytest.approx([1, 1], abs=2e-3)

        plain = searcher.query_vectors_for_item(new, SPACES, views=False)  # config search.reframe: false
        assert views_key("content") not in plain
        assert 5 not in [r["id"] for r in searcher.search(plain, {"content": 1.0}, 3, exclude=[new])]
        catalog.remove([new])
        assert catalog.item_views(new, "content", 2048) is None
        assert catalog.db.execute("SELECT COUNT(*) FROM views").fetchone()[0] == 0
