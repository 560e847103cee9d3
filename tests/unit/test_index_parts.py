"""Facts about the parts `SpaceIndex` is composed of, each on its own: persistence, dead-node marks, the exact-vector
interface and re-ranking, one search's result rows, and the fused score. Small in-memory indexes: fast."""

from __future__ import annotations

import json
from collections.abc import Collection

import numpy as np
import pytest

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.index import ArrayVectors, ExactVectors, IndexMismatchError, SpaceIndex, fuse, fused_score
from styledex.index.dead_nodes import live_rows, mark_dead, needs_compaction, search_live, stored_vectors
from styledex.index.factory import faiss_ids, make_faiss_index, remove_stored
from styledex.index.persistence import INDEX_FILE, MANIFEST_FILE, load_index, read_manifest, save_index
from styledex.index.query import best_rows
from styledex.index.rerank import rerank
from styledex.space_indexes import CatalogVectors

DIM = 16


pytestmark = pytest.mark.usefixtures("one_faiss_thread")  # FAISS on one thread (tests/unit/conftest.py)


def _unit(n: int, seed: int = 0, dim: int = DIM) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _fields(faiss_index, **extra) -> dict:
    """What a SpaceIndex puts in its manifest, for a raw FAISS index of this test."""
    return {"space": "made-up", "dim": DIM, "metric": "ip", "fingerprint": "fp" * 8, "index_type": "flat",
            "index_params": {}, "count": len(faiss_ids(faiss_index)), "revision": 3, **extra}  # fmt: skip


# -- persistence ------------------------------------------------------------------------------------------------
def test_saved_and_loaded_index_answers_with_the_same_ids_and_scores(tmp_path):
    vectors, ids = _unit(200), np.arange(1000, 1200, dtype=np.int64)
    index = make_faiss_index("flat", DIM, "ip")
    index.add_with_ids(vectors, ids)
    save_index(tmp_path / "space", index, _fields(index))

    assert sorted(p.name for p in (tmp_path / "space").iterdir()) == [INDEX_FILE, MANIFEST_FILE]  # no .tmp left
    manifest = read_manifest(tmp_path / "space" / MANIFEST_FILE)
    assert manifest["format"] == 1 and manifest["count"] == 200 and manifest["revision"] == 3
    assert manifest["file_size"] == (tmp_path / "space" / INDEX_FILE).stat().st_size
    loaded = load_index(tmp_path / "space", expected_fingerprint="fp" * 8, expected_dim=DIM, expected_metric="ip")
    assert loaded.manifest == manifest and loaded.index_params == {}
    queries = _unit(5, seed=1)
    want_scores, want_ids = index.search(queries, 10)
    got_scores, got_ids = loaded.faiss_index.search(queries, 10)
    np.testing.assert_array_equal(got_ids, want_ids)
    np.testing.assert_array_equal(got_scores, want_scores)


def test_manifest_fingerprint_dim_and_metric_checks_refuse_a_mismatch(tmp_path):
    index = make_faiss_index("flat", DIM, "ip")
    index.add_with_ids(_unit(10), np.arange(10, dtype=np.int64))
    save_index(tmp_path / "space", index, _fields(index))
    with pytest.raises(IndexMismatchError, match=r"fingerprint fpfpfpfpfpfp… but the embedder now has otherotherot…"):
        load_index(tmp_path / "space", expected_fingerprint="other" * 4)
    with pytest.raises(IndexMismatchError, match="dim 16 but the space now has dim 17"):
        load_index(tmp_path / "space", expected_dim=17)
    with pytest.raises(IndexMismatchError, match="metric 'ip' but the space now declares 'l2'"):
        load_index(tmp_path / "space", expected_metric="l2")
    # A manifest that describes another file (a crash between the two renames) is refused too.
    path = tmp_path / "space" / MANIFEST_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | {"count": 11}))
    with pytest.raises(IndexMismatchError, match="the manifest says count 11"):
        load_index(tmp_path / "space")


# -- dead-node marks --------------------------------------------------------------------------------------------
def test_dead_marks_hide_removed_ids_and_survive_a_save(tmp_path):
    vectors, ids = _unit(300), np.arange(300, dtype=np.int64) * 7
    index = make_faiss_index("hnsw", DIM, "ip", {"ef_search": 300})
    index.add_with_ids(vectors, ids)
    gone = ids[:50]
    assert mark_dead(index, gone) == 50 and index.ntotal == 300  # the graph keeps its nodes
    assert set(faiss_ids(index).tolist()) == set(ids[50:].tolist())
    id_map, live = live_rows(index)
    assert live.sum() == 250 and set(id_map[live].tolist()) == set(ids[50:].tolist())
    np.testing.assert_array_equal(stored_vectors(index, DIM), vectors)  # float32 storage, FAISS's order = added

    _, labels = search_live(index, vectors[:50], 10, ef_search=300)  # the removed items' own vectors as queries
    assert (labels >= 0).all() and not set(labels.ravel().tolist()) & set(gone.tolist())  # 10 live ones each

    save_index(tmp_path / "space", index, _fields(index, index_type="hnsw", index_params={"ef_search": 300}))
    loaded = load_index(tmp_path / "space")
    assert loaded.manifest["count"] == 250 and set(faiss_ids(loaded.faiss_index).tolist()) == set(ids[50:].tolist())


