"""Search at scale: latency, recall, build time and size of each index type, raw FAISS next to styledex's paths.

For each catalog size, space and index type (flat, hnsw, ivfpq, ivfpq+opq) one run measures:

- ``build_seconds``: building the index from vectors already in memory (ivfpq: training included);
- ``bytes_per_item``: the saved index file's size / count;
- ``recall_at_10``: the overlap of the top 10 with the exact top 10 (brute force in float32 over the same vectors;
  the query item itself excluded in both), averaged over the queries;
- p50/p99 latency of one query three ways: ``faiss`` (the FAISS index's own search, no re-ranking, no catalog),
  ``inprocess`` (``Searcher.search`` through the catalog: ids → rows, ivfpq's exact re-ranking from SQLite) and
  ``http`` (``GET /items/{id}/similar`` to a uvicorn server on loopback, in the same process).

Each query asks for the k nearest items of a random catalog item, excluding itself; in a view space (``content``)
with the item's twelve views, as a content search asks, each item counting by its best view (``views``: the
query items' region views stored in the catalog, the exact answer by the best view).

Up to ``CATALOG_MAX_ITEMS`` items the bench writes a SQLite catalog and holds its vectors in memory. Above that (1M
items of 2944 floats are 11.8 GB of raw vectors per space) the vectors go to a float32 memmap on disk, which feeds
the index chunk by chunk and the exact brute-force pass, and (with HTTP on) a real SQLite catalog of the same vectors
is written one space at a time (another ~12.5 GB), so the index is measured through the catalog and the server as
at smaller sizes; with ``http=False`` no catalog is written, ``inprocess`` is ``SpaceIndex.search`` with the memmap
as its exact vectors. There an index type whose copies would not fit in the memory available is skipped (with
HTTP the server holds its own copy beside the bench's: a 1M flat or hnsw index of 2944-d vectors is ~12 GB each).

FAISS builds on every core (``build_threads``) and answers the timed queries on ``threads`` (one by default).

The modules: ``synthetic`` (the vectors, their fitted per-space profiles), ``exact`` (brute-force top-k, recall),
``catalogs`` (synthetic SQLite catalogs), ``indexes`` (the variants, building one, what each timing way shares),
``timing`` (p50/p99, the three ways), ``views`` (a view space's queries), ``server`` (the loopback HTTP server),
``in_memory`` and ``streamed`` (the two paths by size), ``memory`` (the streamed path's guard) and ``report``
(progress lines, table, plot). This module
runs them: `run_search_bench` reads ``CATALOG_MAX_ITEMS`` and ``_available_memory_bytes`` from here when it runs,
so setting either on this module (as the tests do) changes the run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from styledex.index import faiss_threads

from .catalogs import BENCH_SPACES, build_synthetic_catalog
from .exact import exact_topk, recall_at_k
from .in_memory import bench_catalog_size
from .indexes import INDEX_TYPES, INDEX_VARIANTS
from .memory import available_memory_bytes as _available_memory_bytes
from .report import format_search_table, plot_search_report
from .streamed import bench_streamed
from .synthetic import SPACE_PROFILES, SyntheticProfile, SyntheticVectors, fit_profile
from .timing import percentiles, time_calls

__all__ = [
    "BENCH_SPACES", "CATALOG_MAX_ITEMS", "INDEX_TYPES", "INDEX_VARIANTS", "SPACE_PROFILES", "SyntheticProfile",
    "SyntheticVectors", "build_synthetic_catalog", "exact_topk", "fit_profile", "format_search_table", "percentiles",
    "plot_search_report", "recall_at_k", "run_search_bench", "time_calls",
]  # fmt: skip

CATALOG_MAX_ITEMS = 200_000  # above this many items a size takes the streamed path (module docstring)


def run_search_bench(
    items: int | Sequence[int] = (10_000, 100_000),
    queries: int = 300,
    k: int = 10,
    space: str | Sequence[str] = BENCH_SPACES,
    index_types: Sequence[str] = INDEX_TYPES,
    *,
    isotropic_items: int | None = None,
    http: bool = True,
    threads: int | None = 1,
    build_threads: int | None = None,
    work_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The ``search`` rows of ``styledex bench`` (see the module docstring), for every size × space × index type.

    isotropic_items: also measure isotropic vectors at this size (the ANN worst case). threads: FAISS OpenMP
    threads while queries are timed (1: one query's latency on one core, as a busy server sees it; None: FAISS's
    default). build_threads: FAISS threads while indexes are trained and filled (None: every core).
    work_dir: where catalogs and memmaps go (default a temporary directory; 1M × 2944-d needs ~25 GB of disk with HTTP).
    """
    sizes = [items] if isinstance(items, int) else list(items)
    spaces = [space] if isinstance(space, str) else list(space)
    unknown = sorted(set(index_types) - set(INDEX_VARIANTS))
    if unknown:
        raise ValueError(f"unknown index type(s) {unknown}; expected some of {sorted(INDEX_VARIANTS)}")
    say = progress or (lambda line: None)
    build_threads = build_threads or os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
    with faiss_threads(threads), tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        runs = [(n, "clustered") for n in sizes] + ([(isotropic_items, "isotropic")] if isotropic_items else [])
        for n, kind in runs:
            queries_n = min(queries, n)
            size_args = (n, spaces, index_types, queries_n, k, kind, http, Path(tmp), say, build_threads)
            if n <= CATALOG_MAX_ITEMS:
                rows += bench_catalog_size(*size_args)
            else:  # the memory probe as this module holds it now (see the module docstring)
                rows += bench_streamed(*size_args, available_memory=_available_memory_bytes)
    setup = {"threads": threads, "build_threads": build_threads, "cpus": os.cpu_count(), "k": k}
    return {"search": rows, "search_setup": setup}
