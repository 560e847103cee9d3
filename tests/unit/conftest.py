"""Fixtures of the unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from styledex.index import faiss_threads


@pytest.fixture
def one_faiss_thread() -> Iterator[None]:
    """FAISS on one thread: on a shared, loaded CPU, OpenMP spinning makes small trainings (k-means) far slower."""
    with faiss_threads(1):
        yield
