"""The catalog: a directory with SQLite (WAL) rows and raw vectors, plus one FAISS index per space.

Layout of a catalog directory::

    catalog.sqlite        items, vectors (raw float32, per frame and per item), meta (settings, revision)
    index/<space>/        index.faiss + manifest.json (styledex.index.SpaceIndex)
    .write.lock           held (flock) by the one process that writes

SQLite is the source of truth. Every write (a batch of items, a removal) is one transaction that also bumps
``revision``; an index on disk records the revision it reflects, and one that lags (a crash between the commit
and the index save) is rebuilt from the raw vectors on open. So a crash loses at most the batch in flight and
never leaves an index that disagrees with the rows. An index file only ever carries a revision that is already
committed, so a stale file can never pass for a current one.

``index_generation`` counts ``reindex`` runs: a rebuild changes the indexes but not the rows, so it leaves the
revision alone (the files it saves stay valid for it) and bumps the generation instead, which tells every open
catalog, in any process, to load the new indexes from disk.

A write that fails (a full disk, an I/O error) raises :class:`CatalogError` with one line and leaves the rows
as the last commit left them; a failed index save leaves the previous index file, which is rebuilt if stale.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from styledex.index import IndexMismatchError, SpaceIndex
from styledex.index.policy import choose_index

if TYPE_CHECKING:
    from styledex.config import IndexConfig

DB_NAME = "catalog.sqlite"
SCHEMA_VERSION = 1
GENERATION_KEY = "index_generation"  # meta key: bumped by each `reindex` (see the module docstring)
ITEM_FRAME = -1  # the `frame` value of an item-level vector (a video's aggregate, an image's only vector)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so FAISS ids cannot drift onto another item
    path TEXT NOT NULL,
    kind TEXT,
    sha256 TEXT,
    size INTEGER,
    width INTEGER,
    height INTEGER,
    duration REAL,
    frames INTEGER,
    metadata TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS items_sha256 ON items(sha256);
CREATE INDEX IF NOT EXISTS items_path ON items(path);
CREATE TABLE IF NOT EXISTS vectors (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    space TEXT NOT NULL,
    frame INTEGER NOT NULL,
    time REAL,
    vec BLOB NOT NULL,
    PRIMARY KEY (item_id, space, frame)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CatalogError(Exception):
    """A catalog that is missing, locked or inconsistent, or a write that failed; str() is a one-line reason."""


@dataclass
class SpaceVectors:
    """One item's vectors in one space: per frame [F, dim] with times [F] (seconds), and the item vector [dim]."""

    item: np.ndarray
    frames: np.ndarray | None = None
    times: Sequence[float] = ()


@dataclass
class ItemRecord:
    """One row to write: a decoded and embedded item (status ok) or a failure (status failed, error set)."""

    path: str
    status: str
    kind: str | None = None
    sha256: str | None = None
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    frames: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    vectors: Mapping[str, SpaceVectors] = field(default_factory=dict)


def _blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


