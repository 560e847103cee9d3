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
from styledex.index.policy import IndexChoice, choose_index

from .exact import recall_at_k

INDEX_TYPES = ("flat", "hnsw", "ivfpq")
# Bench labels → (index type, parameter overrides on top of the policy's choice for that type).
INDEX_VARIANTS: dict[str, tuple[str, dict[str, int]]] = {
    "flat": ("flat", {}),
    "hnsw": ("hnsw", {}),
    "hnsw-sq8": ("hnsw", {"sq8": 1}),
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
        pq_subvector_dims=spec.pq_subvector_dims,
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


def _raw_faiss(index: SpaceIndex, k: int) -> Callable[[np.ndarray], np.ndarray]:
    """FAISS's own search on the index styledex built (k + 1: the query item comes back too): labels [q, k+1]."""
    faiss_index = index._index  # the bench measures the library underneath on purpose

    def search(queries: np.ndarray) -> np.ndarray:
        return faiss_index.search(np.ascontiguousarray(queries, dtype=np.float32), k + 1)[1]

    return search


def measure_index(
    index: SpaceIndex, variant: str, kind: str, build_s: float, query_vecs: np.ndarray, query_ids: np.ndarray,
    truth: np.ndarray,
) -> tuple[dict[str, Any], tuple[str, Callable[[int], Any], float], float]:  # fmt: skip
    """What every way of timing a built, saved index shares: its row fields (size, build, params), the ``faiss``
    way (FAISS's own search of a query item's vector) with its recall, and the recall styledex's answer gets.
    truth: [queries, k] item ids of the exact top k."""
    k, items = truth.shape[1], len(index)
    size = (index.directory / "index.faiss").stat().st_size
    common = {
        "items": items, "space": index.space, "vectors": kind, "k": k, "queries": len(query_ids),
        "index": f"auto: {index.index_type}" if variant == "auto" else variant,
        "params": index.index_params, "build_seconds": round(build_s, 2), "bytes_per_item": round(size / items, 1),
    }  # fmt: skip
    raw = _raw_faiss(index, k)
    raw_recall = recall_at_k(_drop_self(raw(query_vecs), query_ids, k), truth)
    by_id = dict(zip(query_ids.tolist(), query_vecs, strict=True))
    faiss_way = ("faiss", lambda item_id: raw(by_id[item_id][None, :]), raw_recall)
    return common, faiss_way, recall_at_k(_styledex_top(index, query_vecs, query_ids, k), truth)


def _drop_self(labels: np.ndarray, query_ids: np.ndarray, k: int) -> list[list[int]]:
    """FAISS's labels [q, k+1] as ids without the query item itself and the -1 padding, k per query."""
    return [[int(i) for i in row if i != q and i != -1][:k] for row, q in zip(labels, query_ids, strict=True)]


def _styledex_top(index: SpaceIndex, query_vecs: np.ndarray, query_ids: np.ndarray, k: int) -> list[list[int]]:
    """The ids `SpaceIndex.search` returns for each query row (its own id excluded), as styledex answers."""
    return [
        [h[0] for h in index.search(q[None, :], k, exclude=[{int(i)}])[0]]
        for q, i in zip(query_vecs, query_ids, strict=True)
    ]
