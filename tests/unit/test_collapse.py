"""Near-duplicate folding (``collapse``) and queries by several items at once ("more like these"), on catalogs of
hand-made unit vectors in the real ``adain`` (style) and ``content`` spaces: no media, no model forward.

Facts: near-duplicates (close in both spaces) fold into the best-ranked one, which lists the others; the same look
on another subject, or the same subject in another look, never folds; near-duplicates of the query are dropped;
k results still come back after folding; a query of several items is the normalized mean of their vectors, leaves
them out, and mixes as one item does; unknown ids and empty queries are the operations' one-line errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import Config
from styledex.embed.content_views import mirror
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.embed.spaces import resolve
from styledex.operations import CatalogSession, InvalidRequest, NotFound
from styledex.search import Collapse, embed_meta, fold_near_duplicates, near_duplicate_spaces, parse_collapse

SPACES = ("content", "adain")
THRESHOLDS = Config().search.collapse  # style 0.99, content 0.5 (configs/default.yaml)


def _unit(vector: np.ndarray) -> np.ndarray:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def _random(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """n random unit rows per space: space → [n, dim] (random directions: pairwise cosines near 0)."""
    return {space: np.stack([_unit(rng.standard_normal(resolve(space).dim)) for _ in range(n)]) for space in SPACES}


def _nudged(rng: np.random.Generator, vector: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from unit ``vector``."""
    other = rng.standard_normal(vector.shape)
    other -= (other @ vector) * vector
    return _unit(cosine * vector + np.sqrt(1 - cosine**2) * _unit(other))


def _write_catalog(directory: Path, rows: dict[str, np.ndarray]) -> list[int]:
    """A catalog of image items with the given unit rows (space → [n, dim]), the real embedder's fingerprints so
    that a session opens it as any catalog; their ids (1..n)."""
    n = len(rows[SPACES[0]])
    with Catalog.open(directory, create=True) as catalog, catalog.writing():
        embedder = Embedder(list(SPACES))  # weights load on first use only: no forward here
        catalog.set_meta("embed", embed_meta(embedder))
        records = [
            ItemRecord(path=f"/v/{i}.png", status="ok", kind="image", sha256=f"{i:064x}",
                       vectors={space: SpaceVectors(rows[space][i]) for space in SPACES})
            for i in range(n)
        ]  # fmt: skip
        return catalog.write_batch(records)


# -- folding, as a pure function ------------------------------------------------------------------------------
def test_folding_needs_both_spaces_and_keeps_the_best_ranked_of_each_group() -> None:
    rng = np.random.default_rng(0)
    rows = _random(rng, 6)
    query = _random(rng, 1)
    for space in SPACES:
        rows[space][2] = _nudged(rng, rows[space][0], 0.999)  # row 2: a near-duplicate of row 0
        rows[space][5] = _nudged(rng, query[space][0], 0.999)  # row 5: a near-duplicate of the query
    rows["adain"][3] = _nudged(rng, rows["adain"][0], 0.999)  # row 3: row 0's look on another subject
    rows["content"][4] = _nudged(rng, rows["content"][1], 0.999)  # row 4: row 1's subject in another look
    collapse = Collapse({"adain": THRESHOLDS.style, "content": THRESHOLDS.content}, query)

    assert fold_near_duplicates(rows, collapse) == [(0, [2]), (1, []), (3, []), (4, [])]
    # A limit keeps that many groups, and rows past the last one still join the groups kept.
    assert fold_near_duplicates(rows, collapse, limit=1) == [(0, [2])]
    # No query vectors (a CIN anchor): nothing is dropped as the query's.
    empty = {space: rows[space][:0] for space in SPACES}
    assert (5, []) in fold_near_duplicates(rows, Collapse(collapse.thresholds, empty))


def test_the_spaces_and_thresholds_of_folding() -> None:
    # The alias spaces when the catalog has them, else its first space of each kind.
    assert near_duplicate_spaces(["content", "gram", "adain", "predictor"]) == {"style": "adain", "content": "content"}
    assert near_duplicate_spaces(["content", "predictor"]) == {"style": "predictor", "content": "content"}
    assert parse_collapse("style:0.995, content:0.7") == {"style": 0.995, "content": 0.7}
    assert parse_collapse("content:0.8") == {"content": 0.8}
    for bad in ("0.9", "style:1.5", "style:0", "look:0.9", "style:x", "content:0.5,content:0.6", ""):
        with pytest.raises(ValueError, match="expected style:COSINE,content:COSINE"):
            parse_collapse(bad)


