"""The retrieval metrics of `styledex eval` on hand-made rankings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from styledex.evaluation.index_eval import fitted_distractors, index_rankings, restrict
from styledex.evaluation.retrieval import precision_and_ap, ranked_precision_and_ap, retrieval_metrics, top1_same_label


def test_precision_and_ap_known_ranking() -> None:
    # ranking: hit, miss, hit, miss, miss, miss → P@5 = 2 / min(5, 2) = 1.0, AP = (1/1 + 2/3) / 2
    scores = np.array([6, 5, 4, 3, 2, 1], dtype=float)
    relevant = np.array([1, 0, 1, 0, 0, 0], dtype=bool)
    p, ap = precision_and_ap(scores, relevant, k=5)
    assert p == 1.0
    assert ap == pytest.approx((1 + 2 / 3) / 2)
    p, _ = precision_and_ap(scores, relevant, k=2)
    assert p == 0.5


def test_precision_with_more_relevant_than_k() -> None:
    scores = np.arange(10, 0, -1, dtype=float)
    relevant = np.array([1, 1, 0, 1, 1, 1, 1, 0, 0, 0], dtype=bool)
    p, ap = precision_and_ap(scores, relevant, k=5)
    assert p == pytest.approx(4 / 5)
    assert 0 < ap < 1


def _unit(rows: list[list[float]]) -> np.ndarray:
    m = np.array(rows, dtype=np.float64)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_items_with_both_labels_equal_are_left_out() -> None:
    """Item 1 shares content and style with item 0 (the clip's other segment): it must neither help nor hurt."""
    vectors = _unit([[1, 0], [1, 0.01], [1, 0.1], [0, 1]])
    content = np.array(["a", "a", "a", "b"])
    style = np.array(["x", "x", "y", "x"])
    queries = np.array([True, False, False, False])
    p, ap = retrieval_metrics(vectors, content, style, queries, k=1)
    # for query 0 the only content hit is item 2 (same content, other style); item 1 is skipped, so rank 1
    assert (p, ap) == (1.0, 1.0)


def test_perfect_and_useless_spaces() -> None:
    content = np.array(["a", "a", "b", "b"])
    style = np.array(["x", "y", "x", "y"])
    by_content = _unit([[1, 0.1], [1, -0.1], [0.1, 1], [-0.1, 1]])
    all_queries = np.ones(4, dtype=bool)
    assert retrieval_metrics(by_content, content, style, all_queries, k=1) == (1.0, 1.0)
    assert retrieval_metrics(by_content, style, content, all_queries, k=1)[0] == 0.0


def test_top1_same_label_skips_singletons_and_unknown() -> None:
    vectors = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 1]])
    labels = np.array(["artist:a", "artist:a", "artist:b", "artist:unknown", "artist:unknown"])
    # queries: items 0 and 1 (artist a); both find each other
    assert top1_same_label(vectors, labels) == 1.0


def test_truncated_ranking_counts_missing_relevant_as_not_found() -> None:
    hits = np.array([True, False, True])  # the index returned 3 items; a 4th relevant item was never returned
    p, ap = ranked_precision_and_ap(hits, relevant_total=3, k=5)
    assert p == pytest.approx(2 / 3)
    assert ap == pytest.approx((1 / 1 + 2 / 3) / 3)


