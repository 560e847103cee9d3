"""The exact answers the bench compares every index with: brute-force top-k over any collection, and recall@k."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np


def exact_topk(
    chunks: Callable[[], Iterator[tuple[int, np.ndarray]]], queries: np.ndarray, query_rows: np.ndarray, k: int
) -> np.ndarray:
    """Exact top-k rows by inner product for each query [q, dim], its own row excluded: [q, k] int64 row numbers
    (in no particular order).

    chunks: called once, yields (first row, vectors) covering the whole collection, so it never has to be in memory.
    """
    return exact_topk_scored(chunks, queries, query_rows, k)[0]


def exact_topk_scored(
    chunks: Callable[[], Iterator[tuple[int, np.ndarray]]], queries: np.ndarray, query_rows: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """`exact_topk`'s rows [q, k] and their inner products [q, k] float32."""
    best_scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_rows = np.full((len(queries), k), -1, dtype=np.int64)
    for start, block in chunks():
        scores = queries @ block.T  # [q, chunk]
        rows = np.arange(start, start + block.shape[0], dtype=np.int64)
        scores[query_rows[:, None] == rows[None, :]] = -np.inf
        merged_scores = np.concatenate([best_scores, scores], axis=1)
        merged_rows = np.concatenate([best_rows, np.broadcast_to(rows, scores.shape)], axis=1)
        top = np.argpartition(-merged_scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(merged_scores, top, 1)
        best_rows = np.take_along_axis(merged_rows, top, 1)
    return best_rows, best_scores


def recall_at_k(found: Sequence[Sequence[int]], truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k over queries (truth [q, k])."""
    k = truth.shape[1]
    return float(np.mean([len(set(map(int, f[:k])) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]))