@contextmanager
def _setup_lock(directory: Path) -> Iterator[None]:
    """An exclusive flock on ``<catalog>/.setup.lock`` for the few milliseconds of opening; none if read-only."""
    try:
        fd = os.open(directory / ".setup.lock", os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:  # a read-only catalog: nobody can be creating it
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class Catalog:
    """A catalog directory. ``Catalog.open(path, create=True)`` makes one; writers use ``with catalog.writing():``."""

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self.directory = directory
        self.db = connection
        self._indexes: dict[str, SpaceIndex] = {}
        self._generations: dict[str, int] = {}  # space → the index generation its open index was loaded at
        self._lock_file: int | None = None
        # How indexes are chosen when built or rebuilt; None: the settings `reindex` stored, else the defaults.
        self.index_config: IndexConfig | None = None

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, directory: str | os.PathLike[str], *, create: bool = False) -> Catalog:
        path = Path(directory)
        db_path = path / DB_NAME
        if not db_path.exists():
            if not create:
                raise CatalogError(f"no catalog at {path}: expected {db_path} (create one with `styledex add`)")
            if path.exists() and not path.is_dir():
                raise CatalogError(f"catalog path {path} exists and is not a directory")
            path.mkdir(parents=True, exist_ok=True)
        # Two processes creating one catalog at once race on the switch to WAL, which SQLite answers with an
        # immediate "database is locked" (its busy timeout does not cover it): serialize the setup with a flock.
        with _setup_lock(path):
            try:
                connection = sqlite3.connect(db_path, timeout=60.0, isolation_level=None, check_same_thread=False)
                connection.row_factory = sqlite3.Row
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=FULL")  # a committed batch survives power loss too
                connection.execute("PRAGMA foreign_keys=ON")
                connection.executescript(_SCHEMA)
            except sqlite3.DatabaseError as exc:  # not a database, corrupt, locked past the timeout: one line
                raise CatalogError(f"cannot open catalog {db_path}: {exc}") from None
            catalog = cls(path, connection)
            version = catalog.get_meta("schema_version")
            if version is None:
                catalog.set_meta("schema_version", SCHEMA_VERSION)
            elif int(version) != SCHEMA_VERSION:
                connection.close()
                raise CatalogError(f"catalog {path} has schema version {version}; this styledex reads {SCHEMA_VERSION}")
        return catalog

    def close(self) -> None:
        self.db.close()
        self.release_lock()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- meta ----------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def set_meta(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value)))

    @property
    def revision(self) -> int:
        return int(self.get_meta("revision") or 0)

    @property
    def index_generation(self) -> int:
        return int(self.get_meta(GENERATION_KEY) or 0)

    def _state(self) -> tuple[int, int]:
        """(revision, index generation), read by one statement so both come from the same commit."""
        rows = self.db.execute("SELECT key, value FROM meta WHERE key IN ('revision', ?)", (GENERATION_KEY,))
        values = {row[0]: int(json.loads(row[1])) for row in rows}
        return values.get("revision", 0), values.get(GENERATION_KEY, 0)

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: every statement inside sees the same commit (WAL readers never block writers).
        Inside a transaction already (a writer's), it adds nothing."""
        if self.db.in_transaction:
            yield
            return
        self.db.execute("BEGIN")
        try:
            yield
        finally:
            if self.db.in_transaction:
                self.db.execute("COMMIT")

    def _failed_write(self, what: str, exc: sqlite3.Error) -> CatalogError:
        """Roll back the open transaction, if SQLite has not already, and describe the failure in one line."""
        if self.db.in_transaction:
            with suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
        return CatalogError(f"cannot {what} in catalog {self.directory}: {exc}; nothing of this write was kept")

    # -- locking -------------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, *, wait: bool = True) -> Iterator[Catalog]:
        """Hold the catalog's write lock (one writer at a time across processes); save indexes on exit.

        When the body fails, the indexes are still saved if possible (they hold every committed write), but a
        failure to save them then does not hide the first error: an index left stale is rebuilt on open.
        """
        self.acquire_lock(wait=wait)
        try:
            yield self
        except BaseException:
            with suppress(CatalogError):
                self.save_indexes()
            raise
        else:
            self.save_indexes()
        finally:
            self.release_lock()

    def acquire_lock(self, *, wait: bool = True) -> None:
        if self._lock_file is not None:
            return
        fd = os.open(self.directory / ".write.lock", os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise CatalogError(f"catalog {self.directory} is being written by another process") from None
        self._lock_file = fd

    def release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            os.close(self._lock_file)
            self._lock_file = None

    # -- reading -------------------------------------------------------------------------------------------
    def find_ok_by_hash(self, sha256: str) -> int | None:
        row = self.db.execute("SELECT id FROM items WHERE sha256 = ? AND status = 'ok' LIMIT 1", (sha256,)).fetchone()
        return None if row is None else int(row["id"])

    def ok_hashes(self) -> set[str]:
        """Content hashes of every ok item (a file with one of these is skipped by ``add``)."""
        return {r[0] for r in self.db.execute("SELECT sha256 FROM items WHERE status = 'ok' AND sha256 IS NOT NULL")}

    def item(self, item_id: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if row is None else _row_to_dict(row)

    def items(
        self, *, status: str | None = None, kind: str | None = None, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        clauses, args = [], []
        if status:
            clauses.append("status = ?")
            args.append(status)
        if kind:
            clauses.append("kind = ?")
            args.append(kind)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT * FROM items {where} ORDER BY id LIMIT ? OFFSET ?"
        rows = self.db.execute(sql, (*args, -1 if limit is None else limit, offset)).fetchall()
        return [_row_to_dict(r) for r in rows]

    def count(self, status: str | None = "ok") -> int:
        if status is None:
            return int(self.db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM items WHERE status = ?", (status,)).fetchone()[0])

    def vector_count(self, space: str) -> int:
        """How many ok items have an item-level vector in ``space`` (what :meth:`load_vectors` would load)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM vectors v JOIN items i ON i.id = v.item_id "
            "WHERE v.space = ? AND v.frame = ? AND i.status = 'ok'",
            (space, ITEM_FRAME),
        ).fetchone()
        return int(row[0])

    def load_vectors(self, space: str, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Item-level vectors of every ok item in ``space``: (ids [n] int64, vectors [n, dim] float32)."""
        rows = self.db.execute(
            "SELECT v.item_id, v.vec FROM vectors v JOIN items i ON i.id = v.item_id "
            "WHERE v.space = ? AND v.frame = ? AND i.status = 'ok' ORDER BY v.item_id",
            (space, ITEM_FRAME),
        ).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return ids, vectors.copy()

    def vectors_by_id(self, space: str, ids: np.ndarray, dim: int) -> np.ndarray:
        """The item-level vectors of ``ids`` [n] in ``space``, in that order: [n, dim] float32 (KeyError if one is
        missing). The exact vectors behind a lossy (ivfpq) index: it re-ranks its candidates with them."""
        wanted = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        for start in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(
                f"SELECT item_id, vec FROM vectors WHERE space = ? AND frame = ? AND item_id IN ({marks})",
                (space, ITEM_FRAME, *chunk),
            ).fetchall()
            found.update((int(r[0]), r[1]) for r in rows)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise KeyError(f"no {space} vector for item(s) {missing[:10]}")
        out = np.frombuffer(b"".join(found[i] for i in wanted), dtype=np.float32)
        return out.reshape(len(wanted), dim).copy()

    def item_vector(self, item_id: int, space: str) -> np.ndarray | None:
        row = self.db.execute(
            "SELECT vec FROM vectors WHERE item_id = ? AND space = ? AND frame = ?", (item_id, space, ITEM_FRAME)
        ).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float32).copy()

    def frame_vectors(self, item_id: int, space: str) -> tuple[list[float], np.ndarray]:
        """Per-frame vectors of a video: (times in seconds [F], vectors [F, dim]); empty for an image."""
        rows = self.db.execute(
            "SELECT time, vec FROM vectors WHERE item_id = ? AND space = ? AND frame >= 0 ORDER BY frame",
            (item_id, space),
        ).fetchall()
        if not rows:
            return [], np.zeros((0, 0), np.float32)
        return [r[0] for r in rows], np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])

    # -- writing -------------------------------------------------------------------------------------------
    def write_batch(self, records: Sequence[ItemRecord]) -> list[int]:
        """Insert a batch in one transaction (replacing earlier failed rows of the same paths); ids in order.

        Also adds the ok items to any index already open, so searches in this process see them at once.
        """
        now = time.time()
        ids: list[int] = []
        added: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        try:
            self.db.execute("BEGIN IMMEDIATE")
            before = self._state()
            for rec in records:
                self.db.execute("DELETE FROM items WHERE path = ? AND status = 'failed'", (rec.path,))
                cursor = self.db.execute(
                    "INSERT INTO items (path, kind, sha256, size, width, height, duration, frames, metadata, "
                    "status, error, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        rec.path, rec.kind, rec.sha256, rec.size, rec.width, rec.height, rec.duration,
                        rec.frames, json.dumps(dict(rec.metadata), default=str), rec.status, rec.error, now, now,
                    ),
                )  # fmt: skip
                item_id = int(cursor.lastrowid)  # type: ignore[arg-type]
                ids.append(item_id)
                for space, vecs in rec.vectors.items():
                    rows = [(item_id, space, ITEM_FRAME, None, _blob(vecs.item))]
                    if vecs.frames is not None:
                        rows += [
                            (item_id, space, i, float(t), _blob(v))
                            for i, (t, v) in enumerate(zip(vecs.times, vecs.frames, strict=True))
                        ]
                    self.db.executemany("INSERT INTO vectors VALUES (?,?,?,?,?)", rows)
                    if rec.status == "ok":
                        added.setdefault(space, ([], []))
                        added[space][0].append(item_id)
                        added[space][1].append(vecs.item)
            revision = before[0] + 1
            self.set_meta("revision", revision)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:  # a full disk, an I/O error, a lock held past the timeout
            raise self._failed_write(f"add {len(records)} item(s)", exc) from None
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self._follow_write(before, revision, add=added)
        return ids

    def remove(self, item_ids: Sequence[int]) -> list[int]:
        """Delete items (rows and vectors) in one transaction and take them out of open indexes; ids removed."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            before = self._state()
            # dict.fromkeys: an id given twice is removed (and reported) once.
            unique = list(dict.fromkeys(item_ids))
            present = [i for i in unique if self.db.execute("SELECT 1 FROM items WHERE id = ?", (i,)).fetchone()]
            self.db.executemany("DELETE FROM vectors WHERE item_id = ?", [(i,) for i in present])
            self.db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in present])
            revision = before[0] + 1
            self.set_meta("revision", revision)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed_write(f"remove {len(item_ids)} item(s)", exc) from None
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self._follow_write(before, revision, remove=present)
        return present

    def missing_ids(self, item_ids: Sequence[int]) -> list[int]:
        """The ids in ``item_ids`` with no row (ok or failed), ascending, each once."""
        wanted = sorted(set(item_ids))
        found: set[int] = set()
        for start in range(0, len(wanted), 500):  # SQLite caps the number of bound parameters
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT id FROM items WHERE id IN ({marks})", chunk))
        return [i for i in wanted if i not in found]

    def _follow_write(
        self,
        before: tuple[int, int],
        revision: int,
        *,
        add: Mapping[str, tuple[list[int], list[np.ndarray]]] | None = None,
        remove: Sequence[int] = (),
    ) -> None:
        """Bring the open indexes from state ``before`` (revision, generation) to ``revision`` after a commit.

        An open index that was not current at ``before`` (read before another process wrote or reindexed) is
        dropped instead: patched and saved, it would pass for current while missing that other write.
        """
        for space, index in list(self._indexes.items()):
            if (index.revision, self._generations.get(space)) != before:
                del self._indexes[space]
                continue
            if add and space in add:
                space_ids, vectors = add[space]
                index.add(np.array(space_ids, dtype=np.int64), np.stack(vectors))
            if remove:
                index.remove(np.array(remove, dtype=np.int64))
            index.revision = revision

    # -- indexes -------------------------------------------------------------------------------------------
    def index_dir(self, space: str) -> Path:
        return self.directory / "index" / space

    def index(self, space: str, *, dim: int, fingerprint: str, metric: str = "ip") -> SpaceIndex:
        """The open index of ``space``, loaded from disk, or rebuilt from raw vectors when missing or stale.

        The one open before is kept while the catalog's revision and index generation are those it was opened
        at; else the saved one is loaded if it carries the current revision, else the rows are read. The
        revision and the rows come from one read transaction, so the index holds exactly what that revision
        holds even while another process writes.
        """
        with self._snapshot():
            revision, generation = self._state()
            cached = self._indexes.get(space)
            if cached is not None and cached.revision == revision and self._generations.get(space) == generation:
                return cached
            index: SpaceIndex | None = None
            try:
                index = SpaceIndex.open(self.index_dir(space), expected_fingerprint=fingerprint, expected_dim=dim)
                if index.revision != revision:
                    index = None
            except (FileNotFoundError, IndexMismatchError):
                index = None
            if index is None:  # the rows are read here, the (slower) FAISS build runs after the transaction
                config = self.stored_index_config()
                ids, vectors = self.load_vectors(space, dim)
                build = (ids, vectors, config)
        if index is None:
            ids, vectors, config = build
            index = self._index_from_vectors(space, ids, vectors, fingerprint, metric, revision, config)
        self._attach(index, space, dim, generation)
        return index

    def stored_index_config(self) -> IndexConfig:
        """The index settings in force: ``index_config`` if set, else those the last ``reindex`` stored in the meta
        table (so a rebuild after a crash keeps the type it chose), else the packaged defaults."""
        from styledex.config import IndexConfig, load_config

        if self.index_config is not None:
            return self.index_config
        stored = self.get_meta("index_config")
        return IndexConfig.model_validate(stored) if stored is not None else load_config().index

    def build_index(
        self, space: str, *, dim: int, fingerprint: str, metric: str = "ip", config: IndexConfig | None = None
    ) -> SpaceIndex:
        """A new index of ``space`` from the raw vectors, of the type the policy picks (not saved, not opened)."""
        with self._snapshot():
            revision = self.revision
            config = config or self.stored_index_config()
            ids, vectors = self.load_vectors(space, dim)
        return self._index_from_vectors(space, ids, vectors, fingerprint, metric, revision, config)

    def _index_from_vectors(
        self,
        space: str,
        ids: np.ndarray,
        vectors: np.ndarray,
        fingerprint: str,
        metric: str,
        revision: int,
        config: IndexConfig,
    ) -> SpaceIndex:
        """An index of ``vectors`` [n, dim] under ``ids`` [n], of the type ``config``'s policy picks for n, stamped
        with ``revision`` (the one the rows were read at)."""
        choice = choose_index(
            len(ids), vectors.shape[1], config.memory_budget_bytes, policy=config.policy, overrides=config.overrides(),
            flat_max_items=config.flat_max_items, ivfpq_min_items=config.ivfpq_min_items,
            pq_subvector_dims=_pq_subvector_dims(space),
        )  # fmt: skip
        return SpaceIndex.from_vectors(
            self.index_dir(space), ids, vectors, space=space, metric=metric,  # type: ignore[arg-type]
            fingerprint=fingerprint, revision=revision, index_type=choice.index_type, index_params=choice.params,
            policy=choice.manifest_entry(config.policy, len(ids), config.memory_budget_bytes),
        )  # fmt: skip

    def replace_index(self, index: SpaceIndex, *, dim: int) -> None:
        """Save ``index`` over its space's index on disk (atomically), stamped with the current revision, and use
        it from now on. Writers only, with an index of the rows as they are now (built under the write lock).

        Other processes keep the index they have open until :meth:`finish_reindex` bumps the generation."""
        revision, generation = self._state()
        index.revision = revision
        self._save(index)
        self._attach(index, index.space, dim, generation)

    def finish_reindex(self, index_config: IndexConfig) -> int:
        """Store the settings a ``reindex`` used (later rebuilds choose with them) and bump the index generation,
        in one transaction, so every open catalog loads the new indexes at its next search; the new generation."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            revision, generation = self._state()
            self.set_meta("index_config", index_config.model_dump())
            self.set_meta(GENERATION_KEY, generation + 1)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed_write("store the reindex settings", exc) from None
        # The indexes this catalog has open are current for the new generation unless the rows moved since.
        for space, index in self._indexes.items():
            if index.revision == revision and self._generations.get(space) == generation:
                self._generations[space] = generation + 1
        return generation + 1

    def _attach(self, index: SpaceIndex, space: str, dim: int, generation: int) -> None:
        # The exact vectors behind lossy index types (re-ranking, reconstruct) come from the raw rows.
        index.vector_source = CatalogVectors(self, space, dim)
        self._indexes[space] = index
        self._generations[space] = generation

    def save_indexes(self) -> None:
        """Write every open index that is current atomically (writers only); CatalogError (one line) if one
        cannot be written, e.g. on a full disk. One opened before another process's write or reindex is not
        written: it would pass for current while missing that write, or undo that reindex."""
        state = self._state()
        for space, index in self._indexes.items():
            if (index.revision, self._generations.get(space)) == state:
                self._save(index)

    def _save(self, index: SpaceIndex) -> None:
        try:
            index.save()
        except OSError as exc:
            reason = exc.strerror if exc.strerror and exc.filename else str(exc)
            raise CatalogError(f"cannot save the {index.space!r} index of catalog {self.directory}: {reason}") from None


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


def _pq_subvector_dims(space: str) -> int | None:
    """The index hint of ``space``'s definition (``SpaceSpec.pq_subvector_dims``), None for a space the registry
    does not know (the policy's default applies)."""
    from styledex.embed.spaces import SPACES  # here, not at the top: it imports torch, which rows alone do not need

    spec = SPACES.get(space)
    return None if spec is None else spec.pq_subvector_dims


def _row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    item["metadata"] = json.loads(item["metadata"] or "{}")
    return item
