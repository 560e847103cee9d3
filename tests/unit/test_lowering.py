"""Each question lowers the other's answer (styledex.lowering): a style search the query's own subject, a content
search the query's own look. The rule's formula, when it applies, and that the ranking it returns is the exact one
whatever depth the first fetch had."""

from __future__ import annotations

import numpy as np
import pytest

from styledex.config import LookConfig, SearchConfig, SubjectConfig
from styledex.evaluation.retrieval import hard_metrics, rankings_of
from styledex.lowering import (
    LOOK_SPACE,
    SUBJECT_SPACE,
    Lowering,
    look_lowering,
    lowering_for,
    rank_lowered,
    subject_lowering,
)


def test_the_penalty_is_zero_up_to_the_threshold_and_grows_by_its_weight_past_it() -> None:
    penalty = Lowering("content", weight=2.0, above=0.5, keep_at=0.99)
    style = np.array([0.9, 0.9, 0.9, 0.9, 0.989, 0.99, 1.0])
    content = np.array([-0.3, 0.5, 0.6, 1.0, 1.0, 1.0, 1.0])
    # The last two reach same_look: the same picture, never lowered.
    np.testing.assert_allclose(penalty.scores(style, content), [0.9, 0.9, 0.7, -0.1, -0.011, 0.99, 1.0])


@pytest.mark.parametrize(
    ("weights", "available", "weight", "same_subject", "applies"),
    [
        ({"adain": 1.0}, ["content", "adain"], 2.0, False, True),
        ({"style_head": 1.0}, ["content", "style_head"], 2.0, False, True),
        ({"adain": 1.0}, ["content", "adain"], 2.0, True, False),  # asked off
        ({"adain": 1.0}, ["content", "adain"], 0.0, False, False),  # configured off
        ({"adain": 1.0}, ["adain", "gram"], 2.0, False, False),  # no content space to measure the subject in
        ({"content": 1.0}, ["content", "adain"], 2.0, False, False),  # a content search
        ({"adain": 0.5, "content": 0.5}, ["content", "adain"], 2.0, False, False),  # a mix weighs content itself
        ({"adain": 0.5, "gram": 0.5}, ["content", "adain", "gram"], 2.0, False, True),  # a mix of style spaces
    ],
)
def test_only_style_spaces_with_a_content_space_beside_them_are_lowered(
    weights, available, weight, same_subject, applies
) -> None:
    penalty = subject_lowering(weights, available, SubjectConfig(weight=weight, above=0.5), same_subject)
    assert (penalty is not None) == applies
    if applies:
        assert penalty == Lowering(SUBJECT_SPACE, weight, 0.5, keep_at=0.99, lowers="subject")


def test_a_content_search_lowers_its_own_look_unless_the_candidate_is_its_subject() -> None:
    penalty = Lowering(LOOK_SPACE, weight=1.0, above=0.7, keep_at=0.5, lowers="look")
    content = np.array([0.3, 0.3, 0.3, 0.49, 0.5, 0.8])
    look = np.array([0.2, 0.7, 0.9, 1.0, 1.0, 1.0])
    # Up to the threshold nothing changes; past it the look's excess is taken off; from a content cosine of 0.5
    # (the collapse's "same subject": another segment of the query's clip in its look) nothing is taken off.
    np.testing.assert_allclose(penalty.scores(content, look), [0.3, 0.3, 0.1, 0.19, 0.5, 0.8])