def test_compaction_is_due_past_a_quarter_of_dead_nodes():
    assert not needs_compaction(100, 75) and needs_compaction(100, 74) and not needs_compaction(0, 0)


def test_only_flat_and_ivfpq_remove_stored_vectors():
    flat = make_faiss_index("flat", DIM, "ip")
    flat.add_with_ids(_unit(5), np.arange(5, dtype=np.int64))
    assert remove_stored(flat, "flat", np.array([1, 3, 9], dtype=np.int64)) == 2 and flat.ntotal == 3
    with pytest.raises(ValueError, match="does not remove stored vectors"):
        remove_stored(make_faiss_index("hnsw", DIM, "ip"), "hnsw", np.array([1], dtype=np.int64))


# -- the exact-vector interface and re-ranking ------------------------------------------------------------------
class _Shifted:
    """`ExactVectors` whose vectors are not what the index stores (so re-ranking visibly uses them); ids in
    `missing` have none, as if another writer removed them."""

    def __init__(self, exact: dict[int, np.ndarray], missing: Collection[int] = ()) -> None:
        self.exact, self.missing, self.calls = exact, missing, 0

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        self.calls += 1
        absent = [int(i) for i in ids if int(i) in self.missing]
        if absent:
            raise KeyError(absent)
        return np.stack([self.exact[int(i)] for i in ids]).reshape(-1, DIM)


def test_rerank_scores_with_the_exact_vectors_and_drops_ids_without_one():
    stored = _unit(20)
    index = make_faiss_index("flat", DIM, "ip")
    index.add_with_ids(stored, np.arange(20, dtype=np.int64))
    query = stored[:1]
    # The exact vectors reverse the stored order: id i's exact vector scores i/20 against the query.
    exact = {i: (i / 20) * query[0] for i in range(20)}
    scores, labels = rerank(index, query, 20, _Shifted(exact), "ip", DIM)
    assert labels[0].tolist() == list(range(19, -1, -1))
    np.testing.assert_allclose(scores[0], [i / 20 for i in range(19, -1, -1)], rtol=1e-5)
    _, labels = rerank(index, query, 20, _Shifted(exact, missing={19, 7}), "ip", DIM)
    assert labels[0].tolist() == [i for i in range(19, -1, -1) if i not in (19, 7)] + [-1, -1]


def test_rerank_reads_shared_candidates_once_and_scores_each_query_exactly():
    stored = _unit(30)
    index = make_faiss_index("flat", DIM, "ip")
    index.add_with_ids(stored, np.arange(30, dtype=np.int64))
    queries = np.ascontiguousarray(stored[:4])
    source = _Shifted({i: stored[i] for i in range(30)})
    scores, labels = rerank(index, queries, 10, source, "ip", DIM)
    assert source.calls == 1  # four queries, one read
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ stored.T, labels, 1), rtol=1e-5)
    assert labels[:, 0].tolist() == [0, 1, 2, 3] and (np.diff(scores, axis=1) <= 1e-6).all()
    distances, l2_labels = rerank(index, queries, 10, source, "l2", DIM)
    assert distances[:, 0].tolist() == [0.0] * 4  # an exact match is exactly 0 away
    np.testing.assert_allclose(distances, ((stored[l2_labels] - queries[:, None]) ** 2).sum(-1), rtol=1e-5)


def test_space_index_honours_the_exact_vectors_interface(tmp_path):
    vectors = _unit(400)
    ids = np.arange(400, dtype=np.int64)
    index = SpaceIndex.from_vectors(tmp_path / "s", ids, vectors, space="made-up", metric="ip", fingerprint="f",
                                    index_type="ivfpq", index_params={"nlist": 4, "m": 4, "nprobe": 4})  # fmt: skip
    assert index.vector_source is None
    with pytest.raises(TypeError, match="must implement ExactVectors"):
        index.vector_source = lambda wanted: vectors[wanted]  # the untyped callback it took before
    source = _Shifted({i: vectors[i] for i in range(400)})
    index.vector_source = source
    assert isinstance(source, ExactVectors) and index.vector_source is source
    np.testing.assert_array_equal(index.reconstruct(5), vectors[5])  # exact, not the PQ approximation
    hits = index.search(vectors[:3], 5)
    # Re-ranked through it: one read for the three queries' candidates together (after reconstruct's one).
    assert [row[0][0] for row in hits] == [0, 1, 2] and source.calls == 2
    np.testing.assert_allclose([row[0][1] for row in hits], 1.0, rtol=1e-5)  # exact cosines of each to itself
    index.vector_source = None
    assert index.reconstruct(5).shape == (DIM,)


