"""One search of a space's FAISS index: the way FAISS is asked (re-ranked, past dead nodes, on one thread, or
plainly) and FAISS's answer turned into (id, score) lists, higher score better, excluded ids dropped."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np

from .checks import checked_vectors
from .dead_nodes import search_live
from .exact_vectors import ExactVectors
from .factory import Metric, is_lossy, reduced_scores
from .rerank import rerank, rerank_depth
from .threads import faiss_matrix_product, faiss_threads

# FAISS's exact scan of one query ran 1.3-1.6x slower on two OpenMP threads than on one on the 2-core machine (200k x
# 990-d: 78-98 vs 60-61 ms p50); ivfpq and hnsw showed no difference. A one-query flat search runs on one thread.
_FLAT_SINGLE_QUERY_THREADS = 1


def search_faiss(
    faiss_index: Any,
    queries: np.ndarray,
    k: int,
    exclude: Sequence[Collection[int]] | None,
    *,
    dim: int,
    index_type: str,
    metric: Metric,
    params: Mapping[str, int],
    live: int,
    source: ExactVectors | None,
) -> list[list[tuple[int, float]]]:
    """The k best (id, score) pairs for each of `queries` (q, dim) float, best first: `SpaceIndex.search`.

    k and `queries` are checked here (ValueError), and `exclude` (one collection of ids per query, or None). dim,
    index_type, metric, params: the index's settings. live: the items present (fewer than FAISS's ntotal while an
    hnsw graph holds dead nodes). source: the exact vectors a lossy index re-ranks with (None: no re-ranking).
    Scores are "ip" inner products or "l2" minus squared distances, higher better.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    queries = checked_vectors(queries, dim, "queries", "q")
    if exclude is not None and len(exclude) != queries.shape[0]:
        raise ValueError(f"expected one exclude set per query ({queries.shape[0]}), got {len(exclude)}")
    n = queries.shape[0]
    excluded = [set() for _ in range(n)] if exclude is None else [{int(i) for i in ex} for ex in exclude]
    if live == 0 or n == 0:
        return [[] for _ in range(n)]
    # Over-fetch by the largest exclude set so each query still has k after filtering.
    fetch = min(live, int(k) + max((len(ex) for ex in excluded), default=0))
    depth = params.get("rerank", 0) if is_lossy(index_type, params) else 0
    reranked = bool(depth and source is not None)
    if reranked:
        candidates = rerank_depth(depth, fetch, live)
        scores, labels = rerank(faiss_index, queries, candidates, source, metric, queries.shape[1])
    elif int(faiss_index.ntotal) > live:
        # Dead hnsw nodes: skipped inside the graph walk, so k live results come back without over-fetching.
        scores, labels = search_live(faiss_index, queries, fetch, params["ef_search"])
    elif index_type == "flat" and queries.shape[0] == 1:
        with faiss_threads(_FLAT_SINGLE_QUERY_THREADS):
            scores, labels = faiss_index.search(queries, fetch)
    elif index_type == "flat":
        with faiss_matrix_product(queries.shape[0]):  # a content query's views: one product, not a scan each
            scores, labels = faiss_index.search(queries, fetch)
    else:
        scores, labels = faiss_index.search(queries, fetch)
    if index_type == "hnsw" and params.get("pca", 0) and not reranked:
        scores = reduced_scores(scores, metric)  # the graph's own L2 over principal components
    elif metric == "l2":
        scores = 0.0 - scores  # not -scores: an exact match scores 0.0, not -0.0
    return best_rows(scores, labels, excluded, k)


def best_rows(
    scores: np.ndarray, labels: np.ndarray, excluded: Sequence[Collection[int]], k: int
) -> list[list[tuple[int, float]]]:
    """Per query row of `scores` and `labels` (q, n) (best first, higher score better), its first k (id, score)
    pairs, skipping FAISS's -1 padding and the row's `excluded` ids."""
    results: list[list[tuple[int, float]]] = []
    for row_scores, row_labels, ex in zip(scores, labels, excluded, strict=True):
        row: list[tuple[int, float]] = []
        for label, score in zip(row_labels.tolist(), row_scores.tolist(), strict=True):
            if label == -1 or label in ex:
                continue
            row.append((label, score))
            if len(row) == k:
                break
        results.append(row)
    return results
