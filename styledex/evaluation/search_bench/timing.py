"""Timing queries: p50/p99 of one query per item id, and the ``faiss``, ``inprocess`` and ``http`` ways of asking a
catalog's index."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from styledex.catalog import Catalog
from styledex.search import Searcher

from .catalogs import bench_indexes
from .server import http_server


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """``p50_ms`` and ``p99_ms`` of latencies in milliseconds, rounded to the microsecond."""
    values = np.asarray(samples_ms)
    return {"p50_ms": round(float(np.percentile(values, 50)), 3), "p99_ms": round(float(np.percentile(values, 99)), 3)}


def time_calls(call: Callable[[int], Any], ids: np.ndarray, warmup: int = 5) -> list[float]:
    """Milliseconds of ``call(id)`` for each id, after ``warmup`` untimed calls on the first ids."""
    for item_id in ids[:warmup]:
        call(int(item_id))
    samples = []
    for item_id in ids:
        started = time.perf_counter()
        call(int(item_id))
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_catalog_ways(
    catalog: Catalog, space: str, k: int, http: bool, faiss_way: tuple[str, Callable[[int], Any], float],
    recall: float, query_ids: np.ndarray, common: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for `faiss_way`, ``inprocess`` (`Searcher` through ``catalog``, whose index of ``space`` is the one
    measured) and, with ``http``, ``GET /items/{id}/similar`` to a server over the catalog's folder."""
    searcher = Searcher(catalog, indexes=bench_indexes(catalog))

    def inprocess(item_id: int) -> None:
        query = searcher.query_vectors_for_item(item_id, [space])
        searcher.search(query, {space: 1.0}, k, exclude=[item_id])

    ways = [faiss_way, ("inprocess", inprocess, recall)]
    if not http:
        return time_ways(ways, query_ids, common)
    with http_server(catalog.directory) as client:

        def over_http(item_id: int) -> None:
            client.get(f"/items/{item_id}/similar", params={"space": space, "k": k}).raise_for_status()

        return time_ways([*ways, ("http", over_http, recall)], query_ids, common)


def time_ways(
    ways: Sequence[tuple[str, Callable[[int], Any], float]], query_ids: np.ndarray, common: dict[str, Any]
) -> list[dict[str, Any]]:
    """One row per (name, call, recall) way: ``common``, the way's name and recall, its p50/p99 over ``query_ids``."""
    return [
        common | {"via": via, "recall_at_10": round(recall, 4)} | percentiles(time_calls(call, query_ids))
        for via, call, recall in ways
    ]