def test_array_vectors_and_the_catalog_implement_the_interface(tmp_path):
    rows = _unit(6)
    source = ArrayVectors(rows, first_id=1)
    assert isinstance(source, ExactVectors)
    np.testing.assert_array_equal(source.exact_vectors(np.array([6, 1], dtype=np.int64)), rows[[5, 0]])
    for outside in (0, 7):  # id 0 would be row -1: another item's vector, were it not refused
        with pytest.raises(KeyError):
            source.exact_vectors(np.array([outside], dtype=np.int64))

    with Catalog.open(tmp_path / "catalog", create=True) as catalog:
        (item,) = catalog.write_batch([ItemRecord("a.png", "ok", vectors={"made-up": SpaceVectors(rows[2])})])
        vectors = CatalogVectors(catalog, "made-up", DIM)
        assert isinstance(vectors, ExactVectors)
        np.testing.assert_array_equal(vectors.exact_vectors(np.array([item], dtype=np.int64)), rows[2:3])
        with pytest.raises(KeyError):
            vectors.exact_vectors(np.array([item + 1], dtype=np.int64))


# -- one search's rows, and fusion ------------------------------------------------------------------------------
def test_best_rows_skip_padding_and_excluded_ids():
    scores = np.array([[0.9, 0.8, 0.7, 0.6], [0.5, 0.4, 0.0, 0.0]], dtype=np.float32)
    labels = np.array([[4, 2, 9, 1], [3, 8, -1, -1]], dtype=np.int64)
    rows = best_rows(scores, labels, [{2}, set()], 2)
    assert [[i for i, _ in row] for row in rows] == [[4, 9], [3, 8]]


def test_fused_score_is_the_weighted_mean_of_the_per_space_scores():
    assert fused_score({"style": 0.9, "content": 0.3}, {"style": 0.7, "content": 0.3}) == pytest.approx(0.72)
    assert fused_score({"style": 0.5}, {"style": 2.0, "content": 0.0}) == 0.5  # a zero weight needs no score
    with pytest.raises(KeyError):
        fused_score({"style": 0.5}, {"style": 1.0, "content": 1.0})
    with pytest.raises(ValueError, match="sum to more than 0"):
        fused_score({"style": 0.5}, {"style": 0.0})
    # fuse ranks by the same rule (the lowest listed score filling in where an item is missing from a list).
    results = {"style": [(1, 0.9), (2, 0.5)], "content": [(2, 0.8), (3, 0.1)]}
    weights = {"style": 3.0, "content": 1.0}
    want = {1: fused_score({"style": 0.9, "content": 0.1}, weights), 2: fused_score({"style": 0.5, "content": 0.8},
            weights), 3: fused_score({"style": 0.5, "content": 0.1}, weights)}  # fmt: skip
    assert fuse(results, weights, k=3) == sorted(want.items(), key=lambda pair: (-pair[1], pair[0]))


def test_search_of_an_empty_index_returns_empty_rows(tmp_path):
    empty = SpaceIndex.create(tmp_path / "e", space="made-up", dim=DIM, metric="ip", fingerprint="f")
    assert empty.search(_unit(3), 4) == [[], [], []]
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        empty.search(_unit(1), 0)
    with pytest.raises(ValueError, match="one exclude set per query"):
        empty.search(_unit(2), 1, exclude=[set()])


def test_exact_file_reads_each_ids_latest_row_from_memory_and_from_its_file(tmp_path):
    from styledex.index.exact_file import ExactFile, FileFirst

    rows = _unit(6)
    exact = ExactFile(tmp_path, DIM)
    exact.add(np.array([1, 2, 3]), rows[:3])
    exact.add(np.array([2]), rows[3:4])  # removed and added again: its new vector wins
    np.testing.assert_array_equal(exact.exact_vectors(np.array([3, 2, 1])), rows[[2, 3, 0]])
    assert exact.rows_of(np.array([1, 9]))[1].tolist() == [True, False]
    with pytest.raises(KeyError, match=r"\[9\]"):
        exact.exact_vectors(np.array([1, 9]))
    assert exact.save() == 4
    exact.add(np.array([7]), rows[4:5])  # after the save: one row from the file, one from memory
    np.testing.assert_array_equal(exact.exact_vectors(np.array([7, 2])), rows[[4, 3]])
    exact.add(np.array([8, 9]), rows[5:6].repeat(2, 0))  # past every id: the lookup is extended, not rebuilt
    np.testing.assert_array_equal(exact.exact_vectors(np.array([9, 7, 1])), rows[[5, 4, 0]])
    exact.add(np.array([3]), rows[:1])  # an id below them (re-added): rebuilt, its new row wins
    np.testing.assert_array_equal(exact.exact_vectors(np.array([3, 8])), rows[[0, 5]])
    reopened = ExactFile.open(tmp_path, DIM, 4)
    np.testing.assert_array_equal(reopened.exact_vectors(np.array([2, 1])), rows[[3, 0]])
    # What the file lacks comes from the fallback, in the order asked.
    both = FileFirst(reopened, _Shifted({9: rows[5]}))
    np.testing.assert_array_equal(both.exact_vectors(np.array([9, 1])), rows[[5, 0]])
    assert ExactFile.open(tmp_path, DIM, 5).rows == 0  # the manifest counts more rows than the file has: unused
