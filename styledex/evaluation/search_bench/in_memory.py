"""Sizes up to ``CATALOG_MAX_ITEMS``: a SQLite catalog written in full, its vectors held in memory, every index
measured through the catalog (and the server)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from styledex.embed.spaces import resolve
from styledex.index import faiss_threads
from styledex.search import CatalogSpaces

from .catalogs import bench_indexes, build_synthetic_catalog
from .exact import exact_topk
from .indexes import build_index, measure_index
from .report import progress_line
from .timing import time_catalog_ways


def bench_catalog_size(
    items: int, spaces: Sequence[str], variants: Sequence[str], queries: int, k: int, kind: str, http: bool,
    tmp: Path, progress: Callable[[str], None], build_threads: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for one catalog size: a real SQLite catalog, every variant of every space, three ways each."""
    rows: list[dict[str, Any]] = []
    directory = tmp / f"catalog-{items}-{kind}"
    started = time.perf_counter()
    catalog = build_synthetic_catalog(directory, items, spaces=spaces, kind=kind)
    progress(f"{items} items ({kind}): catalog written in {time.perf_counter() - started:.0f} s")
    try:
        for space in spaces:
            spec = resolve(space)
            ids, vectors = catalog.load_vectors(space, spec.dim)
            query_rows = np.random.default_rng(1).choice(len(ids), size=queries, replace=False)
            query_ids, query_vecs = ids[query_rows], vectors[query_rows]
            truth_rows = exact_topk(lambda v=vectors: iter([(0, v)]), query_vecs, query_rows, k)
            truth = ids[truth_rows]
            for variant in variants:
                fingerprint = CatalogSpaces.of(catalog).spaces[space]
                with faiss_threads(build_threads):
                    index, train_s = build_index(variant, catalog.index_dir(space), space, fingerprint, vectors, items)
                    t0 = time.perf_counter()
                    index.add(ids, vectors)
                    build_s = train_s + time.perf_counter() - t0
                bench_indexes(catalog).replace(index)
                common, faiss_way, recall = measure_index(index, variant, kind, build_s, query_vecs, query_ids, truth)
                new_rows = time_catalog_ways(catalog, space, k, http, faiss_way, recall, query_ids, common)
                rows += new_rows
                for row in new_rows:
                    progress(progress_line(row))
    finally:
        catalog.close()
    return rows