@pytest.mark.parametrize(
    ("weights", "available", "same_look", "applies"),
    [
        ({"content": 1.0}, ["content", "style_head"], False, True),
        ({"content": 0.5, "content_head": 0.5}, ["content", "content_head", "style_head"], False, True),
        ({"content": 1.0}, ["content", "style_head"], True, False),  # asked off
        ({"content": 1.0}, ["content", "adain"], False, False),  # no style_head: its cosines are the thresholds
        ({"style_head": 1.0}, ["content", "style_head"], False, False),  # a style search
        ({"style_head": 0.5, "content": 0.5}, ["content", "style_head"], False, False),  # a mix of both questions
    ],
)
def test_only_content_spaces_with_style_head_beside_them_lower_the_look(weights, available, same_look, applies) -> None:
    lowering = look_lowering(weights, available, LookConfig(), same_look)
    assert (lowering is not None) == applies
    if applies:
        assert lowering == Lowering(LOOK_SPACE, 1.0, 0.7, keep_at=0.5, lowers="look")
    assert look_lowering(weights, available, LookConfig(weight=0.0)) is None  # configured off


def test_lowering_for_picks_the_rule_of_the_question_asked() -> None:
    available = ["content", "adain", "style_head"]
    config = SearchConfig()
    assert lowering_for({"adain": 1.0}, available, config).lowers == "subject"  # type: ignore[union-attr]
    assert lowering_for({"content": 1.0}, available, config).lowers == "look"  # type: ignore[union-attr]
    assert lowering_for({"adain": 1.0}, available, config, same_subject=True) is None
    assert lowering_for({"content": 1.0}, available, config, same_subject=True) is not None  # the other flag
    assert lowering_for({"content": 1.0}, available, config, same_look=True) is None


def _brute_force(style: np.ndarray, content: np.ndarray, penalty: Lowering, n: int) -> list[int]:
    lowered = penalty.scores(style, content)
    return sorted(range(len(style)), key=lambda i: (-lowered[i], i))[:n]


@pytest.mark.parametrize("seed", range(5))
def test_the_lowered_ranking_is_exact_even_when_the_whole_first_fetch_shares_the_subject(seed: int) -> None:
    rng = np.random.default_rng(seed)
    items, dim = 300, 16
    style_q = rng.standard_normal(dim)
    style_q /= np.linalg.norm(style_q)
    style = rng.uniform(0.0, 0.9, items)
    # The 40 items closest in style are the query's own subject (content cosine 0.9-1.0): the first fetch (4n = 20)
    # holds only them, so a correct search must fetch deeper.
    top = np.argsort(-style)[:40]
    content = rng.uniform(-0.2, 0.4, items)
    content[top] = rng.uniform(0.9, 1.0, 40)
    content_vectors = np.zeros((items, 2), np.float32)
    content_vectors[:, 0] = content
    content_query = np.array([[1.0, 0.0]], np.float32)
    penalty = Lowering("content", weight=2.0, above=0.5, keep_at=0.99)
    fetched: list[int] = []

    def best_in_style(depth: int) -> list[tuple[int, float, dict[str, float]]]:
        fetched.append(depth)
        order = sorted(range(items), key=lambda i: (-style[i], i))[:depth]
        return [(i, float(style[i]), {"adain": float(style[i])}) for i in order]

    ranked = rank_lowered(
        best_in_style, lambda ids: content_vectors[list(ids)], content_query, penalty, n=5, available=items
    )
    assert [item for item, *_ in ranked] == _brute_force(style, content.astype(np.float32), penalty, 5)
    assert len(fetched) > 1  # it had to go deeper than its first fetch
    for item, score, cosines in ranked:
        assert cosines["adain"] == pytest.approx(style[item])
        assert cosines["content"] == pytest.approx(content[item], abs=1e-6)
        assert score == pytest.approx(cosines["adain"] - 2.0 * max(0.0, cosines["content"] - 0.5))


def test_rankings_of_scores_give_the_same_metrics_as_the_exact_ranking_of_those_scores() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((40, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [{"metadata": {"style": f"look{i % 4}", "content": f"photo{i // 4}"}} for i in range(40)]
    groups = np.array(["neural"] * 40)
    rankings = rankings_of(vectors @ vectors.T)
    assert all(q not in ranking and len(ranking) == 39 for q, ranking in enumerate(rankings))
    exact = hard_metrics(vectors, items, groups)
    ranked = hard_metrics(vectors, items, groups, rankings=rankings)
    assert ranked["neural"] == exact["neural"]
