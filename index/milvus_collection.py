"""A catalog's vectors in one Milvus collection: `MilvusCollection`, one row per item with one vector field per
space (``v_<space>``, exact ``FLAT`` search with the space's metric) and the scalar fields filters run on (``kind``
and ``metadata``, the item's metadata with every value as filter text). Each space is searched through a view with
the `SpaceIndex` contract (`index.milvus_index.MilvusSpaceIndex`); a mix of spaces asks the collection once with
Milvus's multi-vector (hybrid) search (:meth:`MilvusCollection.candidates`).

Where: a collection ``styledex_<catalog key>`` on the Milvus at ``uri``: a local file, served by Milvus Lite inside
this process (PyPI ``milvus-lite``; one process at a time holds the file), or ``http://host:19530`` for a Milvus
server or cluster (shards and replicas are the server's).

What is current: Milvus takes each insert and delete as the catalog commits it; `save` flushes the collection and
writes the revision it holds to ``<catalog>/index/milvus.json`` (a ``.tmp``, fsynced, renamed). SQLite stays the
record of items: a collection whose manifest lags the catalog's revision (a crash between a commit and the save,
or between the SQLite delete and Milvus's), or that is missing, holds another count, or another set of spaces or
weights, is rebuilt from the catalog's rows when it is opened, as a lagging FAISS file is. So after a crash the two
may disagree only until the next open, which sides with SQLite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .checks import checked_ids, checked_vectors
from .factory import Metric
from .milvus_client import (
    MAX_TOP_K,
    EngineFilter,
    all_rows,
    engine_score,
    filter_expression,
    milvus_client,
    milvus_metric,
    milvus_name,
)
from .persistence import IndexMismatchError
from .query import best_rows

if TYPE_CHECKING:
    from .milvus_index import MilvusSpaceIndex

MANIFEST = "milvus.json"
MANIFEST_FORMAT = "styledex-milvus-2"  # -1: one collection per space (the eleventh session's); rebuilt on open
INSERT_BYTES = 32 << 20  # vector bytes per insert call: Milvus caps one request (64 MB by default)


@dataclass(frozen=True)
class VectorField:
    """One space's vector field: its dimension, metric and the fingerprint of the weights that embedded it."""

    dim: int
    metric: Metric
    fingerprint: str


class ItemFields(Protocol):
    """Where a collection's scalar fields come from (the catalog's rows, ``styledex.space_indexes``)."""

    def item_fields(self, ids: np.ndarray) -> list[tuple[str, dict[str, str]]]:
        """Per id [n], in order: (kind, metadata with every value as filter text); KeyError for a missing id."""
        ...


def collection_name(catalog_key: str) -> str:
    """``styledex_<catalog key>``: Milvus allows letters, digits and underscores."""
    return milvus_name(f"styledex_{catalog_key}")


def vector_field(space: str) -> str:
    """The name of ``space``'s vector field: ``v_<space>``."""
    return milvus_name(f"v_{space}")


