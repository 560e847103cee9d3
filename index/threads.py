"""FAISS's OpenMP thread count, set for one block of work."""

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
