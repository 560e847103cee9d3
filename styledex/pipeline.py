"""Batch ingestion as separate stages: reader (paths → sources) → mapper (decode + embed) → writer (catalog).

Each stage is a plain callable over plain data, so a distributed engine can drive the same stages later. The
runner here overlaps decoding (a thread pool: Pillow and PyAV release the GIL) with the VGG forward.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import Config
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Media, MediaError, decode

MANIFEST_SUFFIXES = (".csv", ".parquet")


class InputError(Exception):
    """A path argument or manifest that cannot be used at all (exit code 2); str() is one line."""


@dataclass(frozen=True)
class Source:
    """One file to ingest, with metadata from a manifest row (empty for plain files)."""

    path: str
    metadata: dict[str, Any] = field(default_factory=dict)


# -- reader -------------------------------------------------------------------------------------------------
def read_sources(paths: Sequence[str | os.PathLike[str]]) -> list[Source]:
    """Expand files, folders (recursive, media extensions only, symlinked folders not followed) and manifests."""
    sources: list[Source] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_symlink():
            raise InputError(f"no such file or folder: {raw}")
        if path.is_dir():
            sources += _walk_folder(path)
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            sources += read_manifest(path)
        else:
            sources.append(Source(str(path.absolute())))
    return sources


def _walk_folder(folder: Path) -> list[Source]:
    media = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
    found = []
    # followlinks=False: a symlink loop cannot make the walk endless.
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        found += [Path(root, f) for f in sorted(files) if Path(f).suffix.lower() in media]
    return [Source(str(p.absolute())) for p in found]


def read_manifest(path: Path) -> list[Source]:
    """A .csv/.parquet with a ``path`` column (relative paths are relative to the manifest); other columns →
    metadata (missing values dropped)."""
    try:
        table = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # pandas raises many types for unreadable files; all mean the same to the user
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read manifest {path}: {reason}") from None
    if "path" not in table.columns:
        raise InputError(f"manifest {path} has no 'path' column; columns are: {', '.join(map(str, table.columns))}")
    sources = []
    for row in table.to_dict(orient="records"):
        value = row.pop("path")
        if not isinstance(value, str) or not value.strip():
            continue  # a blank row: nothing to ingest
        file = Path(value)
        if not file.is_absolute():
            file = path.parent / file
        meta = {str(k): _plain(v) for k, v in row.items() if not _missing(v)}
        sources.append(Source(str(file.absolute()), meta))
    return sources


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


def file_sha256(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
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
    try:
        sha256, size = file_sha256(source.path)
    except OSError as exc:
        return Decoded(source, error=f"cannot read file: {exc.strerror or one_line(exc)}")
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
    vectors = embedder.embed(frames) if frames else {}
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
            if d.media.kind == "video":
                per_space[space] = SpaceVectors(aggregate_frames(frame_vecs), frame_vecs, d.media.times)
            else:
                per_space[space] = SpaceVectors(frame_vecs[0])
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "ids": self.added,
            "failures": [{"path": p, "error": e} for p, e in self.failed],
            "seconds": round(self.seconds, 3),
            "frames": self.frames,
        }


def _chunks(items: Sequence[Source], size: int) -> Iterator[Sequence[Source]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add_sources(
    catalog: Catalog,
    sources: Sequence[Source],
    config: Config,
    embedder: Embedder,
    *,
    progress: bool = True,
    on_batch: Callable[[list[ItemRecord]], None] | None = None,
) -> AddSummary:
    """Ingest ``sources`` into ``catalog`` (which the caller holds for writing): skip known hashes, commit each
    batch atomically, keep indexes current. Decoding of the next batch overlaps the embedding of this one."""
    summary = AddSummary()
    started = time.perf_counter()
    fingerprints = embedder.fingerprints()
    for spec in embedder.specs:
        catalog.index(spec.name, dim=spec.dim, fingerprint=fingerprints[spec.name], metric=spec.metric)
    known = frozenset(catalog.ok_hashes())
    seen: set[str] = set(known)
    last_save = time.monotonic()
    bar = tqdm(total=len(sources), unit="item", disable=not progress, dynamic_ncols=True, file=sys.stderr)

    def decode_batch(batch: Sequence[Source]) -> list[Decoded]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return list(pool.map(lambda s: decode_source(s, config, known), batch))

    with ThreadPoolExecutor(max_workers=1) as prefetch:
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
                if d.sha256 is not None:
                    seen.add(d.sha256)
                fresh.append(d)
            records = embed_decoded(fresh, embedder)
            ids = catalog.write_batch(records) if records else []
            for rec, item_id in zip(records, ids, strict=True):
                if rec.status == "ok":
                    summary.added.append(item_id)
                    summary.frames += rec.frames or 1
                else:
                    summary.failed.append((rec.path, rec.error or "unknown error"))
            if on_batch is not None:
                on_batch(records)
            bar.update(len(decoded))
            if time.monotonic() - last_save > config.catalog.index_save_seconds:
                catalog.save_indexes()
                last_save = time.monotonic()
    bar.close()
    summary.seconds = time.perf_counter() - started
    return summary
