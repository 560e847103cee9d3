"""One space's index on Milvus: `MilvusSpaceIndex`, with the contract of `SpaceIndex` (add, remove, search,
reconstruct, save, open), so the catalog's indexes (``styledex.space_indexes``), search, mixes, filters, the
service and ``/explain`` run on it unchanged.

Where: a collection ``styledex_<catalog key>_<space>`` (an id primary key and one float vector field, exact
``FLAT`` search with the space's metric) on the Milvus at ``uri``: a local file, served by Milvus Lite inside this
process (PyPI ``milvus-lite``; one process at a time holds the file), or ``http://host:19530`` for a Milvus server
or cluster (shards and replicas are the server's).

What is current: Milvus takes each insert and delete as the catalog commits it; ``save`` flushes the collection and
writes the revision it holds to ``<catalog>/index/<space>/milvus.json`` (a ``.tmp``, fsynced, renamed). SQLite
stays the record of items: a collection whose manifest lags the catalog's revision (a crash between a commit and
the save, or one between the SQLite delete and Milvus's), or that is missing or holds another count, is rebuilt
from the catalog's rows when it is opened, as a lagging FAISS file is. So after a crash the two may disagree only
until the next open, which sides with SQLite.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .checks import checked_ids, checked_vectors
from .exact_vectors import ExactVectors
from .factory import Metric
from .identity import IndexIdentity
from .persistence import IndexMismatchError
from .query import best_rows

MANIFEST = "milvus.json"
MANIFEST_FORMAT = "styledex-milvus-1"
INSERT_ROWS = 2_000  # rows per insert call: Milvus caps one request's size (64 MB by default)
MAX_TOP_K = 16_384  # Milvus's largest limit per search
_CLIENTS: dict[str, Any] = {}  # uri → MilvusClient: one connection (and one Milvus Lite server) per process


class ItemFields(Protocol):
    """Where a collection's scalar fields come from (the catalog's rows, ``styledex.space_indexes``)."""

    def item_fields(self, ids: np.ndarray) -> list[tuple[str, dict[str, str]]]:
        """Per id [n], in order: (kind, metadata with every value as filter text); KeyError for a missing id."""
        ...


# A filter the engine applies: (kind or None, ((metadata key, value as text), ...)); all must hold.
EngineFilter = tuple[str | None, tuple[tuple[str, str], ...]]


class MilvusUnavailable(RuntimeError):
    """pymilvus or milvus-lite is not installed, or the server cannot be reached; str() is a one-line reason."""


def milvus_client(uri: str) -> Any:
    """The process's client for ``uri`` (a local ``.db`` file for Milvus Lite, or ``http://host:port``)."""
    if uri not in _CLIENTS:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise MilvusUnavailable(
                "index.backend milvus needs pymilvus and milvus-lite: pip install -e '.[scale]'"
            ) from None
        # pymilvus (which sets its logger up on import) warns on every page of a query with Milvus Lite ("failed to
        # get mvccTs"): not the user's concern.
        logging.getLogger("pymilvus").setLevel(logging.ERROR)
        if not re.match(r"^https?://", uri):  # Milvus Lite's in-process server logs calls it does not implement
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
        try:
            _CLIENTS[uri] = MilvusClient(uri)
        except Exception as exc:  # a server that is down, a file another process holds: Milvus's words
            raise MilvusUnavailable(f"cannot open Milvus at {uri}: {' '.join(str(exc).split())}") from None
    return _CLIENTS[uri]


def close_milvus_clients() -> None:
    """Close this process's Milvus connections (a Milvus Lite file is then free for another process)."""
    while _CLIENTS:
        uri, client = _CLIENTS.popitem()
        client.close()
        if not re.match(r"^https?://", uri):  # Milvus Lite keeps serving the file until told to stop
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)


def collection_name(catalog_key: str, space: str) -> str:
    """``styledex_<catalog key>_<space>``: Milvus allows letters, digits and underscores."""
    return re.sub(r"[^A-Za-z0-9_]", "_", f"styledex_{catalog_key}_{space}")


