"""The catalog: a directory with SQLite (WAL) rows and raw vectors, the write lock, and where each index lives.

Layout of a catalog directory::

    catalog.sqlite        items, vectors (raw float32, per frame and per item), views (an item's region views in
                          the content space, float16), meta (settings, revision)
    index/<space>/        index.faiss + manifest.json (styledex.index.SpaceIndex, kept by styledex.space_indexes)
    .write.lock           held (flock) by the one process that writes

SQLite is the source of truth. Every write (a batch of items, a removal) is one transaction that also bumps
``revision``; an index on disk records the revision it reflects, and one that lags (a crash between the commit
and the index save) is rebuilt from the raw vectors on open. So a crash loses at most the batch in flight and
never leaves an index that disagrees with the rows. An index file only ever carries a revision that is already
committed, so a stale file can never pass for a current one.

``index_generation`` counts ``reindex`` runs: a rebuild changes the indexes but not the rows, so it leaves the
revision alone (the files it saves stay valid for it) and bumps the generation instead, which tells every open
catalog, in any process, to load the new indexes from disk.

This module knows nothing of FAISS: it keeps the rows, the raw vectors and the meta values (revision, index
generation, the settings the last ``reindex`` stored) as plain data. What is derived from the rows (each space's
open index, :class:`styledex.space_indexes.SpaceIndexes`) follows the catalog's writes as a :class:`WriteFollower`:
told of each commit, and asked to save when the writer leaves :meth:`Catalog.writing`.

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
from pathlib import Path
from typing import Any

import numpy as np

from styledex.catalog_records import CatalogState, Commit, ItemRecord, SpaceVectors, WriteFollower

__all__ = [
    "DB_NAME", "ITEM_FRAME", "Catalog", "CatalogError", "CatalogState", "Commit", "ItemRecord", "SpaceVectors",
    "WriteFollower",
]  # fmt: skip

DB_NAME = "catalog.sqlite"
SCHEMA_VERSION = 1
GENERATION_KEY = "index_generation"  # meta key: bumped by each `reindex` (see the module docstring)
INDEX_SETTINGS_KEY = "index_config"  # meta key: the index settings (IndexConfig's fields) the last `reindex` used
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
# Region views of an item in a space (styledex.embed.content_views): [V, dim] float16, what a content query by this
# item asks with besides its vector. Added after schema 1 without a version bump: a catalog made before has no
# views (its queries ask with the item's vector and its mirror), and a writable open adds the empty table.
_VIEWS_SCHEMA = """
CREATE TABLE IF NOT EXISTS views (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    space TEXT NOT NULL,
    vec BLOB NOT NULL,
    PRIMARY KEY (item_id, space)
);
"""


class CatalogError(Exception):
    """A catalog that is missing, locked or inconsistent, or a write that failed; str() is a one-line reason."""


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
    """A catalog directory: its SQLite connection (rows, raw vectors, meta), its write lock, and the followers of
    its writes (see the module docstring). ``Catalog.open(path, create=True)`` makes one; writers use
    ``with catalog.writing():``. Not thread-safe: one thread at a time uses a Catalog."""

    def __init__(self, directory: Path, connection: sqlite3.Connection) -> None:
        self.directory = directory
        self.db = connection
        self._lock_file: int | None = None
        self._followers: list[WriteFollower] = []
        self._views_table = False  # known to exist (see _has_views_table)

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
                with suppress(sqlite3.OperationalError):  # read-only and made before views: none
                    connection.executescript(_VIEWS_SCHEMA)
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
        self._followers.clear()  # what they hold (open indexes) goes with the catalog
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

    def state(self) -> CatalogState:
        """(revision, index generation), read by one statement so both come from the same commit."""
        rows = self.db.execute("SELECT key, value FROM meta WHERE key IN ('revision', ?)", (GENERATION_KEY,))
        values = {row[0]: int(json.loads(row[1])) for row in rows}
        return CatalogState(values.get("revision", 0), values.get(GENERATION_KEY, 0))

    def stored_index_settings(self) -> dict[str, Any] | None:
        """The index settings (IndexConfig's fields, as JSON data) the last ``reindex`` stored; None before any."""
        return self.get_meta(INDEX_SETTINGS_KEY)

    @contextmanager
    def snapshot(self) -> Iterator[None]:
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

    # -- followers -----------------------------------------------------------------------------------------
    @property
    def followers(self) -> tuple[WriteFollower, ...]:
        return tuple(self._followers)

    def add_follower(self, follower: WriteFollower) -> None:
        """Tell ``follower`` of every later commit through this catalog, and have it save when a writer leaves
        :meth:`writing`; until :meth:`remove_follower` or :meth:`close`."""
        if not any(f is follower for f in self._followers):
            self._followers.append(follower)

    def remove_follower(self, follower: WriteFollower) -> None:
        self._followers = [f for f in self._followers if f is not follower]

    def _notify(self, commit: Commit) -> None:
        for follower in list(self._followers):
            follower.follow(commit)

    def _save_followers(self) -> None:
        for follower in list(self._followers):
            follower.save()

    # -- locking -------------------------------------------------------------------------------------------
    @contextmanager
    def writing(self, *, wait: bool = True) -> Iterator[Catalog]:
        """Hold the catalog's write lock (one writer at a time across processes); on exit every follower saves
        (the open indexes are written once, at the end of the write, not after every commit).

        When the body fails, the followers still save if possible (they hold every committed write), but a
        failure to save then does not hide the first error: an index left stale is rebuilt on open.
        """
        self.acquire_lock(wait=wait)
        try:
            yield self
        except BaseException:
            with suppress(CatalogError):
                self._save_followers()
            raise
        else:
            self._save_followers()
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

    def vector_count(self, space: str, *, through: int | None = None) -> int:
        """How many ok items have an item-level vector in ``space`` (what :meth:`load_vectors` would load);
        ``through``: only those with an id ≤ it. Counted inside SQLite (~20 ms for 100k rows, where reading their
        ids into Python took ~110 ms)."""
        row = self.db.execute(
            "SELECT COUNT(*) FROM vectors v JOIN items i ON i.id = v.item_id "
            "WHERE v.space = ? AND v.frame = ? AND i.status = 'ok' AND v.item_id <= ?",
            (space, ITEM_FRAME, 2**63 - 1 if through is None else int(through)),
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

    def vector_ids(self, space: str, *, after: int | None = None) -> np.ndarray:
        """The ids [n] int64, ascending, of the ok items with an item-level vector in ``space``: the ids an
        index of that space holds when it is current. ``after``: only the ids above it (a range of the primary
        key: the rows a follower lacks, read without touching the others)."""
        rows = self.db.execute(
            "SELECT v.item_id FROM vectors v JOIN items i ON i.id = v.item_id "
            "WHERE v.space = ? AND v.frame = ? AND i.status = 'ok' AND v.item_id > ? ORDER BY v.item_id",
            (space, ITEM_FRAME, -1 if after is None else int(after)),
        ).fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def vectors_by_id(self, space: str, ids: np.ndarray, dim: int) -> np.ndarray:
        """The item-level vectors of ``ids`` [n] in ``space``, in that order: [n, dim] float32 (KeyError if one is
        missing). The exact vectors behind a lossy (ivfpq) index: it re-ranks its candidates with them."""
        wanted = [int(i) for i in ids]
        sql = "SELECT item_id, vec FROM vectors WHERE space = ? AND frame = ? AND item_id IN ({})"
        found = {int(r[0]): r[1] for r in self._rows_in(sql, (space, ITEM_FRAME), wanted)}
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

    def _has_views_table(self) -> bool:
        """Whether the views table exists: always once a writable open made it, so only that answer is kept (a
        read-only catalog from before views asks SQLite again, in case a writer has since added it)."""
        if not self._views_table:
            found = self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'views'").fetchone()
            self._views_table = found is not None
        return self._views_table

    def item_views(self, item_id: int, space: str, dim: int) -> np.ndarray | None:
        """The region views of an item in ``space``: [V, dim] float32 (stored as float16), None when it has none."""
        if not self._has_views_table():
            return None
        row = self.db.execute("SELECT vec FROM views WHERE item_id = ? AND space = ?", (item_id, space)).fetchone()
        return None if row is None else np.frombuffer(row[0], dtype=np.float16).astype(np.float32).reshape(-1, dim)

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

        Then tells the followers (see :class:`Commit`), so indexes open in this process hold the ok items at once.
        """
        now = time.time()
        ids: list[int] = []
        added: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        try:
            self.db.execute("BEGIN IMMEDIATE")
            before = self.state()
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
                    if vecs.views is not None:
                        view_blob = np.ascontiguousarray(vecs.views, dtype=np.float16).tobytes()
                        self.db.execute("INSERT INTO views VALUES (?,?,?)", (item_id, space, view_blob))
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
        if self._followers:  # the arrays are only worth building for someone
            vectors = {space: (np.array(i, dtype=np.int64), np.stack(v)) for space, (i, v) in added.items()}
            self._notify(Commit(before, revision, added=vectors))
        return ids

    def remove(self, item_ids: Sequence[int]) -> list[int]:
        """Delete items (rows and vectors) in one transaction, then tell the followers; the ids removed."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            before = self.state()
            # dict.fromkeys: an id given twice is removed (and reported) once.
            unique = list(dict.fromkeys(item_ids))
            present = [i for i in unique if self.db.execute("SELECT 1 FROM items WHERE id = ?", (i,)).fetchone()]
            self.db.executemany("DELETE FROM vectors WHERE item_id = ?", [(i,) for i in present])
            if self._has_views_table():
                self.db.executemany("DELETE FROM views WHERE item_id = ?", [(i,) for i in present])
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
        self._notify(Commit(before, revision, removed=np.array(present, dtype=np.int64)))
        return present

    def missing_ids(self, item_ids: Sequence[int]) -> list[int]:
        """The ids in ``item_ids`` with no row (ok or failed), ascending, each once."""
        wanted = sorted(set(item_ids))
        found = {r[0] for r in self._rows_in("SELECT id FROM items WHERE id IN ({})", (), wanted)}
        return [i for i in wanted if i not in found]

    def kinds_and_metadata(self, ids: Sequence[int]) -> dict[int, tuple[str | None, dict[str, Any]]]:
        """Each of ``ids``' kind and metadata (what filters read), by id; ids without a row are absent."""
        sql = "SELECT id, kind, metadata FROM items WHERE id IN ({})"
        return {int(r[0]): (r[1], json.loads(r[2] or "{}")) for r in self._rows_in(sql, (), list(ids))}

    def _rows_in(self, sql: str, args: tuple[Any, ...], ids: Sequence[int]) -> Iterator[sqlite3.Row]:
        """The rows of ``sql`` (its ``{}`` the place of an id list) for ``ids``, queried 500 ids at a time:
        SQLite caps the number of bound parameters."""
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(chunk))), (*args, *chunk))

    def record_reindex(self, settings: Mapping[str, Any]) -> CatalogState:
        """Store the index settings a ``reindex`` used (later rebuilds choose with them) and bump the index
        generation, in one transaction, so every open catalog loads the new indexes at its next search. Returns
        the state it started from (the new generation is its generation + 1)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            before = self.state()
            self.set_meta(INDEX_SETTINGS_KEY, dict(settings))
            self.set_meta(GENERATION_KEY, before.generation + 1)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._failed_write("store the reindex settings", exc) from None
        return before

    # -- layout --------------------------------------------------------------------------------------------
    def index_dir(self, space: str) -> Path:
        """Where the index of ``space`` is saved (``index/<space>/``)."""
        return self.directory / "index" / space


def _row_to_dict(row: sqlite3.Row) -> dict[str, Any]:
    item = dict(row)
    item["metadata"] = json.loads(item["metadata"] or "{}")
    return item
