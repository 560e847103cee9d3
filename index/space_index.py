"""One FAISS index for one embedding space, keyed by catalog item ids: `SpaceIndex`.

`SpaceIndex` holds the FAISS index with the settings and ids it was built with, and composes the parts that live in
their own modules: the FAISS factory (`.factory`: index types and parameters), persistence (`.persistence`: the
manifest, its checks on open, the atomic save), dead-node marks for hnsw removal (`.dead_nodes`) and re-ranking with
the exact vectors of a lossy index (`.rerank`, through the `ExactVectors` interface of `.exact_vectors`).

The names other modules imported from here before the split (`INDEX_FILE`, `IndexMismatchError`,
`make_faiss_index`, ...) are re-exported, so ``from styledex.index.space_index import X`` keeps working.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .checks import checked_ids, checked_vectors
from .dead_nodes import COMPACT_DEAD_SHARE, live_rows, mark_dead, needs_compaction, stored_vectors
from .exact_file import ExactFile, FileFirst
from .exact_vectors import ExactVectors
from .factory import (
    INDEX_TYPE_DEFAULTS,
    SEARCH_PARAMS,
    Metric,
    apply_search_params,
    faiss_ids,
    is_lossy,
    make_faiss_index,
    remove_stored,
    resolve_index_params,
)
from .identity import IndexIdentity
from .persistence import INDEX_FILE, MANIFEST_FILE, MANIFEST_FORMAT, IndexMismatchError, load_index, save_index
from .query import search_faiss
from .rerank import RERANK_PER_RESULT
from .threads import faiss_threads

__all__ = [
    "COMPACT_DEAD_SHARE", "INDEX_FILE", "INDEX_TYPE_DEFAULTS", "MANIFEST_FILE", "MANIFEST_FORMAT", "RERANK_PER_RESULT",
    "ExactVectors", "IndexMismatchError", "Metric", "SpaceIndex", "faiss_threads", "make_faiss_index",
    "resolve_index_params",
]  # fmt: skip


class SpaceIndex(IndexIdentity):
    """A FAISS index for one embedding space whose FAISS ids are the catalog item ids (int64).

    Build with `create` (empty) or `from_vectors`, load with `open`; nothing touches disk until `save`.
    Scores from `search` are "higher is better" for both metrics: the inner product for "ip", the negative
    squared Euclidean distance for "l2". Vectors are stored as given: normalization is the caller's job (the
    embedding space declares its metric and the mapper normalizes once), so this class never normalizes.

    Lossy types (ivfpq, hnsw over principal components) re-rank their candidates and reconstruct exactly when
    `vector_source` (an `ExactVectors`, e.g. the catalog's stored rows) is set; it is never saved. An hnsw index
    over principal components also keeps its own copy of the exact vectors in a memory-mapped file beside it
    (`.exact_file`), read first: re-ranking a content query's ~1,300 candidates from SQLite took most of its time.

    Not thread-safe: guard concurrent writers (and readers during writes) with a lock.
    """

    def __init__(
        self,
        directory: Path,
        *,
        space: str,
        dim: int,
        metric: Metric,
        fingerprint: str,
        index_type: str,
        index_params: Mapping[str, int],
        faiss_index: Any,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
        exact_file: ExactFile | None = None,
    ) -> None:
        """Wraps an existing FAISS index; use `create`, `from_vectors` or `open` instead."""
        self._directory = Path(directory)
        self._space = space
        self._dim = int(dim)
        self._metric: Metric = metric
        self._fingerprint = fingerprint
        self._index_type = index_type
        self._index_params = dict(index_params)
        self._index = faiss_index
        # A Python-side copy of the ids present: O(1) membership and duplicate checks without asking FAISS.
        self._id_set: set[int] = {int(i) for i in faiss_ids(faiss_index)}
        # Set by the caller (the catalog's revision when it last synced this index); written by `save`.
        self.revision = int(revision)
        # Why this index type was chosen ({"chosen_by": "auto", "count": ..., "reason": ...}); saved in the manifest.
        self.policy: dict[str, Any] | None = None if policy is None else dict(policy)
        self._vector_source: ExactVectors | None = None
        # Its own exact vectors (hnsw over principal components): given when opened, else empty, filled by add.
        self._exact = exact_file if exact_file is not None else self._new_exact_file()

    def _new_exact_file(self) -> ExactFile | None:
        return ExactFile(self._directory, self._dim) if self._index_params.get("pca", 0) else None

    # ---------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        space: str,
        dim: int,
        metric: Metric,
        fingerprint: str,
        index_type: str = "flat",
        index_params: Mapping[str, int] | None = None,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> SpaceIndex:
        """An empty index in memory, to be saved into `directory` (the space's own directory).

        dim: vector length. metric: "ip" or "l2". fingerprint: the embedder's weights + parameters digest,
        stored in the manifest and checked by `open`. index_type: "flat" (exact), "hnsw" or "ivfpq" (untrained:
        call `train` before `add`, or use `from_vectors`). index_params: overrides of
        `INDEX_TYPE_DEFAULTS[index_type]` (e.g. {"ef_search": 128} for hnsw). policy: recorded in the manifest.
        """
        params = resolve_index_params(index_type, index_params)
        return cls(
            directory, space=space, dim=dim, metric=metric, fingerprint=fingerprint, index_type=index_type,
            index_params=params, faiss_index=make_faiss_index(index_type, dim, metric, params), revision=revision,
            policy=policy,
        )  # fmt: skip

    @classmethod
    def from_vectors(
        cls,
        directory: Path,
        ids: np.ndarray,
        vectors: np.ndarray,
        *,
        space: str,
        metric: Metric,
        fingerprint: str,
        index_type: str = "flat",
        index_params: Mapping[str, int] | None = None,
        revision: int = 0,
        policy: Mapping[str, Any] | None = None,
    ) -> SpaceIndex:
        """An index holding `vectors` (n, dim) float under `ids` (n,) int64; dim is taken from `vectors`.

        An ivfpq index is first trained on (a sample of) `vectors`: it needs at least max(nlist, 2**nbits) of them.
        """
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise ValueError(f"expected vectors of shape (n, dim), got {vectors.shape}")
        index = cls.create(
            directory, space=space, dim=vectors.shape[1], metric=metric, fingerprint=fingerprint,
            index_type=index_type, index_params=index_params, revision=revision, policy=policy,
        )  # fmt: skip
        if not index.is_trained:
            index.train(vectors)
        index.add(ids, vectors)
        return index

    @classmethod
    def open(
        cls,
        directory: Path,
        *,
        expected_fingerprint: str | None = None,
        expected_dim: int | None = None,
        expected_metric: Metric | None = None,
    ) -> SpaceIndex:
        """The index saved in `directory`, checked as :func:`~styledex.index.persistence.load_index` checks it
        (FileNotFoundError when there is none, IndexMismatchError when it disagrees with its manifest or the
        caller)."""
        loaded = load_index(
            directory, expected_fingerprint=expected_fingerprint, expected_dim=expected_dim,
            expected_metric=expected_metric,
        )  # fmt: skip
        manifest = loaded.manifest
        index = cls(
            Path(directory), space=manifest["space"], dim=manifest["dim"], metric=manifest["metric"],
            fingerprint=manifest["fingerprint"], index_type=manifest["index_type"], index_params=loaded.index_params,
            faiss_index=loaded.faiss_index, revision=manifest["revision"],
            policy=manifest.get("policy") if isinstance(manifest.get("policy"), dict) else None,
            exact_file=ExactFile.open(Path(directory), manifest["dim"], int(manifest.get("exact_rows", 0)))
            if loaded.index_params.get("pca", 0) else None,
        )  # fmt: skip
        apply_search_params(index._index, index._index_type, index._index_params)
        return index

    # ---------------------------------------------------------------- properties

    @property
    def index_type(self) -> str:
        return self._index_type

    @property
    def index_params(self) -> dict[str, int]:
        return dict(self._index_params)

    @property
    def vector_source(self) -> ExactVectors | None:
        """The exact vectors of this space's items (`ExactVectors`), or None: lossy types (ivfpq, hnsw with pca)
        re-rank their candidates and reconstruct with them; sq8 and pca hnsw re-encode them when they compact. Set
        by the caller (the catalog attaches its stored rows); never saved."""
        return self._vector_source

    @vector_source.setter
    def vector_source(self, source: ExactVectors | None) -> None:
        # Checked here, where it is set, rather than deep inside a later search: a plain function (the callback this
        # attribute took before ExactVectors) would otherwise fail only at its first re-ranking.
        if source is not None and not isinstance(source, ExactVectors):
            raise TypeError(
                f"vector_source must implement ExactVectors (a method exact_vectors(ids) -> vectors) or be None, "
                f"got {type(source).__name__}"
            )
        self._vector_source = source

    def _exact_source(self) -> ExactVectors | None:
        """Where exact vectors are read: the index's own file first (with `vector_source` for what it lacks), else
        `vector_source`."""
        if self._exact is None or self._exact.rows == 0:
            return self._vector_source
        return FileFirst(self._exact, self._vector_source)

    def set_search_params(self, **params: int) -> None:
        """Change query-time parameters in place (hnsw: ef_search, rerank; ivfpq: nprobe, rerank), e.g. to trade
        speed for recall without a rebuild; a later `save` records them. ValueError for a parameter the index type
        lacks, one fixed at build time, or a value out of range."""
        fixed = sorted(set(params) - SEARCH_PARAMS.get(self._index_type, set()))
        if fixed:
            allowed = sorted(SEARCH_PARAMS.get(self._index_type, set())) or "none"
            raise ValueError(f"{fixed} cannot change once the {self._index_type} index is built; query-time: {allowed}")
        self._index_params = resolve_index_params(self._index_type, self._index_params | params)
        apply_search_params(self._index, self._index_type, self._index_params)

    def __len__(self) -> int:
        """Items present (removed hnsw nodes not counted)."""
        return len(self._id_set)

    def __contains__(self, item_id: object) -> bool:
        # Only integers are ids: 3.0 or "3" are not.
        return isinstance(item_id, int | np.integer) and int(item_id) in self._id_set

    def __repr__(self) -> str:
        return (
            f"SpaceIndex(space={self._space!r}, dim={self._dim}, metric={self._metric!r}, "
            f"index_type={self._index_type!r}, count={len(self)}, directory={str(self._directory)!r})"
        )

    @property
    def is_trained(self) -> bool:
        """False only for an ivfpq index, or an hnsw index over principal components (pca), that has not been trained
        yet (it cannot take vectors then)."""
        return bool(self._index.is_trained)

    def ids(self) -> np.ndarray:
        """All ids present, (n,) int64, ascending."""
        return np.sort(faiss_ids(self._index))

    def train(self, vectors: np.ndarray, *, max_points: int = 100_000, seed: int = 0) -> None:
        """Train an untrained index on `vectors` (n, dim) float: ivfpq (coarse centroids, PQ codebooks, OPQ
        rotation), hnsw with sq8 (the per-dimension ranges of its 8-bit codes) or with pca (the principal
        directions); a no-op for any other index.

        At most `max_points` rows (a seeded random sample) are used: training cost grows with them and 100k
        already exceeds what k-means samples per centroid. Raises ValueError for ivfpq when fewer vectors than
        max(nlist, 2**nbits) are given (k-means needs one per centroid), and for hnsw with pca=d when d or fewer
        are (d directions need more than d vectors).
        """
        if self._index.is_trained:
            return
        count = np.shape(vectors)[0] if np.ndim(vectors) == 2 else 0
        if count > max_points:
            # Sampled before any conversion, so a memory-mapped array is read only at the sampled rows.
            rows = np.sort(np.random.default_rng(seed).choice(count, size=max_points, replace=False))
            vectors = vectors[rows]
        vecs = checked_vectors(vectors, self._dim, "vectors", "n")
        self._check_training_count(vecs.shape[0])
        self._index.train(vecs)
        apply_search_params(self._index, self._index_type, self._index_params)

    def _check_training_count(self, count: int) -> None:
        """ValueError when `count` vectors cannot train this index (see `train`)."""
        params = self._index_params
        if self._index_type == "ivfpq" and count < max(params["nlist"], 2 ** params["nbits"]):
            raise ValueError(
                f"ivfpq needs at least {max(params['nlist'], 2 ** params['nbits'])} training vectors (nlist "
                f"{params['nlist']}, 2**nbits {2 ** params['nbits']}), got {count}; use flat or hnsw"
            )
        if self._index_type == "hnsw" and count <= params["pca"]:
            raise ValueError(
                f"hnsw with pca={params['pca']} needs more than {params['pca']} training vectors, got {count}; "
                f"use pca=0 (or fewer directions)"
            )

    # ---------------------------------------------------------------- mutation

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add `vectors` (n, dim) float under `ids` (n,) int >= 0.

        Vectors are stored as given, converted to contiguous float32: normalize them first if the space
        wants cosine similarity. Raises ValueError on a shape/dtype mismatch, non-finite values, negative ids,
        or an id that is repeated in `ids` or already present (remove it first to replace a vector).
        """
        ids_arr = checked_ids(ids)
        vecs = checked_vectors(vectors, self._dim, "vectors", "n")
        if vecs.shape[0] != ids_arr.shape[0]:
            raise ValueError(f"got {ids_arr.shape[0]} ids but {vecs.shape[0]} vectors")
        if np.unique(ids_arr).size != ids_arr.size:
            values, counts = np.unique(ids_arr, return_counts=True)
            raise ValueError(f"ids repeated within one add: {values[counts > 1][:10].tolist()}")
        present = [int(i) for i in ids_arr if int(i) in self._id_set]
        if present:
            raise ValueError(
                f"{len(present)} id(s) already in index {self._space!r}, e.g. {present[:10]}; remove them first"
            )
        if ids_arr.size == 0:
            return
        if not self._index.is_trained:
            raise ValueError(
                f"index {self._space!r} ({self._index_type}) is not trained: build it with from_vectors or train first"
            )
        self._index.add_with_ids(vecs, ids_arr)
        self._id_set.update(int(i) for i in ids_arr)
        if self._exact is not None:
            self._exact.add(ids_arr, vecs)

    def remove(self, ids: Collection[int] | np.ndarray) -> int:
        """Remove these ids; ids not present are ignored. Returns how many were removed."""
        ids_arr = np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids)
        if ids_arr.size == 0:
            return 0
        if not np.issubdtype(ids_arr.dtype, np.integer):
            raise ValueError(f"expected integer ids, got dtype {ids_arr.dtype}")
        present = np.array(sorted({int(i) for i in ids_arr.ravel()} & self._id_set), dtype=np.int64)
        if present.size == 0:
            return 0
        hnsw = self._index_type == "hnsw"
        # HNSW graphs cannot drop nodes: mark them dead in the id map (.dead_nodes), compact when many are.
        removed = mark_dead(self._index, present) if hnsw else remove_stored(self._index, self._index_type, present)
        self._id_set.difference_update(int(i) for i in present)
        if hnsw and needs_compaction(int(self._index.ntotal), len(self._id_set)):
            self._compact()
        return removed

    def _compact(self) -> None:
        """Rebuild an hnsw graph from its live nodes only."""
        id_map, live = live_rows(self._index)
        source = self._exact_source()
        if (self._index_params["sq8"] or self._index_params["pca"]) and source is not None:
            # 8-bit codes and principal components decode to approximations: re-encode the exact vectors, not those.
            vectors = np.asarray(source.exact_vectors(id_map[live]), dtype=np.float32)
        else:
            vectors = stored_vectors(self._index, self._dim)[live]
        self.rebuild(id_map[live], vectors)

    def rebuild(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Replace the whole content with `vectors` (n, dim) under `ids` (n,); settings stay the same.

        An ivfpq index (and an hnsw index over principal components) is retrained on the new vectors.
        """
        old_index, old_set, old_exact = self._index, self._id_set, self._exact
        self._index = make_faiss_index(self._index_type, self._dim, self._metric, self._index_params)
        self._id_set = set()
        self._exact = self._new_exact_file()  # written whole at the next save
        try:
            self.train(vectors)
            self.add(ids, vectors)
        except Exception:
            # Leave the index as it was if the new content is rejected.
            self._index, self._id_set, self._exact = old_index, old_set, old_exact
            raise

    # ---------------------------------------------------------------- reading

    def reconstruct(self, item_id: int) -> np.ndarray:
        """The vector of `item_id`, (dim,) float32. Raises KeyError if the id is not present.

        For ivfpq and hnsw with pca: the exact vector from `vector_source` when set, else the approximation the
        index stores (PQ codes; the principal components projected back).
        """
        if item_id not in self:
            raise KeyError(f"id {item_id} is not in index {self._space!r}")
        source = self._exact_source()
        if is_lossy(self._index_type, self._index_params) and source is not None:
            exact = source.exact_vectors(np.array([int(item_id)], dtype=np.int64))
            return np.asarray(exact[0], dtype=np.float32)
        return np.asarray(self._index.reconstruct(int(item_id)), dtype=np.float32)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        exclude: Sequence[Collection[int]] | None = None,
    ) -> list[list[tuple[int, float]]]:
        """The k best (id, score) pairs for each query, best first.

        queries: (q, dim) float. k >= 1; fewer come back when the index holds fewer (never -1 padding).
        Score, higher is better: the inner product for metric "ip" (the cosine similarity, in [-1, 1], when
        vectors and queries are unit-normalized); minus the squared Euclidean distance for "l2" (<= 0).
        exclude: one collection of ids per query, dropped from that query's results (e.g. the query item
        itself); k results still come back when enough other items exist.
        With index_type "hnsw" or "ivfpq" the results are approximate. A lossy index (ivfpq, hnsw with pca) with
        `vector_source` set and param rerank > 0 fetches max(rerank, RERANK_PER_RESULT·(k + excluded)) candidates and
        re-scores them with the exact vectors, so its scores are exact and only the candidate set is approximate.
        """
        return search_faiss(
            self._index, queries, k, exclude, dim=self._dim, index_type=self._index_type, metric=self._metric,
            params=self._index_params, live=len(self), source=self._exact_source(),
        )  # fmt: skip

    # ---------------------------------------------------------------- persistence

    def save(self, *, revision: int | None = None) -> None:
        """Write index.faiss and manifest.json into `directory` atomically (`.persistence.save_index`: temporary
        files, fsync, rename; a crash leaves the old pair or one that `open` refuses). revision: if given, stored as
        `self.revision` before writing. Raises OSError (one line) when a file cannot be written, e.g. a full disk;
        the saved pair then stays as it was.
        """
        if revision is not None:
            self.revision = int(revision)
        # The exact vectors first: until the manifest names their new count, a reader takes the rows it named.
        exact_rows = {"exact_rows": self._exact.save()} if self._exact is not None else {}
        fields = {
            "space": self._space,
            "dim": self._dim,
            "metric": self._metric,
            "fingerprint": self._fingerprint,
            "index_type": self._index_type,
            "index_params": self._index_params,
            "count": len(self),
            "revision": self.revision,
            **({"policy": self.policy} if self.policy is not None else {}),
            **exact_rows,
        }
        save_index(self._directory, self._index, fields)
