"""Re-ranking: a lossy index's candidates re-scored with their exact vectors, so only the candidate set is approximate.

A lossy index (ivfpq, hnsw over principal components) with a `vector_source` (`ExactVectors`) and param rerank > 0
asks FAISS for `rerank_depth(...)` candidates per query and orders them by the exact score instead of the
approximate one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .exact_vectors import ExactVectors
from .factory import Metric

# An ivfpq search re-scores at least this many candidates per result asked for (besides `rerank` in all): among 1M
# 2944-d adain vectors, 101 candidates for 100 results lost 0.044 eval P@5 to the PQ codes' ordering errors, 300
# lost 0.011 and 1000 nothing, while visiting 2-4x more lists changed nothing (scripts/ivfpq_sweep.py, README).
RERANK_PER_RESULT = 10


def rerank_depth(rerank: int, fetch: int, ntotal: int) -> int:
    """Candidates to re-score per query: max(`rerank`, RERANK_PER_RESULT·`fetch`) (fetch: the results wanted,
    excluded ids included), at most the `ntotal` items present."""
    return min(ntotal, max(rerank, RERANK_PER_RESULT * fetch))


def rerank(
    faiss_index: Any, queries: np.ndarray, candidates: int, source: ExactVectors, metric: Metric, dim: int
) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's top `candidates` per query of `queries` (q, dim) float32 re-scored exactly with `source`.

    Returns (scores, labels), each (q, candidates), best first, in FAISS's conventions: "ip" scores are inner
    products, "l2" scores squared distances (smaller first); a missing candidate has label -1. Ties in the exact
    score are broken by ascending id. A candidate whose exact vector is gone (KeyError from `source`: removed by
    another writer after this index was read) is dropped. The candidates of all queries are read from `source` in
    one call, each once: a content query's twelve views share most of theirs (one read instead of twelve).
    """
    _, labels = faiss_index.search(queries, candidates)
    wanted = np.unique(labels[labels >= 0])
    try:
        vecs = _read(source, wanted, dim)
    except KeyError:
        wanted = wanted[[_has_exact(source, int(i)) for i in wanted]]
        vecs = _read(source, wanted, dim)
    if metric == "ip":
        exact = queries @ vecs.T  # (q, unique candidates)
    else:
        # Differences, not |q|² - 2q·v + |v|²: an exact match must score exactly 0.
        exact = np.stack([-((vecs - query) ** 2).sum(axis=1) for query in queries]).reshape(len(queries), -1)
    position = np.searchsorted(wanted, labels)
    present = (labels >= 0) & (position < len(wanted))
    present[present] = wanted[position[present]] == labels[present]
    scores = np.full(labels.shape, -np.inf, dtype=np.float32)
    rows = np.nonzero(present)[0]
    scores[present] = exact[rows, position[present]]
    # Sort by exact score (higher first) with the id as tie-break, then restore FAISS's l2 convention.
    order = np.lexsort((labels, -scores), axis=1)
    scores, labels = np.take_along_axis(scores, order, 1), np.take_along_axis(labels, order, 1)
    labels[~np.isfinite(scores)] = -1
    return (scores if metric == "ip" else -scores), labels


def _read(source: ExactVectors, ids: np.ndarray, dim: int) -> np.ndarray:
    """The exact vectors of `ids` (n,) as (n, dim) float32; no read at all for none."""
    if ids.size == 0:
        return np.zeros((0, dim), dtype=np.float32)
    return np.asarray(source.exact_vectors(ids), dtype=np.float32).reshape(-1, dim)


def _has_exact(source: ExactVectors, item_id: int) -> bool:
    """Whether `source` has the exact vector of `item_id` (FAISS's -1 "no result" label never has one)."""
    if item_id < 0:
        return False
    try:
        source.exact_vectors(np.array([item_id], dtype=np.int64))
    except KeyError:
        return False
    return True
