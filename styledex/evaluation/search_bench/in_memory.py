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
from .indexes import build_index, measure_index
from .report import progress_line
from .synthetic import SyntheticVectors
from .timing import time_catalog_ways
from .views import bench_regions, exact_best_of_views, views_of_queries


def bench_catalog_size(
    items: int, spaces: Sequence[str], variants: Sequence[str], queries: int, k: int, kind: str, http: bool,
    tmp: Path, progress: Callable[[str], None], build_threads: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for one catalog size: a real SQLite catalog, every variant of every space, three ways each. A view
    space's query items get region views in the catalog and ask with all their views (`.views`)."""
    rows: list[dict[str, Any]] = []
    directory = tmp / f"catalog-{items}-{kind}"
    started = time.perf_counter()
    # Catalog ids are rows + 1, so the query rows are known before the catalog is written (their views go in it).
    query_rows = np.random.default_rng(1).choice(items, size=queries, replace=False)
    regions = {space: bench_regions(space, SyntheticVectors.for_space(space, kind=kind), query_rows)
               for space in spaces}  # fmt: skip
    views = {space: dict(zip(query_rows.tolist(), r, strict=True)) for space, r in regions.items() if r is not None}
    catalog = build_synthetic_catalog(directory, items, spaces=spaces, kind=kind, views=views)
    progress(f"{items} items ({kind}): catalog written in {time.perf_counter() - started:.0f} s")
    try:
        for space in spaces:
            spec = resolve(space)
            ids, vectors = catalog.load_vectors(space, spec.dim)
            query_ids = ids[query_rows]
            query_views = views_of_queries(vectors[query_rows], regions[space])
            truth = ids[exact_best_of_views(lambda v=vectors: iter([(0, v)]), query_views, query_rows, k)]
            for variant in variants:
                fingerprint = CatalogSpaces.of(catalog).spaces[space]
                with faiss_threads(build_threads):
                    index, train_s = build_index(variant, catalog.index_dir(space), space, fingerprint, vectors, items)
                    t0 = time.perf_counter()
                    index.add(ids, vectors)
                    build_s = train_s + time.perf_counter() - t0
                bench_indexes(catalog).replace(index)
                common, faiss_way, recall = measure_index(index, variant, kind, build_s, query_views, query_ids, truth)
                new_rows = time_catalog_ways(catalog, space, k, http, faiss_way, recall, query_ids, common)
                rows += new_rows
                for row in new_rows:
                    progress(progress_line(row))
    finally:
        catalog.close()
    return rows
