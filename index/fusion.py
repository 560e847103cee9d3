"""Fusion of per-space scores into one, and parsing of a mix such as "style:0.7,content:0.3".

This module is the one place a mix is parsed (`parse_mix`) and the one place its rule is computed (`fused_score`):

    fused = sum_s w_s * score_s / sum_s w_s

`fused_score` applies it to one item whose score is known in every space of the mix (e.g. the exact cosines a
caller computed). `fuse` ranks whole result lists with it: for each space s with weight w_s > 0 and a non-empty
result list L_s of (id, score), score_s(id) is the item's score in L_s, or, when the item is not in L_s, the lowest
score in L_s.
Scores must be comparable across spaces: pass cosine similarities (in [-1, 1]), i.e. the "ip" score of
unit-normalized vectors (for an "l2" space over unit vectors, cosine = 1 + score / 2 with the negative squared
distance that `SpaceIndex.search` returns). The fill value is an upper bound on the missing item's true score
(it ranked below everything in L_s), so fused scores of items missing from some list are optimistic; a caller
that wants exact fused scores passes, for every space, the scores of every candidate (e.g. computed from
reconstructed vectors), and then no filling happens.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping

# A space name or alias: letters, digits, "_", "-", ".".
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
_MIX_FORMAT = "NAME or NAME:WEIGHT[,NAME:WEIGHT...]"


def fuse(
    results: Mapping[str, list[tuple[int, float]]],
    weights: Mapping[str, float],
    k: int,
) -> list[tuple[int, float]]:
    """The k best (id, fused score) pairs, best first, from per-space (id, score) lists (module docstring).

    results: space name -> (id, score) pairs, higher score better, scores comparable across spaces.
    weights: space name -> weight >= 0, not all zero; every space with a positive weight must be in `results`.
    Spaces in `results` without a weight are ignored. A space whose list is empty contributes nothing and its
    weight leaves the denominator. If an id appears twice in one list its best score counts. Ties are
    broken by ascending id, so the output is deterministic.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    _check_weights(weights)
    missing = sorted(name for name, w in weights.items() if w > 0 and name not in results)
    if missing:
        raise ValueError(f"weights name space(s) {missing} but results only has {sorted(results)}")

    active: dict[str, float] = {}  # the spaces that count: positive weight, non-empty list
    best: dict[str, dict[int, float]] = {}  # space -> id -> its best score there
    for name, w in weights.items():
        if w == 0 or not results[name]:
            continue
        scores: dict[int, float] = {}
        for item_id, score in results[name]:
            item_id, score = int(item_id), float(score)
            if item_id not in scores or score > scores[item_id]:
                scores[item_id] = score
        active[name], best[name] = float(w), scores
    if not active:
        return []

    fill = {name: min(scores.values()) for name, scores in best.items()}
    candidates = set().union(*(scores.keys() for scores in best.values()))
    fused = [
        (item_id, fused_score({name: best[name].get(item_id, fill[name]) for name in active}, active))
        for item_id in candidates
    ]
    fused.sort(key=lambda pair: (-pair[1], pair[0]))
    return fused[: int(k)]


def fused_score(scores: Mapping[str, float], weights: Mapping[str, float]) -> float:
    """One item's fused score: sum_s w_s * score_s / sum_s w_s over the spaces of `weights` (module docstring).

    scores: space name -> the item's score there (cosine similarity in [-1, 1] for unit vectors), for every space
    whose weight is > 0 (KeyError otherwise; zero-weight spaces may be absent). weights: space name -> weight >= 0
    with a positive sum, as `parse_mix` returns them (not normalized). The result lies within the scores' range.
    Raises ValueError when the weights do not sum to more than 0.
    """
    total = sum(weights.values())
    if not total > 0:
        raise ValueError(f"weights must sum to more than 0, got {dict(weights)}")
    # Zero weights are skipped, not multiplied: 0 * score adds nothing, and their space need not have a score.
    return sum(w * scores[name] for name, w in weights.items() if w) / total


def parse_mix(text: str) -> dict[str, float]:
    """Parse a mix: "style:0.7,content:0.3" -> {"style": 0.7, "content": 0.3}, "style" -> {"style": 1.0}.

    Each comma-separated entry is NAME or NAME:WEIGHT (a bare NAME weighs 1.0); spaces around tokens are
    allowed. Weights are finite numbers >= 0, not all zero; names appear once. Weights are returned as given
    (not normalized: `fuse` divides by their sum). Raises ValueError with a one-line message otherwise.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected {_MIX_FORMAT}, got {text!r}")
    mix: dict[str, float] = {}
    for entry in text.split(","):
        name, sep, weight_text = (part.strip() for part in entry.partition(":"))
        if not _NAME.fullmatch(name) or (sep and not weight_text):
            raise ValueError(f"expected {_MIX_FORMAT}, got {text!r}")
        if sep:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ValueError(f"expected {_MIX_FORMAT}, got {text!r}") from None
        else:
            weight = 1.0
        if name in mix:
            raise ValueError(f"space {name!r} appears twice in mix {text!r}")
        mix[name] = weight
    _check_weights(mix, context=f" in mix {text!r}")
    return mix


def _check_weights(weights: Mapping[str, float], context: str = "") -> None:
    """Raise ValueError unless every weight is a finite number >= 0 and at least one is > 0."""
    if not weights:
        raise ValueError(f"expected at least one weight{context}, got none")
    for name, w in weights.items():
        if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weights must be finite numbers >= 0, got {name}={w!r}{context}")
    if all(w == 0 for w in weights.values()):
        raise ValueError(f"weights must not all be zero, got {dict(weights)}{context}")
