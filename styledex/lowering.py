"""Each question lowers the answer to the other one: a style search ("more in this look") lowers the query's own
subject in other looks, a content search ("more of this subject") lowers the query's own look on other subjects.

Measured on the hard benchmark (README "Quality"):

- **style**: on photos under classic filter looks, the style spaces' worst error is the query's own photo in other
  looks (17 % of `style_head`'s top 5 at full strength, 71 % at half strength), while the `content` space tells
  that photo apart from every other (content P@5 0.99). A search in style spaces scores each candidate by
  ``style − 2 · max(0, content − 0.5)``, ``content`` measured as a content search measures it (the query's best
  view). 0.5 is the cosine from which the near-duplicate folding calls two items "the same subject" (config
  ``search.collapse``); a candidate whose style score reaches 0.99 is not lowered: the same picture (the query's
  own file, a re-encode), which a style search should rank first.
- **content**: `content`'s errors are the other way round: a Gatys rendering's brushwork is in every layer it
  reads, so other subjects painted the same way crowd the query's own subject (every miss of the neural looks,
  content leakage 0.016), while `style_head` calls those renderings one look (cosine 0.87 median, against 0.20
  for the same subject in other looks). A search in content spaces scores each candidate by
  ``content − 1 · max(0, style_head − 0.7)``; a candidate whose content score reaches 0.5 (the collapse's "same
  subject") is not lowered, so the other segments of a clip in its own look keep their place.

Both are one rule, :class:`Lowering`: ``score = asked − weight · max(0, other − above)``, unless ``asked`` reaches
``keep_at``. Only a search whose spaces all answer one question is lowered (one space, or a mix such as
``style_head:0.8,adain_white:0.2``, lowered from its fused score); a mix of both questions (``style:0.7,content:0.3``)
weighs the other question itself and is left alone. Per search, ``--same-subject`` / ``same_subject=true`` (style)
and ``--same-look`` / ``same_look=true`` (content) turn it off; ``search.subject.weight: 0`` / ``search.look.weight:
0`` in the config.

The ranking stays exact (for a mix: as exact as the mix's own ranking): candidates come from the asked ranking
best-first, and a penalty only lowers a score, so once the k-th best lowered score is at least the asked score of
the last candidate fetched, nothing further down can overtake it; otherwise the search fetches 4× deeper.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from styledex.config import LookConfig, SearchConfig, SubjectConfig
from styledex.embed.spaces import SPACES

# Where "the same subject" is measured for a style search: the space the collapse's content threshold is a cosine of.
# Like the collapse thresholds, it stays this space whatever the `content` alias names.
SUBJECT_SPACE = "content"
# Where "the same look" is measured for a content search: the thresholds are this space's cosines (adain's run
# higher: most photos share 0.8-0.95 there), so a catalog without it is not lowered.
LOOK_SPACE = "style_head"


@dataclass(frozen=True)
class Lowering:
    """score = asked cosine − ``weight`` · max(0, the other question's cosine − ``above``), that cosine measured in
    ``space``; a candidate whose asked score reaches ``keep_at`` keeps it. ``lowers``: what is lowered, for
    messages ("subject" in a style search, "look" in a content search)."""

    space: str
    weight: float
    above: float
    keep_at: float
    lowers: str = "subject"

    def scores(self, asked: np.ndarray, other: np.ndarray) -> np.ndarray:
        """Lowered scores: ``asked`` and ``other`` cosines of the same candidates (any equal shapes), in -1..1."""
        lowered = asked - self.weight * np.maximum(0.0, other - self.above)
        return np.where(asked >= self.keep_at, asked, lowered)


def subject_lowering(
    weights: Mapping[str, float], available: Sequence[str], config: SubjectConfig, same_subject: bool = False
) -> Lowering | None:
    """A search in style spaces only (``weights``: {space: weight}) in a catalog holding ``available``: the query's
    own subject lowered (``config``: the config's ``search.subject``); None for any other search, with
    ``same_subject``, a zero weight or no :data:`SUBJECT_SPACE` in the catalog."""
    if same_subject or config.weight <= 0 or not _all_of_kind(weights, "style") or SUBJECT_SPACE not in available:
        return None
    return Lowering(SUBJECT_SPACE, config.weight, config.above, config.same_look, "subject")


def look_lowering(
    weights: Mapping[str, float], available: Sequence[str], config: LookConfig, same_look: bool = False
) -> Lowering | None:
    """A search in content spaces only: the query's own look lowered (``config``: ``search.look``); None for any
    other search, with ``same_look``, a zero weight or no :data:`LOOK_SPACE` in the catalog."""
    if same_look or config.weight <= 0 or not _all_of_kind(weights, "content") or LOOK_SPACE not in available:
        return None
    return Lowering(LOOK_SPACE, config.weight, config.above, config.same_subject, "look")


def lowering_for(
    weights: Mapping[str, float],
    available: Sequence[str],
    config: SearchConfig,
    *,
    same_subject: bool = False,
    same_look: bool = False,
) -> Lowering | None:
    """The lowering a search in ``weights`` gets (``config``: the config's ``search``): :func:`subject_lowering`
    for style spaces, :func:`look_lowering` for content spaces, None for a mix of both."""
    return subject_lowering(weights, available, config.subject, same_subject) or look_lowering(
        weights, available, config.look, same_look
    )


def _all_of_kind(weights: Mapping[str, float], kind: str) -> bool:
    return bool(weights) and all(SPACES[space].kind == kind for space in weights)


def query_spaces(weights: Mapping[str, float], lowering: Lowering | None) -> list[str]:
    """The spaces a query needs vectors in: those of ``weights``, and the lowering's space when there is one."""
    return list(dict.fromkeys([*weights, *([lowering.space] if lowering is not None else [])]))


Ranked = list[tuple[int, float, dict[str, float]]]  # (id, score, {space: cosine}), best first


def rank_lowered(
    best_asked: Callable[[int], Ranked],
    other_of: Callable[[Sequence[int]], np.ndarray],
    other_query: np.ndarray,
    lowering: Lowering,
    n: int,
    available: int,
) -> Ranked:
    """The ``n`` best (id, lowered score, {each asked space: cosine, the lowering's space: cosine}), best first,
    ties by id.

    ``best_asked(depth)``: the asked ranking's ``depth`` best (id, score, {space: cosine}), best first (one
    space's cosine, or a mix's fused score). ``other_of(ids)``: their stored vectors in the lowering's space
    [len(ids), dim] (zeros for an item without one: no penalty). ``other_query`` [V, dim]: the query's vectors
    there (a content query's views; the best one counts). ``available``: how many items the asked indexes hold."""
    depth = min(available, max(4 * n, n + 20))
    while True:
        best = best_asked(depth)
        if not best:
            return []
        ids = [item_id for item_id, _, _ in best]
        asked = np.array([score for _, score, _ in best], np.float64)
        other = (other_of(ids) @ other_query.T).max(axis=1).astype(np.float64)
        lowered = lowering.scores(asked, other)
        order = sorted(range(len(ids)), key=lambda j: (-lowered[j], ids[j]))[:n]
        settled = len(order) == n and lowered[order[-1]] >= asked[-1]
        if settled or len(best) < depth or depth >= available:
            return [(ids[j], float(lowered[j]), {**best[j][2], lowering.space: float(other[j])}) for j in order]
        depth = min(available, 4 * depth)