class MilvusCollection:
    """Every item of a catalog as one row of a Milvus collection (module docstring), keyed by catalog item ids.

    ``directory``: the catalog's index folder, where the manifest is saved. ``spaces``: space → its `VectorField`.
    Scores as `SpaceIndex` gives them: the inner product for "ip", minus the squared distance for "l2".
    """

    def __init__(
        self, directory: Path, *, uri: str, name: str, spaces: Mapping[str, VectorField], revision: int,
        ids: Collection[int],
    ) -> None:  # fmt: skip
        self.directory = Path(directory)
        self.uri, self.name = uri, name
        self.spaces = dict(spaces)
        self.revision = int(revision)
        self._ids = {int(i) for i in ids}
        self._views: dict[str, MilvusSpaceIndex] = {}
        # Set by the caller (the catalog's rows): the kind and metadata `add` stores for filters.
        self.item_fields: ItemFields | None = None

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls, directory: Path, ids: np.ndarray, vectors: Mapping[str, np.ndarray], *, uri: str, name: str,
        spaces: Mapping[str, VectorField], revision: int = 0, fields: ItemFields | None = None,
        replaces: Sequence[str] = (),
    ) -> MilvusCollection:  # fmt: skip
        """A new collection ``name`` holding, per item of ``ids`` [n], its vector in every space of ``spaces``
        (``vectors``: space → [n, dim], rows in the order of ``ids``) and its kind and metadata from ``fields``
        (None: none, so filters match nothing). A collection of that name, and those named in ``replaces``, are
        dropped first."""
        from pymilvus import DataType, MilvusClient

        client = milvus_client(uri)
        for old in (name, *replaces):
            if client.has_collection(old):
                client.drop_collection(old)
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        params = client.prepare_index_params()
        for space, spec in spaces.items():
            schema.add_field(vector_field(space), DataType.FLOAT_VECTOR, dim=spec.dim)
            params.add_index(vector_field(space), index_type="FLAT", metric_type=milvus_metric(spec.metric))
        schema.add_field("kind", DataType.VARCHAR, max_length=16)  # image | video ("" unknown): filters
        schema.add_field("metadata", DataType.JSON)  # the item's metadata, values as filter text
        client.create_collection(name, schema=schema, index_params=params)
        collection = cls(directory, uri=uri, name=name, spaces=spaces, revision=revision, ids=())
        collection.item_fields = fields
        collection.add(ids, vectors)
        client.load_collection(name)
        return collection

    @classmethod
    def open(
        cls, directory: Path, *, uri: str, name: str, expected: Mapping[str, VectorField]
    ) -> MilvusCollection:
        """The collection a `save` recorded in ``directory``: FileNotFoundError when none was saved,
        IndexMismatchError when it is gone, holds another count, or was made for other spaces or weights."""
        try:
            manifest = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"no Milvus manifest in {directory}: {exc}") from None
        wanted = {"format": MANIFEST_FORMAT, "uri": uri, "collection": name,
                  "spaces": {space: asdict(spec) for space, spec in expected.items()}}  # fmt: skip
        wrong = sorted(key for key, value in wanted.items() if manifest.get(key) != value)
        if wrong:
            raise IndexMismatchError(f"Milvus manifest in {directory} differs in {', '.join(wrong)}")
        client = milvus_client(uri)
        if not client.has_collection(name):
            raise IndexMismatchError(f"Milvus collection {name} is gone")
        client.load_collection(name)
        ids = [int(row["id"]) for row in all_rows(client, name, ["id"])]
        if len(ids) != manifest["count"]:
            raise IndexMismatchError(f"Milvus collection {name} holds {len(ids)}, saved {manifest['count']}")
        return cls(directory, uri=uri, name=name, spaces=expected, revision=manifest["revision"], ids=ids)

    def view(self, space: str) -> MilvusSpaceIndex:
        """``space``'s vectors with the `SpaceIndex` contract (one object per space; KeyError for another space)."""
        from .milvus_index import MilvusSpaceIndex

        if space not in self.spaces:
            raise KeyError(space)
        if space not in self._views:
            self._views[space] = MilvusSpaceIndex(self, space)
        return self._views[space]

    # -- items ----------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and int(item_id) in self._ids

    def ids(self) -> np.ndarray:
        return np.array(sorted(self._ids), dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: Mapping[str, np.ndarray]) -> None:
        """Insert new items ``ids`` [n] with their vector in every space (``vectors``: space → [n, dim]); ValueError
        for an id already present or repeated, or a space missing or extra."""
        ids = checked_ids(ids)
        if set(vectors) != set(self.spaces):
            raise ValueError(f"expected vectors of spaces {sorted(self.spaces)}, got {sorted(vectors)}")
        checked = {space: checked_vectors(vectors[space], spec.dim, f"{space} vectors", "n")
                   for space, spec in self.spaces.items()}  # fmt: skip
        if any(len(rows) != len(ids) for rows in checked.values()):
            raise ValueError(f"expected one vector per id ({len(ids)}) in every space")
        present = sorted(self._ids.intersection(ids.tolist()))
        if present or len(set(ids.tolist())) != len(ids):
            raise ValueError(f"ids already present or repeated: {present[:10] or 'repeated'}")
        client = milvus_client(self.uri)
        per_chunk = max(1, INSERT_BYTES // (4 * sum(spec.dim for spec in self.spaces.values())))
        for start in range(0, len(ids), per_chunk):
            chunk = slice(start, start + per_chunk)
            fields = (self.item_fields.item_fields(ids[chunk]) if self.item_fields is not None
                      else [("", {})] * len(ids[chunk]))  # fmt: skip
            rows = [{"id": int(item_id), "kind": kind, "metadata": metadata} for item_id, (kind, metadata)
                    in zip(ids[chunk].tolist(), fields, strict=True)]  # fmt: skip
            for space, matrix in checked.items():
                for row, vector in zip(rows, matrix[chunk].tolist(), strict=True):
                    row[vector_field(space)] = vector
            client.insert(self.name, rows)
        self._ids.update(ids.tolist())

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Delete the ``ids`` present; how many were."""
        doomed = sorted(self._ids.intersection(int(i) for i in np.asarray(list(ids), dtype=np.int64).ravel()))
        if doomed:
            milvus_client(self.uri).delete(self.name, ids=doomed)
            self._ids.difference_update(doomed)
        return len(doomed)

    # -- search ---------------------------------------------------------------------------------------------
    def search(
        self, space: str, queries: np.ndarray, k: int, *, exclude: Sequence[Collection[int]] | None = None,
        where: EngineFilter | None = None,
    ) -> list[list[tuple[int, float]]]:  # fmt: skip
        """The k best (id, score) in ``space`` per row of ``queries`` [q, dim], best first, ``exclude``'s ids
        dropped; with ``where``, only items whose kind and metadata match it (`filter_expression`)."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        spec = self.spaces[space]
        queries = checked_vectors(queries, spec.dim, "queries", "q")
        excluded = [set() for _ in queries] if exclude is None else [{int(i) for i in ex} for ex in exclude]
        if not self._ids or not len(queries):
            return [[] for _ in queries]
        fetch = min(len(self._ids), int(k) + max((len(ex) for ex in excluded), default=0), MAX_TOP_K)
        hits = milvus_client(self.uri).search(
            self.name, data=queries.tolist(), anns_field=vector_field(space), limit=fetch,
            search_params={"metric_type": milvus_metric(spec.metric)},
            filter=filter_expression(where) if where is not None else "",
        )  # fmt: skip
        labels = np.full((len(queries), fetch), -1, dtype=np.int64)
        scores = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
        for row, found in enumerate(hits):
            for col, hit in enumerate(found):
                labels[row, col] = int(hit["id"])
                scores[row, col] = engine_score(hit["distance"], spec.metric)
        return best_rows(scores, labels, excluded, int(k))

    def candidates(
        self, queries: Mapping[str, np.ndarray], weights: Mapping[str, float], n: int, *,
        exclude: Collection[int] = (), where: EngineFilter | None = None,
    ) -> dict[int, dict[str, np.ndarray]]:  # fmt: skip
        """The items a mix of spaces ranks from, with their stored vectors: {id: {space: vector [dim]}}.

        One multi-vector (hybrid) search: a request per row of each ``queries[space]`` [views, dim] (a space's
        query and its views), each the ``n`` best of its field (``exclude`` dropped, ``where`` applied), fused by
        Milvus's weighted ranker (``weights``, ≥ 0, shared among a space's rows) and returned whole, so the
        candidates are the union of every request's ``n`` best (the caller scores them exactly)."""
        from pymilvus import AnnSearchRequest, WeightedRanker

        asked = list(weights)
        total = sum(weights.values())
        if not self._ids or not asked or total <= 0:
            return {}
        expression = filter_expression(where) if where is not None else ""
        fetch = min(len(self._ids), int(n) + len(exclude), MAX_TOP_K)
        requests, ranker_weights = [], []
        for space in asked:
            spec = self.spaces[space]
            rows = checked_vectors(np.atleast_2d(queries[space]), spec.dim, f"{space} queries", "views")
            for row in rows.tolist():
                requests.append(AnnSearchRequest(data=[row], anns_field=vector_field(space), limit=fetch,
                                                 param={"metric_type": milvus_metric(spec.metric)}, expr=expression))
                ranker_weights.append(float(weights[space]) / total / len(rows))  # the ranker takes weights in [0, 1]
        (hits,) = milvus_client(self.uri).hybrid_search(
            self.name, requests, WeightedRanker(*ranker_weights), limit=min(fetch * len(requests), MAX_TOP_K),
            output_fields=[vector_field(space) for space in asked],
        )  # fmt: skip
        excluded = {int(i) for i in exclude}
        return {
            int(hit["id"]): {space: np.asarray(hit["entity"][vector_field(space)], np.float32) for space in asked}
            for hit in hits
            if int(hit["id"]) not in excluded
        }

    def vector(self, item_id: int, space: str) -> np.ndarray:
        """The stored vector of ``item_id`` in ``space`` [dim] float32 (KeyError when absent)."""
        if item_id not in self:
            raise KeyError(item_id)
        row = milvus_client(self.uri).get(self.name, ids=[int(item_id)], output_fields=[vector_field(space)])
        return np.asarray(row[0][vector_field(space)], dtype=np.float32)

    # -- persistence ----------------------------------------------------------------------------------------
    def save(self, *, revision: int | None = None) -> None:
        """Flush the collection, then record it (count, revision, spaces) in ``directory/milvus.json`` atomically."""
        if revision is not None:
            self.revision = int(revision)
        milvus_client(self.uri).flush(self.name)
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": MANIFEST_FORMAT, "uri": self.uri, "collection": self.name, "revision": self.revision,
            "count": len(self._ids), "spaces": {space: asdict(spec) for space, spec in self.spaces.items()},
        }  # fmt: skip
        tmp = self.directory / (MANIFEST + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / MANIFEST)

    def __repr__(self) -> str:
        return f"MilvusCollection(name={self.name!r}, spaces={sorted(self.spaces)}, count={len(self)})"
