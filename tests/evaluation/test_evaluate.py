"""The retrieval metrics of `styledex eval` on hand-made rankings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from styledex.embed.content_views import mirror
from styledex.evaluation.index_eval import fitted_distractors, index_rankings, restrict
from styledex.evaluation.retrieval import (
    format_table,
    hard_metrics,
    precision_and_ap,
    question_metrics,
    ranked_precision_and_ap,
    retrieval_metrics,
    top1_hits,
    top1_same_label,
    wilson_interval,
)


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


def _random_labeled(n: int, dim: int, contents: int, styles: int, seed: int) -> tuple[np.ndarray, ...]:
    """n random unit vectors [n, dim], with content labels c0.. cycling over ``contents`` and style labels s0.. over
    ``styles``."""
    vectors = np.random.default_rng(seed).standard_normal((n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.array([f"c{i % contents}" for i in range(n)]), np.array([f"s{i % styles}" for i in range(n)])


def test_given_rankings_reproduce_exact_metrics() -> None:
    vectors, content, style = _random_labeled(30, 8, contents=5, styles=3, seed=0)
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


def test_index_rankings_with_views_score_each_item_by_its_best_view_as_the_exact_search_does(tmp_path) -> None:
    # A content query asks with its twelve views (its vector, its regions, their mirrors) through the index too; a
    # flat index then answers exactly what the pairwise best-view scores of the exact table rank, distractors aside.
    from styledex.embed.content_views import view_similarities

    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    regions = vectors[:, None, :] + 0.5 * rng.standard_normal((40, 5, 16)).astype(np.float32)
    regions /= np.linalg.norm(regions, axis=2, keepdims=True)
    kwargs = dict(space="content", metric="ip", index_type="flat", depth=39)
    alone = index_rankings(vectors, directory=tmp_path / "a", distractors=0, **kwargs)
    ranked = index_rankings(vectors, directory=tmp_path / "b", distractors=0, views=regions, **kwargs)
    sims = view_similarities(vectors, regions)
    for q, ranking in enumerate(ranked.rankings):
        assert ranking.tolist() == [j for j in np.argsort(-sims[q], kind="stable") if j != q]
    assert [r.tolist() for r in ranked.exact_rankings] == [r.tolist() for r in ranked.rankings]
    assert [r.tolist() for r in alone.rankings] != [r.tolist() for r in ranked.rankings]  # the views count
    among = index_rankings(vectors, directory=tmp_path / "c", distractors=300, views=regions, **kwargs)
    assert [r.tolist() for r in among.exact_rankings] == [r.tolist() for r in among.rankings]


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


def test_leakage_on_a_handmade_ranking() -> None:
    # Query 0 is (content a, style x). Its ranking: 1 (a, y), 2 (b, x), 3 (b, y).
    vectors = _unit([[1, 0], [0.9, 0.1], [0.5, 0.5], [0, 1]])
    content = np.array(["a", "a", "b", "b"])
    style = np.array(["x", "y", "x", "y"])
    query = np.array([True, False, False, False])
    # style question: the one hit (item 2) at rank 2; item 1 (same content, another look) is the leak in the top 2
    assert question_metrics(vectors, style, content, query, k=2) == {
        "p5": 1.0, "map": 0.5, "leakage": 0.5, "queries": 1,
    }  # fmt: skip
    # content question: the hit (item 1) at rank 1; item 2 (same look, another content) leaks
    assert question_metrics(vectors, content, style, query, k=2) == {
        "p5": 1.0, "map": 1.0, "leakage": 0.5, "queries": 1,
    }  # fmt: skip
    # with k = 3 the content question's top 3 holds one leak (item 2) of three
    assert question_metrics(vectors, content, style, query, k=3)["leakage"] == pytest.approx(1 / 3)


def test_question_metrics_agree_with_retrieval_metrics() -> None:
    vectors, content, style = _random_labeled(24, 6, contents=4, styles=6, seed=5)
    queries = np.ones(24, dtype=bool)
    for same, other in ((style, content), (content, style)):
        got = question_metrics(vectors, same, other, queries)
        assert (got["p5"], got["map"]) == pytest.approx(retrieval_metrics(vectors, same, other, queries))
        assert got["queries"] == 24 and 0 <= got["leakage"] <= 1


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [(5, 10, (0.2366, 0.7634)), (0, 10, (0.0, 0.2775)), (10, 10, (0.7225, 1.0)), (37, 37, (0.9059, 1.0))],
)
def test_wilson_interval_known_counts(successes: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(successes, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_of_nothing_is_everything() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_top1_hits_only_asks_the_chosen_queries_but_ranks_among_all() -> None:
    vectors = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1], [1, 0.05]])
    labels = np.array(["artist:a", "artist:a", "artist:b", "artist:b", "artist:c"])
    # item 0's nearest is item 4 (another artist, not a query itself); item 1's nearest is item 4 too
    assert top1_hits(vectors, labels).tolist() == [False, False, True, True]
    chosen = np.array([False, False, True, True, True])  # c has one work: never a query
    assert top1_hits(vectors, labels, queries=chosen).tolist() == [True, True]


def test_hard_metrics_pools_each_group_and_slices_heldout_operations() -> None:
    def item(group: str, content: str, style: str, heldout_op: str = "") -> dict:
        return {"metadata": {"group": group, "content": content, "style": style, "heldout_op": heldout_op}}

    items = [
        item("filters", "photo:a", "filter:x@1", "no"), item("filters", "photo:b", "filter:x@1", "no"),
        item("filters", "photo:a", "filter:y@1", "yes"), item("filters", "photo:b", "filter:y@1", "yes"),
        item("filters", "photo:c", "filter:x@0.5", "no"),
        # the same labels in another group: a style space that mixes groups would find these
        item("neural", "photo:a", "filter:x@1"), item("neural", "photo:b", "filter:y@1"),
        item("museum", "", "artist:Vincent van Gogh"), item("museum", "", "artist:Vincent van Gogh"),
        item("museum", "", "artist:Someone Else"), item("museum", "", "artist:Someone Else"),
    ]  # fmt: skip
    groups = np.array([it["metadata"]["group"] for it in items])
    # a pure style space: x → e1, y → e2; the museum: van Gogh's two works alike, the others apart
    # the mild x on photo c lies nearer the strong x than anything else: a miss for it (another label), and one
    # more item in x's queries' rankings, after their hit
    matrix = _unit([[1, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 0, 0], [0.9, 0.1, 0, 0],
                    [1, 0, 0, 0], [0, 1, 0, 0],
                    [0, 0, 1, 0], [0, 0, 1, 0.1], [0, 0, 0, 1], [0, 0, 0.2, -1]])  # fmt: skip
    out = hard_metrics(matrix, items, groups)
    # a pool of five: the mild x has no other item of its label, so it is no style query; each strong query finds
    # its one hit first; the top 5 holds the other three items, one of which is the other question's answer
    assert out["filters_strong"]["style"] == {"p5": 1.0, "map": 1.0, "leakage": pytest.approx(1 / 4), "queries": 4}
    assert out["filters_mild"]["style"]["queries"] == 0
    assert out["filters_heldout_ops"]["style"]["queries"] == 2
    assert "reframed" not in out  # a group with no items has no row
    assert out["neural"]["style"]["queries"] == 0  # one item per style in that group: no style query
    # held-out artists: van Gogh's two works, each the other's nearest; Someone Else is not held out
    assert out["museum_heldout"] | {"ci95": None} == {
        "top1": 1.0, "hits": 2, "queries": 2, "ci95": None, "paintings": 4,
    }  # fmt: skip
    assert out["museum_heldout"]["ci95"] == pytest.approx(list(wilson_interval(2, 2)))
    assert out["museum_artist_top1"] == 0.5  # Someone Else's two works point apart: each finds a van Gogh first


def test_content_queries_are_scored_with_their_views_as_a_search_asks() -> None:
    """Two photos, each whole and as a corner crop (in another look): the crop's vector is far from its photo's
    whole frame, but one of the photo's stored regions is the crop: with views, each photo's query finds its crop."""
    rng = np.random.default_rng(0)
    whole = _unit(rng.standard_normal((2, 2048)))
    crops = _unit(rng.standard_normal((2, 2048)))
    vectors = np.concatenate([whole, crops])
    regions = _unit(rng.standard_normal((4, 5, 2048)).reshape(-1, 2048)).reshape(4, 5, 2048)
    regions[0, 2], regions[1, 4] = crops[0], crops[1]  # photo a's bottom-left corner, photo b's centre
    content = np.array(["photo:a", "photo:b", "photo:a", "photo:b"])
    style = np.array(["look:x", "look:x", "look:y", "look:y"])
    queries = np.array([True, True, False, False])
    plain = question_metrics(vectors, content, style, queries, k=1)
    viewed = question_metrics(vectors, content, style, queries, k=1, views=regions)
    assert plain["p5"] < 1.0 and viewed["p5"] == 1.0 and viewed["leakage"] == 0.0
    # the mirror is always a view: a photo whose other look is its mirror image is found without regions
    mirrored = np.concatenate([whole, mirror(whole)])
    no_regions = np.zeros((4, 0, 2048), np.float32)
    assert question_metrics(mirrored, content, style, queries, k=1, views=no_regions)["p5"] == 1.0


def test_hard_table_rows() -> None:
    question = {"p5": 0.5, "map": 0.25, "leakage": 0.125, "queries": 10}
    parts = ("filters", "filters_heldout_ops", "reframed", "neural", "video_hard")
    row = {
        "kind": "style", "dim": 3, **{p: {"style": question, "content": question} for p in parts},
        "museum_heldout": {"top1": 0.2, "hits": 7, "queries": 37, "ci95": [0.1, 0.35], "paintings": 174},
        "museum_artist_top1": 0.1,
    }  # fmt: skip
    report = {"parts": ["hard"], "precision": "bf16", "aliases": {"style": "adain"}, "seconds": 3,
              "hard": {"counts": {"filters": 280, "museum": 174}, "spaces": {"adain": row}}}  # fmt: skip
    table = format_table(report)
    assert "| adain (= style) | filters, held-out operations | 0.500 | 0.250 | 0.125 | 0.500 | 0.250 | 0.125 |" in table
    assert "| adain (= style) | 0.200 | 37 | [0.100, 0.350] | 0.100 |" in table
    assert "image style P@5" not in table  # no old part in this report: no old table
