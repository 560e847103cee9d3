"""FAISS's OpenMP thread count and its choice of matrix products, set for one block of work."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import faiss


@contextlib.contextmanager
def faiss_threads(threads: int | None) -> Iterator[None]:
    """FAISS's OpenMP threads for the calling thread set to ``threads`` inside the block (None: left as they are),
    restored after. The setting is per thread: a server's worker threads each keep their own."""
    previous = faiss.omp_get_max_threads()
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(previous)


# FAISS's exact search scans the vectors once per query unless the query batch is large enough for a matrix product
# (its global distance_compute_blas_threshold). Measured on the 2-core machine, 100k × 2048-d flat, one thread
# (scripts/content_views_cost.py): 1 query 36-40 ms by scans, 84-90 ms by the product; 2 queries 68-85 / 88-90 ms;
# 12 queries (a content query with its views) 460-494 ms by scans, 105-107 ms by the product. So scans for one or
# two queries, the product from three.
BLAS_MIN_QUERIES = 3


@contextlib.contextmanager
def faiss_matrix_product(queries: int) -> Iterator[None]:
    """Inside the block, FAISS's exact search computes ``queries`` queries' scores as one matrix product when there
    are at least :data:`BLAS_MIN_QUERIES` (scans below), restored after. The setting is FAISS's, for the process:
    a search on another thread meanwhile may take the other path, which changes its time, never its results."""
    previous = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 1 if queries >= BLAS_MIN_QUERIES else previous
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = previous
