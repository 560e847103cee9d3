"""The indexes measured: the bench's variants of each index type, building one as the policy would, and what every
way of timing a built index shares (its row fields, FAISS's own search, recall)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from styledex.embed.spaces import resolve
from styledex.index import SpaceIndex
from styledex.index.exact_file import ROWS_FILE
from styledex.index.policy import REDUCED_EF_SEARCH, IndexChoice, choose_index
from styledex.search import best_of_views

from .exact import recall_at_k
from .views import merge_best

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
# Bench labels → (index type, parameter overrides on top of the policy's choice for that type).
INDEX_VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "hnsw-sq8": ("hnsw", {"sq8": 1}),
    # the graph over 256 principal components (content's hint) as the policy sets it, re-ranked
    "hnsw-pca": ("hnsw", {"pca": 256, "ef_search": REDUCED_EF_SEARCH}),
    "ivfpq": ("ivfpq", {}),
    "ivfpq+opq": ("ivfpq", {"opq": 1}),
    "auto": ("auto", {}),  # what the policy gives a catalog of that size with the packaged index settings
}
# A budget that lets the policy give each forced type its natural parameters (bench measures, it does not choose);
# it is also the packaged `index.memory_budget_mb`, so `auto` is the choice a default catalog gets.
_BENCH_BUDGET_BYTES = 2048 * 2**20


def index_choice(variant: str, space: str, count: int) -> IndexChoice:
    """The policy's parameters for bench label ``variant`` forced on ``count`` items of ``space`` (``auto``: its
    own choice for them, with the packaged thresholds)."""
    spec = resolve(space)
    index_type, extra = INDEX_VARIANTS[variant]
    return choose_index(
        count, spec.dim, _BENCH_BUDGET_BYTES, policy=index_type, overrides={index_type: extra} if extra else None,
        **spec.index_hints(),
    )  # fmt: skip


def build_index(
    variant: str, directory: Path, space: str, fingerprint: str, train: np.ndarray, count: int
) -> tuple[SpaceIndex, float]:
    """An empty-but-trained index of ``variant`` for ``count`` items, and the training seconds."""
    spec = resolve(space)
    choice = index_choice(variant, space, count)
    index = SpaceIndex.create(
        directory, space=space, dim=spec.dim, metric=spec.metric, fingerprint=fingerprint,  # type: ignore[arg-type]
        index_type=choice.index_type, index_params=choice.params,
        policy=choice.manifest_entry(f"bench:{variant}", count, _BENCH_BUDGET_BYTES),
    )  # fmt: skip
    started = time.perf_counter()
    index.train(train)
    return index, time.perf_counter() - started


def _raw_faiss(index: SpaceIndex, k: int) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """FAISS's own search on the index styledex built (k + 1: the query item comes back too), all of one query's
    views [V, dim] in one call: (scores, labels), each [V, k+1], scores higher-better (FAISS's L2 distances, which
    the graph over principal components measures too, negated) so views compare."""
    faiss_index = index._index  # the bench measures the library underneath on purpose
    distances = index.metric == "l2" or bool(index.index_params.get("pca", 0))

    def search(views: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        scores, labels = faiss_index.search(np.ascontiguousarray(views, dtype=np.float32), k + 1)
        return (-scores if distances else scores), labels

    return search


def measure_index(
    index: SpaceIndex, variant: str, kind: str, build_s: float, query_views: np.ndarray, query_ids: np.ndarray,
    truth: np.ndarray,
) -> tuple[dict[str, Any], tuple[str, Callable[[int], Any], float], float]:  # fmt: skip
    """What every way of timing a built, saved index shares: its row fields (size, build, params), the ``faiss``
    way (FAISS's own search of a query item's views) with its recall, and the recall styledex's answer gets.
    query_views: [queries, V, dim] (V = 1 for a space without views, 12 for content: `.views`); truth: [queries, k]
    item ids of the exact top k (by the best view)."""
    k, items = truth.shape[1], len(index)
    size = (index.directory / "index.faiss").stat().st_size
    exact_file = index.directory / ROWS_FILE  # an hnsw graph over principal components keeps the exact rows beside it
    beside = {"exact_file_bytes_per_item": round(exact_file.stat().st_size / items, 1)} if exact_file.exists() else {}
    common = {
        "items": items, "space": index.space, "vectors": kind, "k": k, "queries": len(query_ids),
        "views": query_views.shape[1], "index": f"auto: {index.index_type}" if variant == "auto" else variant,
        "params": index.index_params, "build_seconds": round(build_s, 2), "bytes_per_item": round(size / items, 1),
        **beside,
    }  # fmt: skip
    raw = _raw_faiss(index, k)
    raw_recall = recall_at_k([_raw_top(*raw(views), q, k) for views, q in zip(query_views, query_ids, strict=True)],
                             truth)  # fmt: skip
    by_id = dict(zip(query_ids.tolist(), query_views, strict=True))
    faiss_way = ("faiss", lambda item_id: raw(by_id[item_id]), raw_recall)
    return common, faiss_way, recall_at_k(_styledex_top(index, query_views, query_ids, k), truth)


def _raw_top(scores: np.ndarray, labels: np.ndarray, query_id: int, k: int) -> list[int]:
    """FAISS's answer for one query's views (scores, labels [V, k+1]) as k ids, each by its best view's score,
    without the query item and the -1 padding."""
    labels = np.where(labels == query_id, -1, labels)
    top = merge_best(labels.reshape(1, -1), scores.reshape(1, -1), k)[0]
    return top[top >= 0].tolist()


def _styledex_top(index: SpaceIndex, query_views: np.ndarray, query_ids: np.ndarray, k: int) -> list[list[int]]:
    """The ids styledex's search returns for each query's views [V, dim] (its own id excluded), each item by its
    best view (`styledex.search.best_of_views`)."""
    return [[h[0] for h in best_of_views(index, views, k, [int(i)])] for views, i in zip(query_views, query_ids,
                                                                                         strict=True)]  # fmt: skip
