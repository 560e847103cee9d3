"""Each space's FAISS index of one open catalog: opened or rebuilt, kept equal to the rows, saved.

The catalog (:mod:`styledex.catalog`) holds the truth: rows, raw vectors, the revision every write bumps and the
index generation every ``reindex`` bumps. An index is derived data. :class:`SpaceIndexes` is the one place that
keeps it in step, with these guarantees (the crash tests in tests/test_crash.py and tests/test_concurrency.py
hold them):

- An index is opened from disk only if it carries the catalog's current revision; one that lags (a crash between
  a commit and the index save) or cannot be read is rebuilt from the raw vectors, read in the same read
  transaction as the revision, so it holds exactly the committed rows. An index already open here that lags
  because another process wrote (same generation) is caught up from the rows instead: the ids it lacks are
  added, those no longer there removed, in one read transaction.
- A write through this catalog patches the open indexes right after its commit, and they are saved when the
  writer leaves ``catalog.writing()``. An index opened before another process wrote or reindexed is dropped
  instead of patched: patched and saved, it would pass for current while missing that write, or undo the reindex.
- Each open index remembers the generation it was opened at, so a ``reindex`` by any process makes every open
  catalog load the new indexes at its next use.

Settings: the index settings (``IndexConfig``) are given by whoever opens the indexes; those a ``reindex`` stored
in the catalog win over them, so a rebuild after a crash keeps the type the reindex chose. Per-space settings
(dim, metric, ``pq_subvector_dims``) come from the space definition (``SpaceSpec``) and the fingerprint from the
catalog's stored embedding settings, both handed in by the caller. Nothing here reads a config file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from styledex.catalog import Catalog, CatalogError, CatalogState, Commit
from styledex.catalog_records import metadata_text
from styledex.config import IndexConfig
from styledex.index import IndexMismatchError, SpaceIndex
from styledex.index.milvus_client import MilvusUnavailable, is_server, milvus_client
from styledex.index.milvus_collection import MilvusCollection, VectorField, collection_name
from styledex.index.milvus_index import MilvusSpaceIndex
from styledex.index.policy import choose_index

if TYPE_CHECKING:  # the registry module imports torch, which opening an index does not need
    from styledex.embed.spaces import SpaceSpec


@dataclass
class _OpenIndex:
    """An open index (a space's FAISS index, or the catalog's Milvus collection of every space) and the index
    generation it was opened (or last made current) at."""

    index: SpaceIndex | MilvusCollection
    generation: int

    def current(self, state: CatalogState) -> bool:
        """Whether it holds what the catalog holds at ``state`` (no write or reindex since it was opened)."""
        return (self.index.revision, self.generation) == tuple(state)


class SpaceIndexes:
    """The open index of each space of one catalog, and everything that keeps it equal to the rows.

    Owns the cache of open indexes (space → index, with the generation each was opened at); loading from disk or
    rebuilding from raw vectors (:meth:`index`); the policy choice of a new index (:meth:`build`,
    :func:`index_from_vectors`); following the catalog's commits (:meth:`follow`) and saving (:meth:`save`, also
    called when a writer leaves ``catalog.writing()``); a reindex's replacements (:meth:`replace`,
    :meth:`finish_reindex`). It registers itself as a follower of ``catalog`` until :meth:`close` or the catalog
    closes. ``config``: the index settings for building and rebuilding (a stored reindex setting wins).
    On the Milvus back end (``settings.backend``) the indexes of all spaces are views of one collection
    (:class:`MilvusCollection`), opened, rebuilt, followed and saved as a whole.
    Not thread-safe, as the catalog it follows.
    """

    def __init__(self, catalog: Catalog, config: IndexConfig) -> None:
        self.catalog = catalog
        self.config = config
        self._open: dict[str, _OpenIndex] = {}
        self._milvus: _OpenIndex | None = None  # the Milvus back end's collection
        self._built: MilvusCollection | None = None  # the collection a reindex built (one for all its spaces)
        catalog.add_follower(self)

    @classmethod
    def of(cls, catalog: Catalog, config: IndexConfig) -> SpaceIndexes:
        """The indexes already following ``catalog`` with the settings ``config``, else new ones: everything that
        uses one open catalog with the same settings shares one copy of each index (and saves it once)."""
        for follower in catalog.followers:
            if isinstance(follower, cls) and follower.config == config:
                return follower
        return cls(catalog, config)

    def close(self) -> None:
        """Stop following the catalog and let go of the open indexes (nothing is saved)."""
        self.catalog.remove_follower(self)
        self._open.clear()
        self._milvus = self._built = None

    @property
    def settings(self) -> IndexConfig:
        """The settings a rebuild chooses with: those the last ``reindex`` stored in the catalog, else ``config``."""
        stored = self.catalog.stored_index_settings()
        return IndexConfig.model_validate(stored) if stored is not None else self.config

    # -- opening ---------------------------------------------------------------------------------------------
    def index(self, spec: SpaceSpec, fingerprint: str) -> SpaceIndex:
        """The open index of space ``spec`` (embedded with weights ``fingerprint``), loaded from disk, or rebuilt
        from the raw vectors when missing or stale.

        The one open before is kept while the catalog's revision and index generation are those it was opened
        at; else the saved one is loaded if it carries the current revision, else the rows are read. The
        revision and the rows come from one read transaction, so the index holds exactly what that revision
        holds even while another process writes.
        """
        if self.settings.backend == "milvus":
            return self._collection().view(spec.name)
        catalog = self.catalog
        with catalog.snapshot():
            state = catalog.state()
            cached = self._open.get(spec.name)
            if cached is not None and cached.current(state):
                return cached.index
            if cached is not None and cached.generation == state.generation:
                self._catch_up(spec, cached.index, state.revision)
                return cached.index
            index = self._load(spec, fingerprint, state.revision)
            if index is None:  # the rows are read here, the (slower) FAISS build runs after the transaction
                settings = self.settings
                ids, vectors = catalog.load_vectors(spec.name, spec.dim)
        if index is None:
            index = index_from_vectors(catalog.index_dir(spec.name), spec, fingerprint, ids, vectors, state.revision,
                                       settings)  # fmt: skip
        self._attach(spec.name, index, state.generation)
        return index

    def _catch_up(self, spec: SpaceSpec, index: SpaceIndex, revision: int) -> None:
        """Bring ``index``, open here while another process wrote, to ``revision`` from the rows (inside the
        caller's read transaction): the items it lacks are added, those gone are removed. Exact, because ids are
        never reused and an item's vectors are never rewritten: the ok rows' ids say what changed. Reading the
        ids (and the new rows' vectors) instead of every row is what keeps a server answering while ``add``
        commits beside it: a rebuild of a 100k-item HNSW took 12 s there, during which every search waited."""
        held = index.ids()
        last = int(held[-1]) if len(held) else -1
        # Ids only grow (AUTOINCREMENT) and commits are serialized by the write lock, so no row at or below the
        # last id held can appear later: what was added lies above it, read by a range of the key. Below it rows
        # can only go (a remove); a count says whether any did, and only then are all ids compared (the counts
        # and the new ids take ~20 ms at 100k items, the full comparison ~110 ms, which under an ingest's load
        # stalled every search for 0.3-0.7 s at each of its commits).
        added = self.catalog.vector_ids(spec.name, after=last)
        removed = np.zeros(0, dtype=np.int64)
        if self.catalog.vector_count(spec.name, through=last) != len(held):
            rows = self.catalog.vector_ids(spec.name)
            added, removed = np.setdiff1d(rows, held), np.setdiff1d(held, rows)
        if len(added):
            index.add(added, self.catalog.vectors_by_id(spec.name, added, spec.dim))
        if len(removed):
            index.remove(removed)
        index.revision = revision

    def _load(self, spec: SpaceSpec, fingerprint: str, revision: int) -> SpaceIndex | None:
        """The saved index of ``spec`` if it is sound and carries ``revision``; None when it must be rebuilt."""
        try:
            index = SpaceIndex.open(self.catalog.index_dir(spec.name), expected_fingerprint=fingerprint,
                                    expected_dim=spec.dim)  # fmt: skip
        except (FileNotFoundError, IndexMismatchError):  # never saved, or damaged: the rows are still there
            return None
        return index if index.revision == revision else None

    def _attach(self, space: str, index: SpaceIndex, generation: int) -> None:
        # The exact vectors behind lossy index types (re-ranking, reconstruct) come from the raw rows.
        index.vector_source = CatalogVectors(self.catalog, space, index.dim)
        self._open[space] = _OpenIndex(index, generation)

    # -- the Milvus back end: one collection for every space -------------------------------------------------
    def _collection(self) -> MilvusCollection:
        """The catalog's open Milvus collection, as :meth:`index` opens an index: kept while current, else loaded
        from its manifest if that carries the current revision, spaces and weights, else rebuilt from the rows of
        every space (read in one transaction with the revision)."""
        catalog = self.catalog
        with _milvus_errors():
            with catalog.snapshot():
                state = catalog.state()
                if self._milvus is not None and self._milvus.current(state):
                    return self._milvus.index  # type: ignore[return-value]
                fields = self._vector_fields()
                uri, name = milvus_target(catalog.directory, self.settings)
                try:
                    collection: MilvusCollection | None = MilvusCollection.open(
                        catalog.directory / "index", uri=uri, name=name, expected=fields)
                except (FileNotFoundError, IndexMismatchError):  # never saved, moved on, or another layout
                    collection = None
                if collection is not None and collection.revision != state.revision:
                    collection = None
                if collection is None:
                    ids, vectors = self._rows_of_every_space(fields)
            if collection is None:
                collection = self._new_collection(uri, name, fields, ids, vectors, state.revision)
        self._attach_collection(collection, state.generation)
        return collection

    def _vector_fields(self) -> dict[str, VectorField]:
        """Each of the catalog's spaces as a Milvus vector field (dimension and metric from the space registry,
        fingerprint from the catalog's embedding settings)."""
        from styledex.embed.spaces import SPACES

        stored = self.catalog.get_meta("embed")
        if stored is None:
            raise CatalogError(f"catalog {self.catalog.directory} has no embedding settings yet (nothing was added)")
        return {name: VectorField(SPACES[name].dim, SPACES[name].metric, fingerprint)
                for name, fingerprint in stored["spaces"].items()}  # fmt: skip

    def _rows_of_every_space(self, fields: dict[str, VectorField]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(ids [n], space → vectors [n, dim]) of the items that have a vector in every space, in id order."""
        return _in_every_space({space: self.catalog.load_vectors(space, field.dim) for space, field in fields.items()})

    def _new_collection(
        self, uri: str, name: str, fields: dict[str, VectorField], ids: np.ndarray, vectors: dict[str, np.ndarray],
        revision: int,
    ) -> MilvusCollection:  # fmt: skip
        """A collection of these rows, replacing the catalog's old one (and any of the one-per-space layout)."""
        old = [n for n in milvus_client(uri).list_collections() if n.startswith(name + "_")]
        return MilvusCollection.build(self.catalog.directory / "index", ids, vectors, uri=uri, name=name,
                                      spaces=fields, revision=revision, fields=CatalogFields(self.catalog),
                                      replaces=old)  # fmt: skip

    def _attach_collection(self, collection: MilvusCollection, generation: int) -> None:
        collection.item_fields = CatalogFields(self.catalog)  # the kind and metadata it stores for filters
        self._milvus = _OpenIndex(collection, generation)

    # -- building (reindex) ----------------------------------------------------------------------------------
    def build(self, spec: SpaceSpec, fingerprint: str, *, config: IndexConfig | None = None) -> SpaceIndex:
        """A new index of ``spec`` from the raw vectors, of the type the policy picks with ``config`` (default:
        :attr:`settings`); not saved, not opened. ValueError for parameters that do not fit the space."""
        catalog = self.catalog
        config = config or self.settings
        if config.backend == "milvus":  # one collection holds every space: built once per reindex
            with _milvus_errors():
                return self._built_collection(config).view(spec.name)
        with catalog.snapshot():
            revision = catalog.state().revision
            ids, vectors = catalog.load_vectors(spec.name, spec.dim)
        return index_from_vectors(catalog.index_dir(spec.name), spec, fingerprint, ids, vectors, revision, config)

    def _built_collection(self, config: IndexConfig) -> MilvusCollection:
        """A new collection of every space's rows for a reindex to ``config``'s Milvus, or the one this reindex
        built already (same revision and place)."""
        catalog = self.catalog
        uri, name = milvus_target(catalog.directory, config)
        with catalog.snapshot():
            revision = catalog.state().revision
            built = self._built
            if built is not None and (built.revision, built.uri, built.name) == (revision, uri, name):
                return built
            fields = self._vector_fields()
            ids, vectors = self._rows_of_every_space(fields)
        self._built = self._new_collection(uri, name, fields, ids, vectors, revision)
        return self._built

    def replace(self, index: SpaceIndex) -> None:
        """Save ``index`` over its space's index on disk (atomically), stamped with the current revision, and use
        it from now on. Writers only, with an index of the rows as they are now (built under the write lock).

        Other processes keep the index they have open until :meth:`finish_reindex` bumps the generation."""
        state = self.catalog.state()
        index.revision = state.revision
        self._save(index)
        if isinstance(index, MilvusSpaceIndex):
            self._attach_collection(index.collection, state.generation)
        else:
            self._attach(index.space, index, state.generation)

    def finish_reindex(self, config: IndexConfig) -> int:
        """Store the settings a ``reindex`` used and bump the index generation (``Catalog.record_reindex``), so
        every open catalog loads the new indexes at its next search; the new generation."""
        before = self.catalog.record_reindex(config.model_dump())
        self._built = None
        # The indexes of the new back end open here are current for the new generation unless the rows moved since;
        # those of the other back end are dropped (nothing reads them now).
        if config.backend == "milvus":
            self._open.clear()
        else:
            self._milvus = None
        for entry in [*self._open.values(), *([self._milvus] if self._milvus else [])]:
            if entry.current(before):
                entry.generation = before.generation + 1
        return before.generation + 1

    # -- following writes, saving ----------------------------------------------------------------------------
    def follow(self, commit: Commit) -> None:
        """Bring the open indexes from ``commit.before`` to ``commit.revision`` (the catalog calls this right
        after each commit through it).

        An open index that was not current at ``commit.before`` (opened before another process wrote or
        reindexed) is dropped instead: patched and saved, it would pass for current while missing that write.
        """
        if self._milvus is not None:
            self._follow_collection(self._milvus, commit)
        for space, entry in list(self._open.items()):
            if not entry.current(commit.before):
                del self._open[space]
                continue
            if space in commit.added:
                ids, vectors = commit.added[space]
                entry.index.add(ids, vectors)
            if len(commit.removed):
                entry.index.remove(commit.removed)
            entry.index.revision = commit.revision

    def _follow_collection(self, entry: _OpenIndex, commit: Commit) -> None:
        """:meth:`follow` for the Milvus collection: the commit's items inserted with every space at once."""
        if not entry.current(commit.before):
            self._milvus = None
            return
        collection = entry.index
        assert isinstance(collection, MilvusCollection)
        with _milvus_errors():
            if commit.added:
                collection.add(*_in_every_space(commit.added))
            if len(commit.removed):
                collection.remove(commit.removed)
        collection.revision = commit.revision

    def save(self) -> None:
        """Write every open index that is current atomically (writers only); CatalogError (one line) if one
        cannot be written, e.g. on a full disk. One opened before another process's write or reindex is not
        written: it would pass for current while missing that write, or undo that reindex."""
        state = self.catalog.state()
        for entry in self._open.values():
            if entry.current(state):
                self._save(entry.index)
        if self._milvus is not None and self._milvus.current(state):
            self._save(self._milvus.index)

    def _save(self, index: SpaceIndex | MilvusCollection) -> None:
        try:
            index.save()
        except (OSError, MilvusUnavailable) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror and exc.filename else str(exc)
            what = (f"the Milvus collection {index.name}" if isinstance(index, MilvusCollection)
                    else f"the {index.space!r} index")  # fmt: skip
            raise CatalogError(f"cannot save {what} of catalog {self.catalog.directory}: {reason}") from None


def index_from_vectors(
    directory: Path,
    spec: SpaceSpec,
    fingerprint: str,
    ids: np.ndarray,
    vectors: np.ndarray,
    revision: int,
    config: IndexConfig,
) -> SpaceIndex:
    """A FAISS index of ``vectors`` [n, spec.dim] under ``ids`` [n] int64, to be saved in ``directory``, of the
    type ``config``'s policy picks for n items (with the space's own hints, ``spec.index_hints()``), stamped
    with ``revision`` (the one the rows were read at)."""
    choice = choose_index(
        len(ids), vectors.shape[1], config.memory_budget_bytes, policy=config.policy, overrides=config.overrides(),
        flat_max_items=config.flat_max_items, ivfpq_min_items=config.ivfpq_min_items,
        **spec.index_hints(),
    )  # fmt: skip
    return SpaceIndex.from_vectors(
        directory, ids, vectors, space=spec.name, metric=spec.metric, fingerprint=fingerprint, revision=revision,
        index_type=choice.index_type, index_params=choice.params,
        policy=choice.manifest_entry(config.policy, len(ids), config.memory_budget_bytes),
    )  # fmt: skip


@dataclass(frozen=True)
class CatalogVectors:
    """The catalog's item-level vectors of one space as the exact vectors behind its index
    (`styledex.index.ExactVectors`): what a lossy (ivfpq) index re-ranks and reconstructs with."""

    catalog: Catalog
    space: str
    dim: int

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The vectors of ``ids`` [n] int64, in that order: [n, dim] float32 (KeyError if one is missing)."""
        return self.catalog.vectors_by_id(self.space, ids, self.dim)


@contextmanager
def _milvus_errors() -> Iterator[None]:
    """A Milvus that cannot be reached (or is not installed) as the catalog's one-line CatalogError."""
    try:
        yield
    except MilvusUnavailable as exc:
        raise CatalogError(str(exc)) from None


def milvus_target(catalog_dir: Path, config: IndexConfig) -> tuple[str, str]:
    """(uri, collection) of the Milvus collection of the catalog in ``catalog_dir``: ``config.milvus_uri`` (a path
    relative to the catalog folder, or an http(s) URL) and a collection named by a digest of the catalog's folder,
    so catalogs sharing one Milvus server never share a collection."""
    uri = config.milvus_uri
    if not is_server(uri):
        uri = str((Path(catalog_dir) / uri).resolve())
    key = hashlib.sha256(str(Path(catalog_dir).resolve()).encode()).hexdigest()[:12]
    return uri, collection_name(key)


def _in_every_space(
    per_space: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """From space → (ids [n_s] ascending, vectors [n_s, dim]): the ids present in every space [n] and each space's
    vectors of them [n, dim], rows in that order (a Milvus row holds every space of its item)."""
    common = None
    for ids, _ in per_space.values():
        common = ids if common is None else np.intersect1d(common, ids)
    ids = np.zeros(0, np.int64) if common is None else np.asarray(common, np.int64)
    return ids, {space: vectors[np.searchsorted(own, ids)] for space, (own, vectors) in per_space.items()}


@dataclass(frozen=True)
class CatalogFields:
    """The catalog's rows as the scalar fields of a Milvus collection (`styledex.index.milvus_collection.ItemFields`):
    each item's kind and its metadata with every value as filter text (``metadata_text``)."""

    catalog: Catalog

    def item_fields(self, ids: np.ndarray) -> list[tuple[str, dict[str, str]]]:
        found = self.catalog.kinds_and_metadata([int(i) for i in ids])
        return [((found[int(i)][0] or ""), {k: metadata_text(v) for k, v in found[int(i)][1].items()}) for i in ids]
