"""One space of a catalog's Milvus collection (`index.milvus_collection`) with the contract of `SpaceIndex`
(search, reconstruct, save, membership, identity), so search, filters, the service and ``/explain`` run on it
unchanged. Items are added and removed through the collection, which takes every space of an item at once."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exact_vectors import ExactVectors
from .identity import IndexIdentity
from .milvus_client import EngineFilter
from .milvus_collection import MilvusCollection


class MilvusSpaceIndex(IndexIdentity):
    """Space ``space`` of ``collection``: what `MilvusCollection.view` returns (one per space)."""

    index_type = "milvus"
    filters_in_engine = True  # search takes `where`: Milvus filters on the scalar fields while it searches

    def __init__(self, collection: MilvusCollection, space: str) -> None:
        field = collection.spaces[space]
        self.collection = collection
        self._directory: Path = collection.directory
        self._space, self._dim, self._metric, self._fingerprint = space, field.dim, field.metric, field.fingerprint
        self.policy: dict[str, Any] | None = {"chosen_by": "backend",
                                              "reason": f"index.backend milvus at {collection.uri}"}  # fmt: skip
        self._vector_source: ExactVectors | None = None

    @property
    def revision(self) -> int:
        """The catalog revision the collection holds (shared by every space of it)."""
        return self.collection.revision

    @revision.setter
    def revision(self, value: int) -> None:
        self.collection.revision = int(value)

    @property
    def index_params(self) -> dict[str, Any]:
        return {"collection": self.collection.name}

    @property
    def vector_source(self) -> ExactVectors | None:
        """Accepted for the contract; Milvus's FLAT search and stored vectors are exact, so never read."""
        return self._vector_source

    @vector_source.setter
    def vector_source(self, source: ExactVectors | None) -> None:
        self._vector_source = source

    def __len__(self) -> int:
        return len(self.collection)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self.collection

    def ids(self) -> np.ndarray:
        return self.collection.ids()

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        raise TypeError("a Milvus collection takes every space of an item at once: add through MilvusCollection.add")

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Delete the ``ids`` present from the collection (every space); how many were."""
        return self.collection.remove(ids)

    def search(
        self, queries: np.ndarray, k: int, *, exclude: Sequence[Collection[int]] | None = None,
        where: EngineFilter | None = None,
    ) -> list[list[tuple[int, float]]]:  # fmt: skip
        """`MilvusCollection.search` in this space."""
        return self.collection.search(self._space, queries, k, exclude=exclude, where=where)

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The stored vector of ``item_id`` [dim] float32 (KeyError when absent)."""
        return self.collection.vector(item_id, self._space)

    def set_search_params(self, **params: int) -> None:
        raise ValueError(f"the milvus backend has no query-time parameters, got {sorted(params)}")

    def save(self, *, revision: int | None = None) -> None:
        """Save the collection (every space): `MilvusCollection.save`."""
        self.collection.save(revision=revision)

    def __repr__(self) -> str:
        return f"MilvusSpaceIndex(space={self._space!r}, collection={self.collection.name!r}, count={len(self)})"
