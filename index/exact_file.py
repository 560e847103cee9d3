"""An index's own copy of its items' exact vectors, in a memory-mapped file beside it: what its re-ranking reads.

An hnsw graph over principal components re-scores its candidates with the exact vectors (ivfpq does too, from the
catalog's rows; it has no file of its own). Read from the catalog's SQLite rows they cost ~15 µs each when cached
and far more when not (an 8 KB `content` row spans three pages): a `content` query asks with twelve views, whose
candidates add up to ~1,050 distinct rows, and at 1M items everything but FAISS's 4.9 ms of its 22.7 ms (in
process, p50) was those reads and their bookkeeping. Here the vectors are float32 rows of one file in the index's
directory, read by id through a memory map: two contiguous pages per 2048-d row, no SQL.

- ``exact.f32``: the rows, appended in the order the index took them (a removed item's row stays until the
  index is rebuilt); ``exact-ids.npy``: the id of each row. The index's manifest records how many rows are
  current (``exact_rows``), so rows appended after it (a crash between the append and the manifest) are ignored
  and overwritten by the next save, and a file shorter than the manifest says is not used at all: the index's
  `vector_source` (the catalog's rows) answers for every item the file lacks, until a rebuild (``styledex
  reindex``) writes it whole again.
- Nothing is written until `save`: rows added since wait in memory (or as views of the caller's arrays).
- A rebuild starts a new one (`SpaceIndex.rebuild`), which its first save writes whole, to a temporary file
  renamed over the old.

The file lives on disk and in the page cache, not in the index's memory: ``bytes_per_item`` of the index does not
count it (the README gives both).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .exact_vectors import ExactVectors

ROWS_FILE = "exact.f32"
IDS_FILE = "exact-ids.npy"


class ExactFile:
    """The exact vectors [n, dim] float32 of an index's items by id (`ExactVectors`), from a file and from rows
    added since it was saved."""

    def __init__(self, directory: Path, dim: int) -> None:
        self.directory, self.dim = Path(directory), int(dim)
        self._saved_rows = 0  # rows of the file that are current
        self._map: np.ndarray | None = None  # [saved rows, dim] memory map
        self._ids = np.zeros(0, dtype=np.int64)  # row order: saved rows, then pending ones
        self._pending: list[np.ndarray] = []
        self._rewrite = True  # no file yet: the first save writes it whole
        self._lookup: tuple[np.ndarray, np.ndarray] | None = None  # (sorted ids, their rows), rebuilt on change

    @classmethod
    def open(cls, directory: Path, dim: int, rows: int) -> ExactFile:
        """The file saved in ``directory`` with its first ``rows`` rows (the manifest's ``exact_rows``). A missing
        or short file gives an empty one that is rewritten whole at the next save (until then the index reads
        its `vector_source`)."""
        found = cls(directory, dim)
        rows_path, ids_path = found.directory / ROWS_FILE, found.directory / IDS_FILE
        with contextlib.suppress(OSError, ValueError):
            ids = np.load(ids_path, mmap_mode="r")
            if rows > 0 and len(ids) >= rows and rows_path.stat().st_size >= rows * dim * 4:
                found._map = np.memmap(rows_path, dtype=np.float32, mode="r", shape=(rows, dim))
                found._ids = np.array(ids[:rows], dtype=np.int64)
                found._saved_rows, found._rewrite = rows, False
        return found

    @property
    def rows(self) -> int:
        """Rows held (saved and pending), removed items' included."""
        return len(self._ids)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold ``vectors`` [n, dim] float32 under ``ids`` [n] (checked by the index) until the next save."""
        new = np.asarray(ids, dtype=np.int64)
        first_row = len(self._ids)
        self._pending.append(np.asarray(vectors, dtype=np.float32))
        self._ids = np.concatenate([self._ids, new])
        # A catalog's ids only grow: new ones past every id held extend the sorted lookup instead of re-sorting all
        # (at 1M items a re-sort took ~0.1 s, paid by the first search after each commit an index follows).
        if self._lookup is not None and len(new) and (not len(self._lookup[0]) or new[0] > self._lookup[0][-1]) \
                and bool(np.all(np.diff(new) > 0)):
            sorted_ids, order = self._lookup
            rows = np.arange(first_row, first_row + len(new), dtype=np.int64)
            self._lookup = (np.concatenate([sorted_ids, new]), np.concatenate([order, rows]))
        else:
            self._lookup = None

    def rows_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(the row of each of ``ids`` [n], whether it has one) [n] each: an id's last row, so one removed and
        added again reads its new vector."""
        wanted = np.asarray(ids, dtype=np.int64)
        if self._lookup is None:
            order = np.argsort(self._ids, kind="stable")
            self._lookup = (self._ids[order], order)
        sorted_ids, order = self._lookup
        at = np.searchsorted(sorted_ids, wanted, side="right") - 1
        found = at >= 0
        found[found] = sorted_ids[at[found]] == wanted[found]
        return order[np.maximum(at, 0)] if len(order) else np.zeros(len(wanted), np.int64), found

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The rows of ``ids`` [n] in that order: [n, dim] float32; KeyError naming those it does not hold."""
        rows, found = self.rows_of(ids)
        if not found.all():
            raise KeyError(f"no exact vector for id(s) {np.asarray(ids)[~found][:10].tolist()}")
        return self.read_rows(rows)

    def read_rows(self, rows: np.ndarray) -> np.ndarray:
        """The vectors at ``rows`` [n] (row numbers from `rows_of`): [n, dim] float32."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        saved = rows < self._saved_rows
        if saved.all():
            return np.asarray(self._map[rows]) if len(rows) else out  # type: ignore[index]
        if saved.any():
            out[saved] = self._map[rows[saved]]  # type: ignore[index]
        # Pending rows stay in the blocks they came in (a bulk build's are views of its arrays: never copied).
        start = self._saved_rows
        for block in self._pending:
            inside = (rows >= start) & (rows < start + len(block))
            if inside.any():
                out[inside] = block[rows[inside] - start]
            start += len(block)
        return out

    def save(self) -> int:
        """Write the pending rows (all rows after a reset, to a temporary file renamed into place; else appended
        after the current rows) and the ids, fsynced; the rows now current, for the manifest's ``exact_rows``.
        OSError (the old file's current rows stay valid: the manifest still names their count)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        rows_path, ids_path = self.directory / ROWS_FILE, self.directory / IDS_FILE
        if self._rewrite:
            tmp = rows_path.with_name(ROWS_FILE + ".tmp")
            with tmp.open("wb") as f:
                for block in self._pending:
                    f.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, rows_path)
        elif self._pending:
            with rows_path.open("r+b") as f:
                f.truncate(self._saved_rows * self.dim * 4)  # rows past the manifest's count: a crashed save's
                f.seek(0, os.SEEK_END)
                for block in self._pending:
                    f.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
                f.flush()
                os.fsync(f.fileno())
        ids_tmp = ids_path.with_name(IDS_FILE + ".tmp.npy")
        with ids_tmp.open("wb") as f:
            np.save(f, self._ids)
            f.flush()
            os.fsync(f.fileno())
        os.replace(ids_tmp, ids_path)
        self._saved_rows, self._rewrite, self._pending = len(self._ids), False, []
        self._map = (np.memmap(rows_path, dtype=np.float32, mode="r", shape=(self._saved_rows, self.dim))
                     if self._saved_rows else None)  # fmt: skip
        return self._saved_rows


@dataclass(frozen=True)
class FileFirst:
    """`ExactVectors` from an index's `ExactFile` where it holds them, the rest from ``fallback`` (the catalog's
    rows; None: none, a KeyError for them)."""

    file: ExactFile
    fallback: ExactVectors | None

    def exact_vectors(self, ids: np.ndarray) -> np.ndarray:
        rows, held = self.file.rows_of(ids)
        if held.all():
            return self.file.read_rows(rows)
        if self.fallback is None:
            raise KeyError(f"no exact vector for id(s) {np.asarray(ids)[~held][:10].tolist()}")
        wanted = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(wanted), self.file.dim), dtype=np.float32)
        if held.any():
            out[held] = self.file.read_rows(rows[held])
        out[~held] = self.fallback.exact_vectors(wanted[~held])
        return out
