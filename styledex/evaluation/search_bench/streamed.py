"""Sizes above ``CATALOG_MAX_ITEMS`` (1M items of 2944 floats are 11.8 GB per space): the vectors stream from a float32
memmap on disk into the index and the exact brute force; with HTTP a real catalog of them is written one space at a
time, without it ``inprocess`` is `SpaceIndex.search` with the memmap as its exact vectors. An index whose copies
would not fit in the memory available is skipped."""

from __future__ import annotations

import gc
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog import Catalog
from styledex.embed.spaces import resolve
from styledex.index import ArrayVectors, faiss_threads
from styledex.search import CatalogSpaces, best_of_views

from .catalogs import bench_indexes, build_synthetic_catalog
from .indexes import build_index, measure_index
from .memory import available_memory_bytes, memory_shortfall
from .report import progress_line
from .synthetic import SyntheticVectors
from .timing import time_catalog_ways, time_ways
from .views import bench_regions, exact_best_of_views, views_of_queries


@dataclass
class _StreamedSpace:
    """One space of a streamed size: its vectors on disk, the queries and their exact answers, the catalog (None
    without HTTP)."""

    space: str
    items: int
    kind: str
    k: int
    exact: np.ndarray  # [items, dim] float32 memmap, row = item id - 1
    query_views: np.ndarray  # [queries, V, dim]: the vector alone (V = 1), or a content query's twelve views
    query_ids: np.ndarray  # [queries] item ids
    truth: np.ndarray  # [queries, k] item ids of the exact top k
    catalog: Catalog | None

    def chunks(self) -> Iterator[tuple[int, np.ndarray]]:
        return _memmap_chunks(self.exact)


def _memmap_chunks(exact: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows in memory) covering a memmap [n, dim], `SyntheticVectors.CHUNK` rows at a time."""
    for start in range(0, len(exact), SyntheticVectors.CHUNK):
        yield start, np.asarray(exact[start : start + SyntheticVectors.CHUNK])


def bench_streamed(
    items: int, spaces: Sequence[str], variants: Sequence[str], queries: int, k: int, kind: str, http: bool,
    tmp: Path, progress: Callable[[str], None], build_threads: int | None = None, train_items: int = 100_000, *,
    available_memory: Callable[[], int | None] = available_memory_bytes,
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows for a size too large to hold in memory: a memmap of the vectors feeds the index chunk by chunk and the
    exact brute force; with ``http`` a real catalog of the same vectors is written too (one space at a time) and the
    index is measured through it as in `bench_catalog_size`, otherwise ``inprocess`` is `SpaceIndex.search` with
    the memmap as its exact vectors. Item ids are row + 1, as in a catalog. A variant whose index would not fit in
    the memory available (twice over with HTTP: the server opens its own copy) is skipped with a progress line."""
    rows: list[dict[str, Any]] = []
    for space in spaces:
        spec = resolve(space)
        gen = SyntheticVectors.for_space(space, kind=kind)
        memmap_path = tmp / f"{space}-{items}.f32"
        exact = np.lib.format.open_memmap(memmap_path, mode="w+", dtype=np.float32, shape=(items, spec.dim))
        for start, block in gen.chunks(items):
            exact[start : start + len(block)] = block
        exact.flush()
        progress(f"{items} items ({kind}) {space}: vectors on disk")
        query_rows = np.sort(np.random.default_rng(1).choice(items, size=queries, replace=False))
        regions = bench_regions(space, gen, query_rows)
        catalog = None
        if http:
            started = time.perf_counter()
            views = None if regions is None else {space: dict(zip(query_rows.tolist(), regions, strict=True))}
            catalog = build_synthetic_catalog(tmp / f"catalog-{items}-{kind}-{space}", items, spaces=[space], kind=kind,
                                              views=views)  # fmt: skip
            progress(f"{items} items ({kind}) {space}: catalog written in {time.perf_counter() - started:.0f} s")
        query_views = views_of_queries(np.asarray(exact[query_rows]), regions)
        truth = exact_best_of_views(lambda exact=exact: _memmap_chunks(exact), query_views, query_rows, k) + 1
        progress(f"{items} items ({kind}) {space}: exact answers of {queries} queries x {query_views.shape[1]} views")
        streamed = _StreamedSpace(space, items, kind, k, exact, query_views, query_rows + 1, truth, catalog)
        for variant in variants:
            shortfall = memory_shortfall(variant, space, items, copies=2 if http else 1, probe=available_memory)
            if shortfall is not None:
                progress(f"{items} items ({kind}) {space} {variant}: skipped, {shortfall}")
                continue
            new_rows = _bench_streamed_variant(streamed, variant, tmp, build_threads, train_items)
            rows += new_rows
            for row in new_rows:
                progress(progress_line(row))
            # The index is only held by the catalog now (and the server's copy by reference cycles): free both
            # before the next one is built, at 1M items two may not fit beside each other. A catalog opened anew
            # holds no index until its next search.
            if catalog is not None:
                catalog.close()
                catalog = streamed.catalog = Catalog.open(catalog.directory)
            gc.collect()
        if catalog is not None:
            catalog.close()
            shutil.rmtree(catalog.directory)
        del exact, streamed
        memmap_path.unlink()
    return rows


def _bench_streamed_variant(
    streamed: _StreamedSpace, variant: str, tmp: Path, build_threads: int | None, train_items: int
) -> list[dict[str, Any]]:
    """The rows of one index type of `bench_streamed`: build it from the memmap, then time it."""
    s, catalog = streamed, streamed.catalog
    if catalog is None:
        directory, fingerprint = tmp / f"index-{s.space}-{variant}", "synthetic"
    else:
        directory, fingerprint = catalog.index_dir(s.space), CatalogSpaces.of(catalog).spaces[s.space]
    with faiss_threads(build_threads):
        index, train_s = build_index(variant, directory, s.space, fingerprint, s.exact[:train_items], s.items)
        t0 = time.perf_counter()
        for start, block in s.chunks():
            index.add(np.arange(start + 1, start + 1 + len(block), dtype=np.int64), block)
        build_s = train_s + time.perf_counter() - t0
    if catalog is None:
        index.save()
        index.vector_source = ArrayVectors(s.exact, first_id=1)
    else:
        bench_indexes(catalog).replace(index)  # re-ranks with the catalog's rows from now on
    common, faiss_way, recall = measure_index(index, variant, s.kind, build_s, s.query_views, s.query_ids, s.truth)
    if catalog is not None:
        return time_catalog_ways(catalog, s.space, s.k, True, faiss_way, recall, s.query_ids, common)

    by_id = dict(zip(s.query_ids.tolist(), s.query_views, strict=True))

    def inprocess(item_id: int) -> None:
        best_of_views(index, by_id[item_id], s.k, [item_id])

    note = "no catalog: inprocess = SpaceIndex.search, exact vectors from a memmap"
    ways = [faiss_way, ("inprocess", inprocess, recall)]
    return [row | {"note": note} for row in time_ways(ways, s.query_ids, common)]
