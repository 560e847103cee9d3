"""Where a lossy index finds the exact vectors of its items: the `ExactVectors` interface, and one over an array.

An ivfpq index stores product-quantized codes, not vectors. To score its candidates exactly (re-ranking) and to
reconstruct an item exactly, `SpaceIndex` asks its `vector_source`, any object with the `ExactVectors` method: the
catalog's implementation reads the stored rows from SQLite (`styledex.space_indexes.CatalogVectors`), benchmarks and
tests use `ArrayVectors` over the vectors they built the index from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ExactVectors(Protocol):
    """The exact vectors of one embedding space, by item id."""

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of `ids` (n,) int64, in that order: (n, dim) float32 (as stored: unit rows for an "ip"
        space). Raises KeyError when one of the ids has no vector (e.g. removed by another writer), so the caller
        can drop it."""
        ...


@dataclass(frozen=True)
class ArrayVectors:
    """`ExactVectors` over an array `rows` (N, dim) (in memory or memory-mapped) whose row r is the vector of id
    r + `first_id`; ids outside [first_id, first_id + N) raise KeyError."""

    rows: np.ndarray
    first_id: int = 0

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        positions = np.asarray(ids, dtype=np.int64) - self.first_id
        # Without this check a negative position would wrap around and return another item's vector.
        outside = (positions < 0) | (positions >= len(self.rows))
        if outside.any():
            raise KeyError(f"no vector for id(s) {(positions[outside] + self.first_id)[:10].tolist()}")
        return np.asarray(self.rows[positions])
