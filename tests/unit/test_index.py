"""Facts about styledex.index: exact agreement with brute force, persistence, ids, manifest checks, fusion."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from styledex.index import IndexMismatchError, SpaceIndex, fuse, parse_mix

DIM = 32


def _data(n: int = 300, dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random unit vectors under scattered, non-positional ids."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(10**9, size=n, replace=False).astype(np.int64)
    return ids, vectors


def _brute_force(ids, vectors, queries, k, metric):
    """Exact top-k (ids, scores), higher score better, in float64."""
    v, q = vectors.astype(np.float64), queries.astype(np.float64)
    scores = q @ v.T if metric == "ip" else -((q[:, None, :] - v[None, :, :]) ** 2).sum(-1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ids[order], np.take_along_axis(scores, order, axis=1)


def _index(tmp_path, ids, vectors, metric="ip", **kw) -> SpaceIndex:
    return SpaceIndex.from_vectors(
        tmp_path / "gram", ids, vectors, space="gram", metric=metric, fingerprint="ab12" * 16, **kw
    )


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_search_equals_numpy_brute_force(tmp_path, metric):
    ids, vectors = _data()
    queries = np.random.default_rng(1).standard_normal((25, DIM)).astype(np.float32)
    index = _index(tmp_path, ids, vectors, metric)
    got = index.search(queries, 10)
    want_ids, want_scores = _brute_force(ids, vectors, queries, 10, metric)
    assert [[i for i, _ in row] for row in got] == want_ids.tolist()
    np.testing.assert_allclose([[s for _, s in row] for row in got], want_scores, rtol=1e-5, atol=1e-4)
    if metric == "l2":
        assert all(s <= 1e-5 for row in got for _, s in row)  # minus a squared distance


def test_save_open_roundtrip_preserves_results_and_manifest(tmp_path):
    ids, vectors = _data()
    queries = vectors[:7] + 0.01
    index = _index(tmp_path, ids, vectors)
    before = index.search(queries, 5)
    index.save(revision=42)

    assert sorted(p.name for p in (tmp_path / "gram").iterdir()) == ["index.faiss", "manifest.json"]
    manifest = json.loads((tmp_path / "gram" / "manifest.json").read_text())
    assert manifest["space"] == "gram" and manifest["dim"] == DIM and manifest["metric"] == "ip"
    assert manifest["count"] == len(ids) and manifest["revision"] == 42 and manifest["index_type"] == "flat"
    assert {"fingerprint", "faiss_version", "saved_at", "sha256", "file_size"} <= manifest.keys()

    opened = SpaceIndex.open(tmp_path / "gram", expected_fingerprint="ab12" * 16, expected_dim=DIM)
    assert opened.search(queries, 5) == before
    assert len(opened) == len(ids) and opened.revision == 42 and opened.metric == "ip"
    np.testing.assert_array_equal(opened.ids(), np.sort(ids))
    np.testing.assert_array_equal(opened.reconstruct(int(ids[3])), vectors[3])


def test_ids_are_the_given_ids_and_survive_remove(tmp_path):
    ids, vectors = _data(n=50)
    index = _index(tmp_path, ids, vectors)
    # Each vector finds itself first, under its own id (not its row position).
    assert [row[0][0] for row in index.search(vectors, 1)] == ids.tolist()

    gone = int(ids[10])
    assert index.remove([gone, 123]) == 1  # 123 is not present: ignored
    assert len(index) == 49 and gone not in index and int(ids[11]) in index
    assert gone not in index.ids().tolist() and len(index.ids()) == 49
    assert all(gone not in [i for i, _ in row] for row in index.search(vectors, 49))
    # The others still find themselves, with unchanged vectors.
    keep = np.arange(50) != 10
    assert [row[0][0] for row in index.search(vectors[keep], 1)] == ids[keep].tolist()
    np.testing.assert_array_equal(index.reconstruct(int(ids[11])), vectors[11])
    with pytest.raises(KeyError):
        index.reconstruct(gone)
    # A removed id may be added again.
    index.add(np.array([gone]), vectors[10:11])
    assert gone in index and len(index) == 50


def test_exclude_drops_ids_and_still_returns_k(tmp_path):
    ids, vectors = _data(n=40)
    index = _index(tmp_path, ids, vectors)
    full = index.search(vectors[:2], 7)
    dropped = {full[0][0][0], full[0][2][0]}
    got = index.search(vectors[:2], 5, exclude=[dropped, set()])
    assert got[0] == [pair for pair in full[0] if pair[0] not in dropped][:5]
    assert len(got[0]) == 5 and got[1] == full[1][:5]


def test_k_larger_than_ntotal_returns_everything_without_padding(tmp_path):
    ids, vectors = _data(n=5)
    index = _index(tmp_path, ids, vectors)
    got = index.search(vectors[:1], 50)[0]
    assert sorted(i for i, _ in got) == sorted(ids.tolist())
    assert index.search(vectors[:1], 50, exclude=[{int(ids[0])}])[0] == got[1:]
    empty = SpaceIndex.create(tmp_path / "e", space="e", dim=DIM, metric="ip", fingerprint="f")
    assert empty.search(vectors[:2], 3) == [[], []]


def test_fingerprint_and_dim_mismatch_raise_one_line_with_both_values(tmp_path):
    ids, vectors = _data(n=10)
    _index(tmp_path, ids, vectors).save()
    with pytest.raises(IndexMismatchError) as err:
        SpaceIndex.open(tmp_path / "gram", expected_fingerprint="cd34" * 16)
    message = str(err.value)
    assert "\n" not in message and "ab12" in message and "cd34" in message and "gram" in message
    with pytest.raises(IndexMismatchError) as err:
        SpaceIndex.open(tmp_path / "gram", expected_dim=2944)
    message = str(err.value)
    assert "\n" not in message and str(DIM) in message and "2944" in message
    assert isinstance(err.value, ValueError)


def test_missing_directory_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no index directory"):
        SpaceIndex.open(tmp_path / "nowhere")


def test_index_file_that_disagrees_with_manifest_raises(tmp_path):
    # A crash between the two renames leaves a new index.faiss beside the old manifest.
    ids, vectors = _data(n=20)
    _index(tmp_path, ids, vectors).save()
    old_manifest = (tmp_path / "gram" / "manifest.json").read_text()
    _index(tmp_path, ids[:15], vectors[:15]).save()
    (tmp_path / "gram" / "manifest.json").write_text(old_manifest)
    with pytest.raises(IndexMismatchError, match="interrupted save"):
        SpaceIndex.open(tmp_path / "gram")

    # Same size and hash as the manifest says, but a different count: caught by the count check.
    manifest = json.loads(old_manifest)
    new_bytes = (tmp_path / "gram" / "index.faiss").read_bytes()
    manifest.update(file_size=len(new_bytes), sha256=hashlib.sha256(new_bytes).hexdigest())
    (tmp_path / "gram" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="count 20 but index.faiss has 15"):
        SpaceIndex.open(tmp_path / "gram")


def test_add_rejects_duplicates_and_bad_shapes(tmp_path):
    index = SpaceIndex.create(tmp_path / "adain", space="adain", dim=2944, metric="ip", fingerprint="f")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"^expected vectors of shape \(n, 2944\), got \(3, 100\)$"):
        index.add(np.arange(3), rng.standard_normal((3, 100)))
    index.add(np.arange(3), rng.standard_normal((3, 2944)))  # float64 accepted, stored as float32
    assert index.reconstruct(0).dtype == np.float32
    with pytest.raises(ValueError, match="already in index"):
        index.add(np.array([2, 3]), rng.standard_normal((2, 2944)))
    with pytest.raises(ValueError, match="repeated"):
        index.add(np.array([7, 7]), rng.standard_normal((2, 2944)))
    with pytest.raises(ValueError, match="integer ids"):
        index.add(np.array([8.0]), rng.standard_normal((1, 2944)))
    with pytest.raises(ValueError, match="2 ids but 1 vectors"):
        index.add(np.array([8, 9]), rng.standard_normal((1, 2944)))
    with pytest.raises(ValueError, match=r"expected queries of shape \(q, 2944\)"):
        index.search(np.zeros((1, 3), dtype=np.float32), 1)
    assert len(index) == 3  # nothing partial was added


def test_rebuild_replaces_content(tmp_path):
    ids, vectors = _data(n=30)
    index = _index(tmp_path, ids, vectors)
    index.rebuild(ids[:10], vectors[:10])
    assert len(index) == 10 and np.array_equal(index.ids(), np.sort(ids[:10]))


def test_hnsw_finds_nearest_and_roundtrips(tmp_path):
    ids, vectors = _data(n=200)
    index = _index(tmp_path, ids, vectors, index_type="hnsw", index_params={"ef_search": 100})
    assert [row[0][0] for row in index.search(vectors[:20], 1)] == ids[:20].tolist()
    assert index.remove([int(ids[0])]) == 1 and int(ids[0]) not in index and len(index) == 199
    index.save()
    opened = SpaceIndex.open(tmp_path / "gram")
    assert opened.index_type == "hnsw" and opened.index_params["ef_search"] == 100 and len(opened) == 199


def test_hnsw_remove_marks_nodes_dead_without_rebuilding_and_compacts_past_the_share(tmp_path, monkeypatch):
    import faiss

    ids, vectors = _data(n=400)
    index = _index(tmp_path, ids, vectors, index_type="hnsw", index_params={"ef_search": 200})
    queries = vectors[:40]
    gone = {int(i) for i in ids[:60]}  # 15% of the graph: below COMPACT_DEAD_SHARE, so no rebuild
    monkeypatch.setattr(SpaceIndex, "rebuild", lambda *a: pytest.fail("a removal below the share rebuilt the graph"))
    assert index.remove(sorted(gone)) == 60
    monkeypatch.undo()
    assert len(index) == 340 and not gone & set(index.ids().tolist()) and all(i not in index for i in gone)
    with pytest.raises(KeyError):
        index.reconstruct(int(ids[0]))
    np.testing.assert_array_equal(index.reconstruct(int(ids[70])), vectors[70])

    # k live results per query, the same ones an exact search over the items left finds (400 items, ef 200).
    live_ids, live_vecs = ids[60:], vectors[60:]
    want, _ = _brute_force(live_ids, live_vecs, queries, 10, "ip")
    got = index.search(queries, 10)
    assert [[i for i, _ in row] for row in got] == want.tolist()

    # The dead marks are saved with the graph: the manifest counts live items and a reopened index answers alike.
    index.save()
    assert json.loads((tmp_path / "gram" / "manifest.json").read_text())["count"] == 340
    opened = SpaceIndex.open(tmp_path / "gram")
    assert len(opened) == 340 and opened.search(queries, 10) == got

    # A removed id can come back (as a new node); past the share the graph is rebuilt from the live nodes only.
    opened.add(ids[:1], vectors[:1])
    assert opened.search(vectors[:1], 1)[0][0][0] == int(ids[0]) and len(opened) == 341
    assert opened.remove(ids[1:60].tolist() + ids[60:100].tolist()) == 40  # 60 + 40 dead of 401 nodes: no rebuild
    assert opened._index.ntotal == 401
    opened.remove([int(ids[100])])  # 101 dead of 401 nodes > 25%: compacted
    assert opened._index.ntotal == len(opened) == 300 == faiss.downcast_index(opened._index.index).ntotal
    want, _ = _brute_force(np.concatenate([ids[:1], ids[101:]]), np.concatenate([vectors[:1], vectors[101:]]),
                           queries, 10, "ip")  # fmt: skip
    assert [[i for i, _ in row] for row in opened.search(queries, 10)] == want.tolist()


def test_one_query_flat_search_runs_on_one_faiss_thread_and_restores_the_setting(tmp_path, monkeypatch):
    import faiss

    ids, vectors = _data()
    index = _index(tmp_path, ids, vectors)
    batch = index.search(vectors[:5], 4)
    seen: list[int] = []
    real_search = index._index.search
    monkeypatch.setattr(index._index, "search", lambda *a, **kw: seen.append(faiss.omp_get_max_threads())
                        or real_search(*a, **kw))  # fmt: skip
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        singles = [index.search(vectors[i : i + 1], 4)[0] for i in range(5)]
        assert faiss.omp_get_max_threads() == 2  # the caller's setting is back
        index.search(vectors[:5], 4)
    finally:
        faiss.omp_set_num_threads(previous)
    assert seen == [1] * 5 + [2]  # one query: one thread; a batch keeps the caller's threads
    # A batch of 3+ is one matrix product (index/threads.py), one query a scan: the same results, scores to rounding.
    assert [[i for i, _ in row] for row in singles] == [[i for i, _ in row] for row in batch]
    assert np.allclose([[s for _, s in row] for row in singles], [[s for _, s in row] for row in batch], atol=1e-6)


def test_fuse_weighted_mean_with_lowest_score_fill():
    results = {
        "style": [(1, 0.9), (2, 0.5), (3, 0.1)],
        "content": [(2, 0.8), (4, 0.6)],
        "unused": [(9, 1.0)],
    }
    got = fuse(results, {"style": 3.0, "content": 1.0}, k=4)
    # A missing item takes that list's lowest score: 0.6 in content, 0.1 in style.
    # id 1: (3*0.9 + 0.6)/4; id 2: (3*0.5 + 0.8)/4; ids 3 and 4: (3*0.1 + 0.6)/4, a tie broken by id.
    assert [i for i, _ in got] == [1, 2, 3, 4]
    np.testing.assert_allclose([s for _, s in got], [3.3 / 4, 2.3 / 4, 0.9 / 4, 0.9 / 4])
    assert [i for i, _ in fuse(results, {"style": 3.0, "content": 1.0}, k=2)] == [1, 2]
    assert fuse(results, {"style": 1.0, "content": 0.0}, k=2) == [(1, 0.9), (2, 0.5)]
    with pytest.raises(ValueError, match="missing"):
        fuse(results, {"missing": 1.0}, k=1)
    with pytest.raises(ValueError, match="all be zero"):
        fuse(results, {"style": 0.0}, k=1)


def test_parse_mix_good_and_bad():
    assert parse_mix("style:0.7,content:0.3") == {"style": 0.7, "content": 0.3}
    assert parse_mix("style") == {"style": 1.0}
    assert parse_mix(" gram : 2 , adain:0 ") == {"gram": 2.0, "adain": 0.0}
    with pytest.raises(ValueError) as err:
        parse_mix("style:abc")
    assert str(err.value) == "expected NAME or NAME:WEIGHT[,NAME:WEIGHT...], got 'style:abc'"
    for bad in ["", "style:", ":0.5", "style:-1", "style:0,content:0", "style:nan", "a:1,a:2", "a b:1"]:
        with pytest.raises(ValueError):
            parse_mix(bad)


# -- ivfpq and hnsw-sq8 ----------------------------------------------------------------------------------------
pytestmark_trained = pytest.mark.usefixtures("one_faiss_thread")  # tests/unit/conftest.py


def _clustered(n: int = 3000, dim: int = DIM, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around 30 random centres (real embeddings cluster; isotropic noise is the ANN worst case)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((30, dim))
    vectors = (centres[rng.integers(30, size=n)] + 0.6 * rng.standard_normal((n, dim))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return rng.choice(10**9, size=n, replace=False).astype(np.int64), vectors


def _recall(got, want_ids) -> float:
    overlaps = [len({i for i, _ in row} & set(want)) / len(want) for row, want in zip(got, want_ids, strict=True)]
    return float(np.mean(overlaps))


IVFPQ = {"nlist": 32, "m": 8, "nprobe": 8}


class _ById:
    """The exact vectors (`ExactVectors`) of a dict id -> vector; `asked` records how many ids each call asked for."""

    def __init__(self, by_id: dict[int, np.ndarray]) -> None:
        self.by_id = by_id
        self.asked: list[int] = []

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        self.asked.append(len(ids))
        return np.stack([self.by_id[int(i)] for i in ids]).reshape(-1, DIM)


@pytest.mark.parametrize("opq", [0, 1])
@pytestmark_trained
def test_ivfpq_roundtrip_remove_and_manifest(tmp_path, opq):
    ids, vectors = _clustered()
    policy = {"chosen_by": "test", "count": len(ids), "budget_bytes": 1, "reason": "why"}
    index = _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ | {"opq": opq}, policy=policy)
    assert index.index_type == "ivfpq" and len(index) == len(ids) and index.is_trained
    queries = vectors[:20]
    before = index.search(queries, 5)
    assert [row[0][0] for row in before].count(None) == 0
    # Without exact vectors, reconstruct returns the PQ approximation: close, not equal.
    approx = index.reconstruct(int(ids[3]))
    assert approx.shape == (DIM,) and 0 < np.abs(approx - vectors[3]).max() < 0.5

    gone = [int(i) for i in ids[:10]]
    assert index.remove(gone + [123]) == 10 and len(index) == len(ids) - 10
    assert not any(g in index for g in gone) and len(index.ids()) == len(ids) - 10
    assert all(g not in {i for i, _ in row} for row in index.search(vectors[:10], 50) for g in gone)
    index.save(revision=7)

    manifest = json.loads((tmp_path / "gram" / "manifest.json").read_text())
    assert manifest["index_type"] == "ivfpq" and manifest["index_params"]["opq"] == opq
    assert manifest["count"] == len(ids) - 10 and manifest["policy"] == policy
    opened = SpaceIndex.open(tmp_path / "gram", expected_fingerprint="ab12" * 16, expected_dim=DIM)
    assert opened.index_type == "ivfpq" and opened.policy == policy and opened.revision == 7
    assert opened.index_params == index.index_params and len(opened) == len(ids) - 10
    np.testing.assert_array_equal(opened.ids(), np.sort(ids[10:]))
    assert opened.search(queries[10:], 5) == index.search(queries[10:], 5)
    # A removed id can come back (the trained quantizer stays: adds just encode).
    opened.add(ids[:1], vectors[:1])
    assert int(ids[0]) in opened and len(opened) == len(ids) - 9


@pytestmark_trained
def test_ivfpq_recall_against_flat_with_and_without_rerank(tmp_path):
    ids, vectors = _clustered()
    queries = vectors[:50] + 0.05 * np.random.default_rng(3).standard_normal((50, DIM)).astype(np.float32)
    truth, _ = _brute_force(ids, vectors, queries, 10, "ip")
    index = _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ)
    plain = _recall(index.search(queries, 10), truth)
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    index.vector_source = _ById(by_id)
    reranked = index.search(queries, 10)
    assert _recall(reranked, truth) >= 0.95 and _recall(reranked, truth) >= plain
    assert plain >= 0.4  # PQ scores alone: 8 bytes per 32-d vector
    # Re-ranked scores are the exact inner products, best first; reconstruct is exact too.
    for q, row in zip(queries, reranked, strict=True):
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
        np.testing.assert_allclose(scores, [float(by_id[i] @ q) for i, _ in row], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(index.reconstruct(int(ids[5])), vectors[5])


@pytestmark_trained
def test_search_params_change_queries_not_the_build(tmp_path):
    ids, vectors = _clustered()
    queries = vectors[:40] + 0.05 * np.random.default_rng(4).standard_normal((40, DIM)).astype(np.float32)
    truth, _ = _brute_force(ids, vectors, queries, 10, "ip")
    index = _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ | {"nprobe": 1, "rerank": 0})
    one_list = _recall(index.search(queries, 10), truth)
    # Every list visited: each query scans all codes, so only PQ ordering errors remain; re-ranking 200 exact
    # candidates then finds the true 10 (their PQ ranks sit far inside 200 for 8-byte codes of 32-d vectors).
    index.set_search_params(nprobe=IVFPQ["nlist"])
    all_lists = _recall(index.search(queries, 10), truth)
    by_id = dict(zip(ids.tolist(), vectors, strict=True))
    index.vector_source = _ById(by_id)
    index.set_search_params(rerank=200)
    assert _recall(index.search(queries, 10), truth) == 1.0
    assert one_list < all_lists < 1.0
    assert index.index_params == IVFPQ | {"nprobe": IVFPQ["nlist"], "rerank": 200, "nbits": 8, "opq": 0}
    index.save()
    assert SpaceIndex.open(tmp_path / "gram").index_params["nprobe"] == IVFPQ["nlist"]
    with pytest.raises(ValueError, match=r"\['m'\] cannot change once the ivfpq index is built; query-time"):
        index.set_search_params(m=4)
    with pytest.raises(ValueError, match="out of range"):
        index.set_search_params(rerank=-1)
    flat = _index(tmp_path / "flat", ids[:50], vectors[:50])
    with pytest.raises(ValueError, match="query-time: none"):
        flat.set_search_params(nprobe=2)


@pytestmark_trained
def test_ivfpq_reranks_ten_candidates_per_result(tmp_path):
    # Deep queries need slack beyond k: at 1M items 101 candidates for 100 results lost 0.044 P@5, 1000 none.
    ids, vectors = _clustered()
    index = _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ | {"nprobe": 32, "rerank": 100})
    source = _ById(dict(zip(ids.tolist(), vectors, strict=True)))
    asked = source.asked
    index.vector_source = source
    # max(rerank 100, 10 x (k + excluded)), at most every item (3000)
    cases = ((5, None, 100), (10, None, 100), (30, None, 300), (30, [{1, 2}], 320), (400, None, 3000))
    for k, exclude, expected in cases:
        asked.clear()
        found = index.search(vectors[:1], k, exclude=exclude)[0]
        assert asked == [expected] and len(found) == k


@pytestmark_trained
def test_ivfpq_needs_training_data(tmp_path):
    empty = SpaceIndex.create(tmp_path / "e", space="e", dim=DIM, metric="ip", fingerprint="f", index_type="ivfpq",
                              index_params=IVFPQ)  # fmt: skip
    assert not empty.is_trained and empty.search(np.zeros((1, DIM), np.float32), 3) == [[]]
    ids, vectors = _clustered(n=300)
    with pytest.raises(ValueError, match="not trained"):
        empty.add(ids, vectors)
    with pytest.raises(ValueError, match="at least 256 training vectors"):
        _index(tmp_path, ids[:100], vectors[:100], index_type="ivfpq", index_params=IVFPQ)
    with pytest.raises(ValueError, match="must divide dim"):
        _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ | {"m": 5})
    with pytest.raises(ValueError, match="out of range"):
        _index(tmp_path, ids, vectors, index_type="ivfpq", index_params=IVFPQ | {"opq": 2})


def test_manifest_type_must_match_the_faiss_file(tmp_path):
    ids, vectors = _clustered(n=300)
    _index(tmp_path, ids, vectors).save()
    path = tmp_path / "gram" / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"index_type": "ivfpq", "index_params": IVFPQ}))
    with pytest.raises(IndexMismatchError, match="expected a FAISS IndexIVFPQ or IndexPreTransform"):
        SpaceIndex.open(tmp_path / "gram")


@pytestmark_trained
def test_hnsw_sq8_trains_on_build_and_roundtrips(tmp_path):
    ids, vectors = _clustered(n=1000)
    index = _index(tmp_path, ids, vectors, index_type="hnsw", index_params={"sq8": 1, "ef_search": 100})
    assert [row[0][0] for row in index.search(vectors[:20], 1)] == ids[:20].tolist()
    assert index.remove([int(ids[0])]) == 1 and len(index) == 999
    index.save()
    _index(tmp_path / "f", ids[1:], vectors[1:], index_type="hnsw").save()
    sq8_size, flat_size = ((d / "gram" / "index.faiss").stat().st_size for d in (tmp_path, tmp_path / "f"))
    assert flat_size - sq8_size >= 0.9 * 3 * DIM * 999  # 1 byte per dimension instead of 4; the same graph
    opened = SpaceIndex.open(tmp_path / "gram")
    assert opened.index_params["sq8"] == 1 and len(opened) == 999


@pytestmark_trained
def test_hnsw_over_principal_components_reranks_with_its_own_exact_vectors_and_roundtrips(tmp_path):
    import faiss

    from styledex.index.exact_file import IDS_FILE, ROWS_FILE
    from styledex.index.factory import hnsw_of

    ids, vectors = _clustered(n=2000)
    queries = vectors[:40] + 0.05 * np.random.default_rng(5).standard_normal((40, DIM)).astype(np.float32)
    truth, _ = _brute_force(ids, vectors, queries, 10, "ip")
    empty = SpaceIndex.create(tmp_path / "e", space="e", dim=DIM, metric="ip", fingerprint="f", index_type="hnsw",
                              index_params={"pca": 8})  # fmt: skip
    assert not empty.is_trained  # the principal directions are learned from the vectors
    index = _index(tmp_path, ids, vectors, index_type="hnsw", index_params={"pca": 8, "ef_search": 64})
    # Without re-ranking the graph's own order over 8 of 32 dims; re-ranked (its own copy of the exact vectors,
    # no vector_source needed) the exact inner products, best first.
    index.set_search_params(rerank=0)
    plain = index.search(queries, 10)
    index.set_search_params(rerank=100)
    reranked = index.search(queries, 10)
    assert _recall(reranked, truth) >= 0.95 and _recall(reranked, truth) > _recall(plain, truth)
    exact = dict(zip(ids.tolist(), vectors, strict=True))
    for q, row in zip(queries, reranked, strict=True):
        np.testing.assert_allclose([s for _, s in row], [float(exact[i] @ q) for i, _ in row], rtol=1e-5, atol=1e-5)
    # Unranked scores are the graph's distances turned into cosines of unit vectors (1 - d/2). A projection only
    # shortens distances, so for unit queries they bound the exact cosines from above.
    units = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    index.set_search_params(rerank=0)
    for q, row in zip(units, index.search(units, 10), strict=True):
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
        assert all(s >= float(exact[i] @ q) - 1e-4 for i, s in row)
    index.set_search_params(rerank=100)
    np.testing.assert_array_equal(index.reconstruct(int(ids[5])), vectors[5])
    # 8 floats per item in the graph instead of 32; the exact vectors lie beside it, read through a memory map.
    index.save()
    _index(tmp_path / "whole", ids, vectors, index_type="hnsw").save()
    reduced_size, whole_size = ((d / "gram" / "index.faiss").stat().st_size for d in (tmp_path, tmp_path / "whole"))
    assert whole_size - reduced_size >= 0.9 * 4 * (DIM - 8) * len(ids)
    assert (tmp_path / "gram" / ROWS_FILE).stat().st_size == 4 * DIM * len(ids)
    assert json.loads((tmp_path / "gram" / "manifest.json").read_text())["exact_rows"] == len(ids)
    opened = SpaceIndex.open(tmp_path / "gram")
    assert opened.index_params["pca"] == 8 and hnsw_of(opened._index).hnsw.efSearch == 64
    assert faiss.downcast_index(opened._index.index).metric_type == faiss.METRIC_INNER_PRODUCT  # as the manifest
    assert opened.search(queries, 10) == reranked and opened.vector_source is None
    opened.set_search_params(ef_search=128, rerank=300)  # query-time, like ivfpq's
    assert hnsw_of(opened._index).hnsw.efSearch == 128 and _recall(opened.search(queries, 10), truth) >= 0.95

    # Items added after the save are read from memory until the next save appends them. Rows a crashed save appended
    # past the manifest's count are ignored; a missing file leaves the reading to vector_source.
    more_ids, more = _clustered(n=50, seed=9)
    opened.add(more_ids, more)
    np.testing.assert_array_equal(opened.reconstruct(int(more_ids[3])), more[3])
    with (tmp_path / "gram" / ROWS_FILE).open("ab") as f:
        f.write(np.ones((7, DIM), np.float32).tobytes())  # a crash between the append and the manifest
    assert SpaceIndex.open(tmp_path / "gram")._exact.rows == len(ids)
    opened.save()
    assert (tmp_path / "gram" / ROWS_FILE).stat().st_size == 4 * DIM * (len(ids) + 50)  # the 7 overwritten
    again = SpaceIndex.open(tmp_path / "gram")
    np.testing.assert_array_equal(again.reconstruct(int(more_ids[3])), more[3])
    (tmp_path / "gram" / IDS_FILE).unlink()
    lost = SpaceIndex.open(tmp_path / "gram")
    source = _ById(exact | dict(zip(more_ids.tolist(), more, strict=True)))
    lost.vector_source = source
    assert lost.search(queries, 10) == reranked and sum(source.asked) > 0


@pytestmark_trained
def test_hnsw_over_principal_components_removes_compacts_and_refuses_bad_settings(tmp_path):
    ids, vectors = _clustered(n=1000)
    index = _index(tmp_path, ids, vectors, index_type="hnsw", index_params={"pca": 8, "ef_search": 100})
    index.save()
    assert index.remove(ids[:300].tolist()) == 300  # 30% dead: compacted, re-encoded from the exact vectors
    assert index._index.ntotal == len(index) == 700 and index._exact.rows == 700
    queries = vectors[300:340]
    truth, _ = _brute_force(ids[300:], vectors[300:], queries, 10, "ip")
    got = index.search(queries, 10)
    assert _recall(got, truth) >= 0.95 and not {i for row in got for i, _ in row} & set(ids[:300].tolist())
    index.save()  # the compacted file is written anew: the removed items' rows are gone
    assert SpaceIndex.open(tmp_path / "gram")._exact.rows == 700
    with pytest.raises(ValueError, match="pca=32 must be below the vectors' dim 32"):
        _index(tmp_path / "a", ids, vectors, index_type="hnsw", index_params={"pca": DIM})
    with pytest.raises(ValueError, match="pca and sq8 are two ways"):
        _index(tmp_path / "b", ids, vectors, index_type="hnsw", index_params={"pca": 8, "sq8": 1})
    with pytest.raises(ValueError, match="needs more than 8 training vectors, got 8"):
        _index(tmp_path / "c", ids[:8], vectors[:8], index_type="hnsw", index_params={"pca": 8})
