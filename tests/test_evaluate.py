"""The retrieval metrics of `styledex eval` on hand-made rankings with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from styledex.evaluate import precision_and_ap, retrieval_metrics, top1_same_label


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