class MilvusSpaceIndex(IndexIdentity):
    """A space's vectors in a Milvus collection (module docstring), keyed by catalog item ids. Scores as
    `SpaceIndex` gives them: the inner product for "ip", minus the squared distance for "l2"."""

    index_type = "milvus"

    def __init__(
        self, directory: Path, *, uri: str, collection: str, space: str, dim: int, metric: Metric, fingerprint: str,
        revision: int, ids: Collection[int],
    ) -> None:  # fmt: skip
        self._directory = Path(directory)
        self.uri, self.collection = uri, collection
        self._space, self._dim, self._metric, self._fingerprint = space, int(dim), metric, fingerprint
        self.revision = int(revision)
        self.policy: dict[str, Any] | None = {"chosen_by": "backend", "reason": f"index.backend milvus at {uri}"}
        self._ids = {int(i) for i in ids}
        self._vector_source: ExactVectors | None = None
        # Set by the caller (the catalog's rows) like vector_source: the kind and metadata `add` stores for filters.
        self.item_fields: ItemFields | None = None

    # -- construction ---------------------------------------------------------------------------------------
    @classmethod
    def from_vectors(
        cls, directory: Path, ids: np.ndarray, vectors: np.ndarray, *, uri: str, collection: str, space: str,
        metric: Metric, fingerprint: str, revision: int = 0, fields: ItemFields | None = None,
    ) -> MilvusSpaceIndex:  # fmt: skip
        """A new collection holding ``vectors`` [n, dim] under ``ids`` [n] (an old one of that name is dropped),
        with each item's kind and metadata from ``fields`` (None: none, so filters match nothing)."""
        from pymilvus import DataType, MilvusClient

        vectors = np.asarray(vectors, dtype=np.float32)
        client = milvus_client(uri)
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = MilvusClient.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
        schema.add_field("kind", DataType.VARCHAR, max_length=16)  # image | video ("" unknown): filters
        schema.add_field("metadata", DataType.JSON)  # the item's metadata, values as filter text
        params = client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type=_milvus_metric(metric))
        client.create_collection(collection, schema=schema, index_params=params)
        index = cls(directory, uri=uri, collection=collection, space=space, dim=vectors.shape[1], metric=metric,
                    fingerprint=fingerprint, revision=revision, ids=())  # fmt: skip
        index.item_fields = fields
        index.add(ids, vectors)
        client.load_collection(collection)
        return index

    @classmethod
    def open(
        cls, directory: Path, *, uri: str, collection: str, expected_fingerprint: str, expected_dim: int
    ) -> MilvusSpaceIndex:
        """The collection a `save` recorded in ``directory``: FileNotFoundError when none was saved,
        IndexMismatchError when it is gone, holds another count, or was made for other weights."""
        try:
            manifest = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileNotFoundError(f"no Milvus manifest in {directory}: {exc}") from None
        expected = {"format": MANIFEST_FORMAT, "uri": uri, "collection": collection,
                    "fingerprint": expected_fingerprint, "dim": expected_dim}  # fmt: skip
        wrong = sorted(key for key, value in expected.items() if manifest.get(key) != value)
        if wrong:
            raise IndexMismatchError(f"Milvus manifest in {directory} differs in {', '.join(wrong)}")
        client = milvus_client(uri)
        if not client.has_collection(collection):
            raise IndexMismatchError(f"Milvus collection {collection} is gone")
        client.load_collection(collection)
        ids = [int(row["id"]) for row in _all_rows(client, collection, ["id"])]
        if len(ids) != manifest["count"]:
            raise IndexMismatchError(f"Milvus collection {collection} holds {len(ids)}, saved {manifest['count']}")
        return cls(directory, uri=uri, collection=collection, space=manifest["space"], dim=manifest["dim"],
                   metric=manifest["metric"], fingerprint=manifest["fingerprint"], revision=manifest["revision"],
                   ids=ids)  # fmt: skip

    # -- the SpaceIndex contract ----------------------------------------------------------------------------
    @property
    def index_params(self) -> dict[str, int]:
        return {}

    @property
    def vector_source(self) -> ExactVectors | None:
        """Accepted for the contract; Milvus's FLAT search and stored vectors are exact, so never read."""
        return self._vector_source

    @vector_source.setter
    def vector_source(self, source: ExactVectors | None) -> None:
        self._vector_source = source

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, int | np.integer) and int(item_id) in self._ids

    def ids(self) -> np.ndarray:
        return np.array(sorted(self._ids), dtype=np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Insert ``vectors`` [n, dim] under new ``ids`` [n] (ValueError for an id already present)."""
        ids = checked_ids(ids)
        vectors = checked_vectors(vectors, self._dim, "vectors", "n")
        if len(ids) != len(vectors):
            raise ValueError(f"expected one id per vector, got {len(ids)} ids for {len(vectors)} vectors")
        present = sorted(self._ids.intersection(ids.tolist()))
        if present or len(set(ids.tolist())) != len(ids):
            raise ValueError(f"ids already present or repeated: {present[:10] or 'repeated'}")
        client = milvus_client(self.uri)
        for start in range(0, len(ids), INSERT_ROWS):
            chunk = slice(start, start + INSERT_ROWS)
            fields = (self.item_fields.item_fields(ids[chunk]) if self.item_fields is not None
                      else [("", {})] * len(ids[chunk]))  # fmt: skip
            rows = [{"id": int(i), "vector": v.tolist(), "kind": kind, "metadata": meta}
                    for i, v, (kind, meta) in zip(ids[chunk], vectors[chunk], fields, strict=True)]  # fmt: skip
            client.insert(self.collection, rows)
        self._ids.update(int(i) for i in ids)

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Delete the ``ids`` present; how many were."""
        doomed = sorted(self._ids.intersection(int(i) for i in np.asarray(list(ids), dtype=np.int64).ravel()))
        if doomed:
            milvus_client(self.uri).delete(self.collection, ids=doomed)
            self._ids.difference_update(doomed)
        return len(doomed)

    filters_in_engine = True  # search takes `where`: Milvus filters on the scalar fields while it searches

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Sequence[Collection[int]] | None = None,
        where: EngineFilter | None = None,
    ) -> list[list[tuple[int, float]]]:
        """The k best (id, score) per row of ``queries`` [q, dim], best first, ``exclude``'s ids dropped; with
        ``where``, only items whose kind and metadata match it (:func:`filter_expression`)."""
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        queries = checked_vectors(queries, self._dim, "queries", "q")
        excluded = [set() for _ in queries] if exclude is None else [{int(i) for i in ex} for ex in exclude]
        if not self._ids or not len(queries):
            return [[] for _ in queries]
        fetch = min(len(self._ids), int(k) + max((len(ex) for ex in excluded), default=0), MAX_TOP_K)
        hits = milvus_client(self.uri).search(
            self.collection, data=queries.tolist(), anns_field="vector", limit=fetch,
            search_params={"metric_type": _milvus_metric(self._metric)},
            filter=filter_expression(where) if where is not None else "",
        )  # fmt: skip
        labels = np.full((len(queries), fetch), -1, dtype=np.int64)
        scores = np.full((len(queries), fetch), -np.inf, dtype=np.float32)
        for row, found in enumerate(hits):
            for col, hit in enumerate(found):
                labels[row, col] = int(hit["id"])
                # Milvus gives the inner product for IP, the squared distance for L2 (SpaceIndex: minus it).
                scores[row, col] = hit["distance"] if self._metric == "ip" else -hit["distance"]
        return best_rows(scores, labels, excluded, int(k))

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The stored vector of ``item_id`` [dim] float32 (KeyError when absent)."""
        if item_id not in self:
            raise KeyError(item_id)
        row = milvus_client(self.uri).get(self.collection, ids=[int(item_id)], output_fields=["vector"])
        return np.asarray(row[0]["vector"], dtype=np.float32)

    def set_search_params(self, **params: int) -> None:
        raise ValueError(f"the milvus backend has no query-time parameters, got {sorted(params)}")

    def save(self, *, revision: int | None = None) -> None:
        """Flush the collection, then record it (count, revision) in ``directory/milvus.json`` atomically."""
        if revision is not None:
            self.revision = int(revision)
        milvus_client(self.uri).flush(self.collection)
        self._directory.mkdir(parents=True, exist_ok=True)
        manifest = {
            "format": MANIFEST_FORMAT, "uri": self.uri, "collection": self.collection, "space": self._space,
            "dim": self._dim, "metric": self._metric, "fingerprint": self._fingerprint, "revision": self.revision,
            "count": len(self._ids),
        }  # fmt: skip
        tmp = self._directory / (MANIFEST + ".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._directory / MANIFEST)

    def __repr__(self) -> str:
        return f"MilvusSpaceIndex(space={self._space!r}, collection={self.collection!r}, count={len(self)})"


def filter_expression(where: EngineFilter) -> str:
    """Milvus's boolean expression for ``where``: ``kind == "video" and metadata["group"] == "even"``; values and
    keys quoted (backslash and double quote escaped), compared as text as the catalog's filters compare them."""
    kind, metadata = where
    terms = [] if kind is None else [f"kind == {_quoted(kind)}"]
    terms += [f"metadata[{_quoted(key)}] == {_quoted(value)}" for key, value in metadata]
    return " and ".join(terms)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _milvus_metric(metric: Metric) -> str:
    return "IP" if metric == "ip" else "L2"


def _all_rows(client: Any, collection: str, fields: list[str]) -> list[dict[str, Any]]:
    """Every row of ``collection`` with ``fields``, page by page (a query returns at most 16,384 rows)."""
    iterator = client.query_iterator(collection, batch_size=MAX_TOP_K, output_fields=fields)
    rows: list[dict[str, Any]] = []
    try:
        while page := iterator.next():
            rows.extend(page)
    finally:
        iterator.close()
    return rows
