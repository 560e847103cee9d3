"""A style search ("more in this look") lowers the query's own subject: the same photo or scene in another look
answers the content question, not the style one.

Measured on the hard benchmark (README "Quality"): on photos under classic filter looks, the style spaces' worst
error is the query's own photo in other looks (17 % of `style_head`'s top 5 at full strength, 71 % at half
strength), while the `content` space tells that photo apart from every other (content P@5 0.99). So a search in one
style space scores each candidate by

    score = cos_style − weight · max(0, cos_content − above)

with ``cos_content`` measured as a content search measures it (the query's best view). ``above`` defaults to 0.5,
the cosine from which the near-duplicate folding calls two items "the same subject" (config ``search.collapse``,
measured on the benchmark's pairs); below it nothing changes, so other subjects keep their style order. A mix of
style spaces (``style_head:0.8,adain_white:0.2``) is lowered the same way, from its fused score. A candidate
whose style cosine reaches ``same_look`` (0.99) is not lowered: that is the same picture (the query's own file, a
re-encode), the same look as well as the same subject, which a style search should rank first. On the benchmark
no other-look pair of `style_head` reaches 0.98 (the same threshold as `adain`'s near-duplicate one). A mix
with content (``style:0.7,content:0.3``) weighs content itself and is left alone; ``--same-subject`` (HTTP
``same_subject=true``) or ``search.subject.weight: 0`` turns it off.

The ranking stays exact (for a mix: as exact as the mix's own ranking): candidates come from the style ranking
best-first, and a penalty only lowers a score, so once the k-th best lowered score is at least the style score of
the last candidate fetched, nothing further down can
overtake it; otherwise the search fetches 4× deeper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from styledex.config import SubjectConfig
from styledex.embed.spaces import SPACES

# Where "the same subject" is measured: the space the `above` threshold (the collapse's content threshold) is a cosine
# of. Like the collapse thresholds, it stays this space whatever the `content` alias names.
SUBJECT_SPACE = "content"


@dataclass(frozen=True)
class SubjectPenalty:
    """score = style cosine − ``weight`` · max(0, content cosine − ``above``), content measured in ``space``; a
    candidate whose style cosine reaches ``same_look`` keeps it (the same picture)."""

    space: str
    weight: float
    above: float
    same_look: float = 0.99

    def scores(self, style: np.ndarray, content: np.ndarray) -> np.ndarray:
        """Lowered scores: ``style`` and ``content`` cosines of the same candidates (any equal shapes), in -1..1."""
        lowered = style - self.weight * np.maximum(0.0, content - self.above)
        return np.where(style >= self.same_look, style, lowered)


def subject_penalty(
    weights: Mapping[str, float], available: Sequence[str], config: SubjectConfig, same_subject: bool = False
) -> SubjectPenalty | None:
    """The penalty (``config``: the config's ``search.subject``) a search in ``weights`` ({space: weight}) gets in
    a catalog holding the spaces ``available``: only a search whose spaces are all style spaces (one, or a mix such
    as ``style_head:0.8,adain:0.2``), only where the catalog has :data:`SUBJECT_SPACE`, not with ``same_subject``
    or a zero weight; else None."""
    if same_subject or config.weight <= 0 or not weights or SUBJECT_SPACE not in available:
        return None
    if any(SPACES[space].kind != "style" for space in weights):
        return None
    return SubjectPenalty(SUBJECT_SPACE, config.weight, config.above, config.same_look)


def query_spaces(weights: Mapping[str, float], penalty: SubjectPenalty | None) -> list[str]:
    """The spaces a query needs vectors in: those of ``weights``, and the penalty's content space when there is one."""
    return list(dict.fromkeys([*weights, *([penalty.space] if penalty is not None else [])]))


Ranked = list[tuple[int, float, dict[str, float]]]  # (id, score, {space: cosine}), best first


def rank_lowering_subject(
    best_in_style: Callable[[int], Ranked],
    content_of: Callable[[Sequence[int]], np.ndarray],
    content_query: np.ndarray,
    penalty: SubjectPenalty,
    n: int,
    available: int,
) -> Ranked:
    """The ``n`` best (id, lowered score, {each style space: cosine, the content space: cosine}), best first, ties
    by id.

    ``best_in_style(depth)``: the style ranking's ``depth`` best (id, style score, {space: cosine}), best first (one
    space's cosine, or a style mix's fused score). ``content_of(ids)``: their stored content vectors [len(ids), dim]
    (zeros for an item without one: no penalty). ``content_query`` [V, dim]: the query's content views, the best one
    counting. ``available``: how many items the style indexes hold."""
    depth = min(available, max(4 * n, n + 20))
    while True:
        best = best_in_style(depth)
        if not best:
            return []
        ids = [item_id for item_id, _, _ in best]
        style = np.array([score for _, score, _ in best], np.float64)
        content = (content_of(ids) @ content_query.T).max(axis=1).astype(np.float64)
        lowered = penalty.scores(style, content)
        order = sorted(range(len(ids)), key=lambda j: (-lowered[j], ids[j]))[:n]
        settled = len(order) == n and lowered[order[-1]] >= style[-1]
        if settled or len(best) < depth or depth >= available:
            return [(ids[j], float(lowered[j]), {**best[j][2], penalty.space: float(content[j])}) for j in order]
        depth = min(available, 4 * depth)