# -- folding in a search ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def near_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """30 items: item 1 is the query; items 2..16 are near-duplicates of one another (cosine 0.995 in both
    spaces to a common centre) and the closest to the query; item 17 has item 2's look on another subject; the
    rest are random. (directory, the query's vectors)."""
    rng = np.random.default_rng(1)
    rows = _random(rng, 30)
    for space in SPACES:
        centre = _nudged(rng, rows[space][0], 0.9)  # close to the query, not a near-duplicate of it
        for i in range(1, 16):
            rows[space][i] = _nudged(rng, centre, 0.9975)
    rows["adain"][16] = _nudged(rng, rows["adain"][1], 0.999)
    rows["content"][16] = _nudged(rng, rows["content"][0], 0.3)  # still close enough to the query to rank
    directory = tmp_path_factory.mktemp("collapse") / "catalog"
    assert _write_catalog(directory, rows) == list(range(1, 31))
    return directory, {space: rows[space][0] for space in SPACES}


def test_near_duplicates_fold_into_one_result_and_k_results_still_come_back(near_catalog) -> None:
    directory, _ = near_catalog
    with CatalogSession(directory, Config()) as session:
        plain = session.similar(1, "content:1,style:1", 3)
        folded = session.similar(1, "content:1,style:1", 3, collapse=True)
    assert {hit["id"] for hit in plain} <= set(range(2, 17))  # the cluster fills an unfolded top 3
    assert all("duplicates" not in hit for hit in plain)
    assert len(folded) == 3  # 15 folded into one: the search fetched deeper for the other two
    first = folded[0]
    assert first["id"] == plain[0]["id"]
    assert sorted([first["id"], *first["duplicates"]]) == list(range(2, 17))
    # Item 17 shares item 2's look, not its subject: its own result, not a duplicate.
    assert 17 in [hit["id"] for hit in folded[1:]]
    assert all(hit["duplicates"] == [] for hit in folded[1:])


def test_the_query_and_its_near_duplicates_are_dropped(near_catalog) -> None:
    directory, _ = near_catalog
    with CatalogSession(directory, Config()) as session:
        results = session.similar(2, "style", 5, collapse=True)
        listed = {hit["id"] for hit in results} | {i for hit in results for i in hit["duplicates"]}
        assert not listed & set(range(2, 17))  # item 2 and the 14 near-duplicates of it
        assert len(results) == 5
        # Thresholds above the cluster's cosines: nothing folds, the cluster comes back.
        strict = session.similar(2, "style", 5, collapse={"style": 0.9999, "content": 0.9999})
        assert {hit["id"] for hit in strict} <= set(range(3, 18)) and len(strict) == 5
        with pytest.raises(InvalidRequest, match="style"):
            session.similar(2, "style", 5, collapse={"style": 1.5})


# -- more like these --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mean_catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """20 random items, but item 20's vector in each space is the normalized mean of items 1, 2 and 3's.
    (directory, every row)."""
    rng = np.random.default_rng(2)
    rows = _random(rng, 20)
    for space in SPACES:
        rows[space][19] = aggregate_frames(rows[space][:3])
    directory = tmp_path_factory.mktemp("mean") / "catalog"
    _write_catalog(directory, rows)
    return directory, rows


def test_a_query_by_several_items_ranks_their_mean_first_and_leaves_them_out(mean_catalog) -> None:
    directory, rows = mean_catalog
    weights = {"content": 1.0, "adain": 3.0}
    with CatalogSession(directory, Config()) as session:
        results = session.similar_to([1, 2, 3, 2], [], "content:1,adain:3", 19)
    assert len(results) == 17 and not {1, 2, 3} & {hit["id"] for hit in results}
    assert results[0]["id"] == 20 and results[0]["score"] == pytest.approx(1.0, abs=1e-5)
    # Every score is Σ w·cos / Σ w against the normalized mean of the three items' vectors; in content the best
    # of that mean and its mirror (the items have no stored regions: their query asks with both).
    query = {space: aggregate_frames(rows[space][:3]).astype(np.float64) for space in SPACES}
    for hit in results:
        row = hit["id"] - 1
        cosines = {space: float(rows[space][row] @ query[space]) for space in SPACES}
        cosines["content"] = max(cosines["content"], float(rows["content"][row] @ mirror(query["content"])))
        assert hit["scores"] == pytest.approx(cosines, abs=2e-6)
        assert hit["score"] == pytest.approx(sum(w * cosines[s] for s, w in weights.items()) / 4, abs=2e-6)


def test_unknown_ids_and_empty_queries_are_one_line_errors(mean_catalog) -> None:
    directory, _ = mean_catalog
    with CatalogSession(directory, Config()) as session:
        with pytest.raises(NotFound, match="^no item with id 999$"):
            session.similar_to([1, 999], [], "style", 5)
        with pytest.raises(InvalidRequest, match="needs a query"):
            session.similar_to([], [], "style", 5)
        with pytest.raises(InvalidRequest, match="at most 100 items"):
            session.similar_to(list(range(1, 102)), [], "style", 5)