def test_given_rankings_reproduce_exact_metrics() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((30, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    content = np.array([f"c{i % 5}" for i in range(30)])
    style = np.array([f"s{i % 3}" for i in range(30)])
    queries = np.arange(30) % 2 == 0
    sims = vectors @ vectors.T
    rankings = [np.array([j for j in np.argsort(-sims[q], kind="stable") if j != q]) for q in range(30)]
    for same, other in ((content, style), (style, content)):
        exact = retrieval_metrics(vectors, same, other, queries)
        assert retrieval_metrics(vectors, same, other, queries, rankings=rankings) == pytest.approx(exact)
    assert top1_same_label(vectors, style, rankings=rankings) == top1_same_label(vectors, style)


def test_fitted_distractors_lie_where_the_sample_lies() -> None:
    rng = np.random.default_rng(1)
    base = rng.standard_normal((10, 16)).astype(np.float32) + 3.0
    vectors = base / np.linalg.norm(base, axis=1, keepdims=True)
    extra = fitted_distractors(vectors, 20_000, seed=0)
    assert extra.shape == (20_000, 16) and extra.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(extra, axis=1), 1.0, atol=1e-5)
    # mean + combinations of the centred rows, then scaled: inside span(mean, centred rows), a 10-d subspace of 16-d
    span = np.linalg.qr(np.vstack([vectors.mean(0), vectors - vectors.mean(0)]).T)[0][:, :10]
    outside = extra - (extra @ span) @ span.T
    assert np.abs(outside).max() < 1e-4
    # and around the sample's mean direction, with the sample's spread along it
    cos = (extra @ vectors.mean(0)) / np.linalg.norm(vectors.mean(0))
    sample_cos = (vectors @ vectors.mean(0)) / np.linalg.norm(vectors.mean(0))
    assert abs(np.median(cos) - np.median(sample_cos)) < 0.02


def test_restrict_maps_rows_to_subset_positions() -> None:
    rankings = [np.array([3, 1, 2]), np.array([0, 2, 3]), np.array([1, 0]), np.array([2, 0, 1])]
    out = restrict(rankings, np.array([0, 2, 3]))
    assert [r.tolist() for r in out] == [[2, 1], [0], [1, 0]]


def test_flat_index_rankings_equal_exact_prefix(tmp_path) -> None:
    rng = np.random.default_rng(2)
    vectors = rng.standard_normal((50, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ranked = index_rankings(
        vectors, space="adain", metric="ip", index_type="flat", directory=tmp_path, distractors=500, depth=40
    )
    assert ranked.index_type == "flat" and ranked.items == 50 and ranked.distractors == 500
    sims = vectors @ vectors.T
    for q, ranking in enumerate(ranked.rankings):
        assert q not in ranking and len(ranking) <= 40
        exact = [j for j in np.argsort(-sims[q], kind="stable") if j != q]
        assert ranking.tolist() == exact[: len(ranking)]
    # exact search is the reference, and flat is exact
    assert [r.tolist() for r in ranked.exact_rankings] == [r.tolist() for r in ranked.rankings]
    # with 500 fitted distractors, some of the 40 slots go to them: rankings are truncated, not padded
    assert min(len(r) for r in ranked.rankings) < 40


def test_auto_index_is_the_policys_choice_with_the_config_thresholds(tmp_path) -> None:
    # 50 items + 500 distractors: flat under the default flat_max_items (5000), hnsw once the config lowers it.
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((50, 24)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kwargs = dict(space="adain", metric="ip", index_type="auto", distractors=500, depth=20)
    small = index_rankings(vectors, directory=tmp_path / "a", **kwargs)
    assert small.index_type == "flat" and "550 <= 5000 items" in small.reason
    lowered = index_rankings(vectors, directory=tmp_path / "b", thresholds={"flat_max_items": 100}, **kwargs)
    assert lowered.index_type == "hnsw" and lowered.params["sq8"] == 0 and "float32 hnsw fits" in lowered.reason


def test_index_rankings_read_in_chunks_equal_one_pass(tmp_path, monkeypatch) -> None:
    # The vectors file is read back a chunk at a time (1M distractors do not fit in memory): the build, the
    # re-ranking and the exact reference must not depend on the chunk size.
    import styledex.evaluation.index_eval as eval_index

    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((40, 32)).astype(np.float32) + 1.0
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    kwargs = dict(space="adain", metric="ip", index_type="ivfpq", distractors=700, depth=30)
    whole = index_rankings(vectors, directory=tmp_path / "whole", **kwargs)
    monkeypatch.setattr(eval_index, "ADD_CHUNK", 97)
    chunked = index_rankings(vectors, directory=tmp_path / "chunked", **kwargs)
    assert whole.index_type == "ivfpq" and whole.params == chunked.params
    assert [r.tolist() for r in chunked.rankings] == [r.tolist() for r in whole.rankings]
    assert [r.tolist() for r in chunked.exact_rankings] == [r.tolist() for r in whole.exact_rankings]
    assert (tmp_path / "whole" / "vectors.npy").stat().st_size >= 740 * 32 * 4
    chunks = list(eval_index.distractor_chunks(vectors, 700, chunk=97))
    assert [start for start, _ in chunks] == list(range(0, 700, 97))
    np.testing.assert_array_equal(np.concatenate([b for _, b in chunks]), eval_index.fitted_distractors(vectors, 700))
