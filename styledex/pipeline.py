"""Batch ingestion as separate stages: reader (paths → sources) → mapper (decode + embed) → writer (catalog).

Each stage is a plain callable over plain data, so a distributed engine can drive the same stages later. The
runner here overlaps decoding (a thread pool: Pillow and PyAV release the GIL) with the VGG forward.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from styledex.catalog import ItemRecord, SpaceVectors
from styledex.config import Config
from styledex.embed.content_views import VIEW_SPACES, aggregate_views, views_key
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Media, MediaError, decode
from styledex.progress import progress_bar
from styledex.space_indexes import SpaceIndexes

MANIFEST_SUFFIXES = (".csv", ".parquet")


class InputError(Exception):
    """A path argument or manifest that cannot be used at all (exit code 2); str() is one line."""


@dataclass(frozen=True)
class Source:
    """One file to ingest, with metadata from a manifest row (empty for plain files).

    ``error`` set: the reader already knows this entry cannot be added (a malformed manifest row, a file name
    the catalog cannot store); it is recorded as failed with that one-line reason, without being opened.
    """

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


# -- reader -------------------------------------------------------------------------------------------------
def read_sources(paths: Sequence[str | os.PathLike[str]]) -> list[Source]:
    """Expand files, folders (recursive, media extensions only, symlinked folders not followed) and manifests."""
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise InputError(f"no such file or folder: {_printable(str(raw))}")
        if path.is_dir():
            sources += _walk_folder(path)
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            sources += read_manifest(path)
        else:
            sources.append(_file_source(path))
    return sources


def _printable(text: str) -> str:
    """``text`` with undecodable file-name bytes (surrogate escapes) shown as ``\\xNN``: safe to print and to store."""
    return os.fsencode(text).decode("utf-8", "backslashreplace") if _has_surrogates(text) else text


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _file_source(path: Path, metadata: dict[str, Any] | None = None) -> Source:
    """A source for one file. A name that is not valid UTF-8 (a byte name from another system's encoding)
    fails here: the catalog keeps paths as UTF-8 text, so it could neither store nor reopen the file."""
    absolute = str(path.absolute())
    if _has_surrogates(absolute):
        shown = _printable(absolute)
        reason = f"file name is not valid UTF-8 ({_printable(path.name)}): rename the file to add it"
        return Source(shown, metadata or {}, error=reason)
    return Source(absolute, metadata or {})


def _walk_folder(folder: Path) -> list[Source]:
    media = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    found: list[Source] = []
    unreadable: list[Source] = []

    def note(error: OSError) -> None:
        # os.walk skips a folder it cannot list; say so instead of losing its files without a word.
        where = Path(error.filename) if error.filename else folder
        reason = f"cannot read folder: {error.strerror or type(error).__name__}"
        unreadable.append(Source(_printable(str(where.absolute())), error=reason))

    # followlinks=False: a symlink loop cannot make the walk endless.
    for root, dirs, files in os.walk(folder, followlinks=False, onerror=note):
        dirs.sort()
        found += [_file_source(Path(root, f)) for f in sorted(files) if Path(f).suffix.lower() in media]
    return found + unreadable


def read_manifest(path: Path) -> list[Source]:
    """A .csv/.parquet with a ``path`` column (relative paths are relative to the manifest); other columns →
    metadata (missing values dropped).

    A manifest that cannot be read at all, or has no ``path`` column, raises :class:`InputError`. A bad row does
    not: it becomes a failed source with a one-line reason (a row with more cells than the header, a row with
    cells but no path, a path cell that is not text), and the other rows are read as usual. Rows with no cell
    at all are skipped.
    """
    malformed: list[list[str]] = []
    try:
        table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else _read_csv(path, malformed)
    except Exception as exc:  # pandas raises many types for unreadable files; all mean the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read manifest {path}: {reason}") from None
    if "path" not in table.columns:
        raise InputError(f"manifest {path} has no 'path' column; columns are: {', '.join(map(str, table.columns))}")
    width = len(table.columns)
    sources = []
    for number, row in enumerate(table.to_dict(orient="records"), start=1):
        value = row.pop("path")
        meta = {str(k): _plain(v) for k, v in row.items() if not _missing(v)}
        where = f"{path.absolute()}:row {number}"
        if isinstance(value, str) and value.startswith(_MALFORMED):
            cells = malformed[int(value[len(_MALFORMED) :])]
            file = cells[list(table.columns).index("path")].strip()
            reason = f"manifest row {number} has {len(cells)} cells, the header has {width}"
            sources.append(Source(str(_resolve(path, file)) if file else where, error=reason))
        elif _missing(value) or (isinstance(value, str) and not value.strip()):
            if meta:  # cells but no path: say so (a row with no cell at all is spreadsheet residue)
                sources.append(Source(where, meta, error=f"manifest row {number} has no path"))
        elif not isinstance(value, str):
            reason = f"manifest row {number}: path is not text (got {type(value).__name__} {value!r})"
            sources.append(Source(where, meta, error=_one_line_text(reason)))
        else:
            sources.append(_file_source(_resolve(path, value), meta))
    return sources


# The python CSV engine hands each row with too many cells to a callback, which returns the row to use in its
# place: a row whose path cell is this marker + the index of the cells kept aside, so the row keeps its number.
_MALFORMED = "\x00malformed-row:"


def _read_csv(path: Path, malformed: list[list[str]]) -> pd.DataFrame:
    """The CSV as a table (nullable dtypes: integer columns with blanks stay integers; missing cells → None).

    The fast C parser first; only a file with malformed rows is parsed again by the python engine, which can
    set those rows aside (into ``malformed``) instead of refusing the whole file.
    """
    options: dict[str, Any] = {"dtype": {"path": "string"}, "dtype_backend": "numpy_nullable"}
    try:
        return pd.read_csv(path, **options)
    except pd.errors.ParserError:
        pass
    header = list(pd.read_csv(path, nrows=0).columns)

    def keep_aside(cells: list[str]) -> list[str]:
        malformed.append(cells)
        row = [""] * len(header)
        row[header.index("path") if "path" in header else 0] = f"{_MALFORMED}{len(malformed) - 1}"
        return row

    return pd.read_csv(path, engine="python", on_bad_lines=keep_aside, **options)


def _resolve(manifest: Path, value: str) -> Path:
    file = Path(value)
    return (file if file.is_absolute() else manifest.parent / file).absolute()


def _one_line_text(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# -- mapper -------------------------------------------------------------------------------------------------
@dataclass
class Decoded:
    """A source after hashing and decoding: media set on success, error set on failure."""

    source: Source
    sha256: str | None = None
    size: int | None = None
    media: Media | None = None
    error: str | None = None


class NotRegularFile(OSError):
    """The path is a named pipe, device, socket or folder: not a file whose bytes can be hashed."""


_FILE_TYPES = {
    stat.S_IFIFO: "a named pipe",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


def file_sha256(path: str) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a regular file, read in 1 MiB chunks.

    Raises :class:`NotRegularFile` for anything else: a named pipe would block the open forever and a device
    such as /dev/zero would never end. The file is opened non-blocking and checked on the open descriptor, so
    a path swapped for a pipe between a check and the open cannot hang either.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _FILE_TYPES.get(stat.S_IFMT(mode), "not a regular file")
            raise NotRegularFile(f"not a regular file ({kind}); expected an image or video file")
    except BaseException:
        os.close(fd)
        raise
    digest = hashlib.sha256()
    size = 0
    with open(fd, "rb") as f:  # takes over the descriptor (O_NONBLOCK is harmless on a regular file)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, MediaError) else f"{type(exc).__name__}: {text}"


def decode_with_config(path: str | os.PathLike[str], config: Config) -> Media:
    """``media.decode`` with the frame count, sampling, pixel limit and downscaling of ``config.media``."""
    return decode(
        path,
        frames=config.media.frames,
        sampling=config.media.sampling,
        max_pixels=config.media.max_pixels,
        max_side=config.media.max_side,
    )


def decode_source(source: Source, config: Config, known: frozenset[str] = frozenset()) -> Decoded:
    """Hash and decode one file; any failure is captured as a one-line reason, never raised.

    A file whose hash is in ``known`` (already in the catalog) is not decoded: ``media`` and ``error`` stay None.
    """
    if source.error is not None:
        return Decoded(source, error=source.error)
    try:
        sha256, size = file_sha256(source.path)
    except NotRegularFile as exc:
        return Decoded(source, error=str(exc))
    except OSError as exc:
        return Decoded(source, error=f"cannot read file: {exc.strerror or one_line(exc)}")
    except ValueError as exc:  # a path open() refuses outright, e.g. with a NUL byte from a manifest cell
        return Decoded(source, error=f"cannot read file: {' '.join(str(exc).split())}")
    if sha256 in known:
        return Decoded(source, sha256, size)
    try:
        media = decode_with_config(source.path, config)
    except MediaError as exc:
        return Decoded(source, sha256, size, error=one_line(exc))
    except Exception as exc:  # a decoder bug must fail this item, not the batch
        return Decoded(source, sha256, size, error=f"decoder failed: {one_line(exc)}")
    return Decoded(source, sha256, size, media=media)


def embed_decoded(items: Sequence[Decoded], embedder: Embedder) -> list[ItemRecord]:
    """Embed every frame of every decoded item in shared batches; failures pass through as failed records."""
    frames = [frame for d in items if d.media for frame in d.media.frames]
    vectors = embedder.embed(frames, views=True) if frames else {}
    # Region views (embed/content_views.py) ride beside their space's vectors: stored per item, not per frame.
    views = {space: vectors.pop(views_key(space)) for space in VIEW_SPACES if views_key(space) in vectors}
    records, offset = [], 0
    for d in items:
        if d.media is None:
            records.append(
                ItemRecord(path=d.source.path, status="failed", sha256=d.sha256, size=d.size,
                           metadata=d.source.metadata, error=d.error)
            )  # fmt: skip
            continue
        n = len(d.media.frames)
        per_space = {}
        for space, matrix in vectors.items():
            frame_vecs = matrix[offset : offset + n]
            frame_views = views[space][offset : offset + n] if space in views else None
            if d.media.kind == "video":
                item_views = None if frame_views is None else aggregate_views(frame_views)
                per_space[space] = SpaceVectors(aggregate_frames(frame_vecs), frame_vecs, d.media.times, item_views)
            else:
                per_space[space] = SpaceVectors(frame_vecs[0], views=None if frame_views is None else frame_views[0])
        offset += n
        records.append(
            ItemRecord(
                path=d.source.path, status="ok", kind=d.media.kind, sha256=d.sha256, size=d.size,
                width=d.media.width, height=d.media.height, duration=d.media.duration,
                frames=n if d.media.kind == "video" else None, metadata=d.source.metadata, vectors=per_space,
            )
        )  # fmt: skip
    return records


# -- runner -------------------------------------------------------------------------------------------------
@dataclass
class AddSummary:
    added: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    seconds: float = 0.0
    frames: int = 0
    resumed: int = 0  # sources a distributed run found already embedded by an earlier, interrupted run

    def count(self, records: Sequence[ItemRecord], ids: Sequence[int]) -> None:
        """Count a committed batch: ``records`` as written and the item ids the catalog gave them."""
        for rec, item_id in zip(records, ids, strict=True):
            if rec.status == "ok":
                self.added.append(item_id)
                self.frames += rec.frames or 1
            else:
                self.failed.append((rec.path, rec.error or "unknown error"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "ids": self.added,
            "failures": [{"path": p, "error": e} for p, e in self.failed],
            "seconds": round(self.seconds, 3),
            "frames": self.frames,
            "resumed": self.resumed,
        }


def _chunks(items: Sequence[Source], size: int) -> Iterator[Sequence[Source]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add_sources(
    indexes: SpaceIndexes,
    sources: Sequence[Source],
    config: Config,
    embedder: Embedder,
    *,
    progress: bool = True,
    on_batch: Callable[[list[ItemRecord]], None] | None = None,
) -> AddSummary:
    """Ingest ``sources`` into ``indexes.catalog`` (which the caller holds for writing): skip known hashes, commit
    each batch atomically, keep ``indexes`` current (saved every ``config.catalog.index_save_seconds`` and when the
    caller leaves ``catalog.writing()``). Decoding of the next batch overlaps the embedding of this one."""
    catalog = indexes.catalog
    summary = AddSummary()
    started = time.perf_counter()
    fingerprints = embedder.fingerprints()
    # Opened before the first batch, so each commit patches them (see SpaceIndexes.follow) instead of the next
    # reader rebuilding them from the raw vectors.
    for spec in embedder.specs:
        indexes.index(spec, fingerprints[spec.name])
    known = frozenset(catalog.ok_hashes())
    seen: set[str] = set(known)
    last_save = time.monotonic()
    # closed on the way out, also by an error, so its last line (how far the add got) precedes the error's
    bar = progress_bar(total=len(sources), desc="styledex add", unit="item", enabled=progress)

    def decode_batch(batch: Sequence[Source]) -> list[Decoded]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda s: decode_source(s, config, known), batch))

    with bar, ThreadPoolExecutor(max_workers=1) as prefetch:
        batches = list(_chunks(sources, config.catalog.items_per_batch))
        pending = prefetch.submit(decode_batch, batches[0]) if batches else None
        for i in range(len(batches)):
            decoded = pending.result() if pending else []
            pending = prefetch.submit(decode_batch, batches[i + 1]) if i + 1 < len(batches) else None
            fresh = []
            for d in decoded:
                if d.sha256 is not None and d.sha256 in seen:
                    summary.skipped.append(d.source.path)
                    continue
                if d.sha256 is not None and d.error is None:
                    # Only content that decoded counts as seen: two copies of one broken file (two empty files,
                    # say) each get a failed record instead of the second being "skipped" as if it were added.
                    seen.add(d.sha256)
                fresh.append(d)
            records = embed_decoded(fresh, embedder)
            summary.count(records, catalog.write_batch(records) if records else [])
            if on_batch is not None:
                on_batch(records)
            bar.update(len(decoded))
            if time.monotonic() - last_save > config.catalog.index_save_seconds:
                indexes.save()
                last_save = time.monotonic()
    summary.seconds = time.perf_counter() - started
    return summary
