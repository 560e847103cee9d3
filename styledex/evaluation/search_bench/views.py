"""A view space's queries in the bench: a `content` query asks with twelve views of itself (its vector, its region
views and their mirrors: `styledex.embed.content_views`), so the bench times and scores it that way too.

The synthetic catalog stores region views for the query items only (five per item, as `add` stores them): each a
`SyntheticVectors.relatives` draw of the item's cluster, another picture of its subject, rounded through float16 as
the catalog keeps them. The exact answer of a query is then the top k by the best view's inner product (the query
item excluded), which is what `styledex.search.best_of_views` returns from an exact index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from styledex.embed.content_views import REGIONS, VIEW_SPACES, query_views

from .exact import exact_topk_scored
from .synthetic import SyntheticVectors


def bench_regions(space: str, gen: SyntheticVectors, rows: np.ndarray) -> np.ndarray | None:
    """The region views the catalog stores for the query items at ``rows`` [q]: [q, 5, dim] float32 (values
    float16 can hold), or None for a space without views."""
    if space not in VIEW_SPACES:
        return None
    return gen.relatives(rows, len(REGIONS)).astype(np.float16).astype(np.float32)


def views_of_queries(vectors: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """What each of ``vectors`` [q, dim] asks with: [q, V, dim]. None ``regions``: its vector alone (V = 1, a space
    without views); region views [q, R, dim]: the twelve `query_views` (R = 0, none stored: the vector and its
    mirror), as a content search asks."""
    real = np.ascontiguousarray(vectors, dtype=np.float32)
    if regions is None:
        return real[:, None, :]
    return np.stack([query_views(v, r if r.shape[0] else None) for v, r in zip(real, regions, strict=True)])


def exact_best_of_views(
    chunks: Callable[[], Iterator[tuple[int, np.ndarray]]], views: np.ndarray, query_rows: np.ndarray, k: int
) -> np.ndarray:
    """Exact top-k rows [q, k] for queries asking with ``views`` [q, V, dim], each row scored by its best view's
    inner product, the query's own row excluded. Exact because a row among the k best by its best view is among
    the k best of that view's own search."""
    q, v, dim = views.shape
    rows, scores = exact_topk_scored(chunks, views.reshape(q * v, dim), np.repeat(query_rows, v), k)
    return merge_best(rows.reshape(q, v * k), scores.reshape(q, v * k), k)


def merge_best(rows: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Per query, the k distinct rows [q, k] of ``rows`` [q, n] with the best ``scores`` [q, n] (a row counted by
    its best score; ties by row number)."""
    out = np.full((rows.shape[0], k), -1, dtype=np.int64)
    for i, (row_ids, row_scores) in enumerate(zip(rows, scores, strict=True)):
        order = np.lexsort((row_ids, -row_scores))
        _, first = np.unique(row_ids[order], return_index=True)  # each row's best position
        kept = order[np.sort(first)]
        kept = kept[row_ids[kept] >= 0][:k]
        out[i, : len(kept)] = row_ids[kept]
    return out
