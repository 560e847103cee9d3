"""Shards: the embedded items of one batch of a distributed `add`, written as one Parquet file, atomically.

A distributed run (:mod:`styledex.ray_engine`) writes each batch's records here before any reaches the catalog, so a
run killed at any moment keeps every finished batch: a rerun embeds only the sources no shard holds, then merges
the shards into the catalog. A shard is complete or absent: it is written to a ``.tmp`` sibling, fsynced and
renamed, then its folder is fsynced.

One row per source, in source order: the item's fields as ``ItemRecord`` holds them (``metadata`` as JSON text),
``status`` ok, failed or ``skipped`` (its content was already in the catalog when it was hashed: nothing embedded),
``source_index`` (its place in the run's source list) and per space ``vec:<space>`` (the item vector, float32
bytes), ``frames:<space>`` (a video's frame vectors [F, dim]), ``views:<space>`` (region views [V, dim], float16
bytes as the catalog stores them) and ``times`` (a video's frame times in seconds).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from styledex.catalog_records import ItemRecord, SpaceVectors

SHARD_SUFFIX = ".parquet"
SKIPPED = "skipped"  # a shard row's status when its content was already in the catalog
_FIELDS = ("path", "status", "kind", "sha256", "size", "width", "height", "duration", "frames", "error")


@dataclass
class ShardRow:
    """One source's outcome in a shard: its place in the run's source list and its record (status ok, failed or
    :data:`SKIPPED`)."""

    source_index: int
    record: ItemRecord


def write_shard(path: Path, rows: Sequence[ShardRow]) -> None:
    """Write ``rows`` to ``path`` (a ``.parquet`` file) atomically: a ``.tmp`` sibling, fsync, rename, fsync of the
    folder. OSError (a full disk) leaves no shard and no ``.tmp`` behind."""
    spaces = sorted({space for row in rows for space in row.record.vectors})
    columns: dict[str, list] = {name: [] for name in ("source_index", *_FIELDS, "metadata", "times")}
    for space in spaces:
        for prefix in ("vec", "frames", "views"):
            columns[f"{prefix}:{space}"] = []
    for row in rows:
        rec = row.record
        columns["source_index"].append(row.source_index)
        for name in _FIELDS:
            columns[name].append(getattr(rec, name))
        columns["metadata"].append(json.dumps(dict(rec.metadata), default=str))
        times = next((list(map(float, v.times)) for v in rec.vectors.values() if v.frames is not None), None)
        columns["times"].append(times)
        for space in spaces:
            vecs = rec.vectors.get(space)
            columns[f"vec:{space}"].append(None if vecs is None else _f32(vecs.item))
            columns[f"frames:{space}"].append(None if vecs is None or vecs.frames is None else _f32(vecs.frames))
            views = None if vecs is None or vecs.views is None else np.asarray(vecs.views, np.float16).tobytes()
            columns[f"views:{space}"].append(views)
    table = pa.table({name: pa.array(values, type=_type(name)) for name, values in columns.items()})
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(table, tmp)
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_shard(path: Path, dims: Mapping[str, int]) -> list[ShardRow]:
    """The rows of the shard at ``path``, in source order; ``dims``: each space's dimension (space → dim)."""
    table = pq.read_table(path).to_pylist()
    rows = []
    for cell in table:
        vectors = {}
        for space, dim in dims.items():
            item = cell.get(f"vec:{space}")
            if item is None:
                continue
            frames = cell.get(f"frames:{space}")
            views = cell.get(f"views:{space}")
            vectors[space] = SpaceVectors(
                np.frombuffer(item, np.float32).copy(),
                None if frames is None else np.frombuffer(frames, np.float32).reshape(-1, dim).copy(),
                cell["times"] or (),
                None if views is None else np.frombuffer(views, np.float16).astype(np.float32).reshape(-1, dim),
            )
        fields = {name: cell[name] for name in _FIELDS}
        record = ItemRecord(**fields, metadata=json.loads(cell["metadata"]), vectors=vectors)
        rows.append(ShardRow(int(cell["source_index"]), record))
    return sorted(rows, key=lambda row: row.source_index)


def shard_files(folder: Path) -> list[Path]:
    """The complete shards in ``folder`` (``.tmp`` files of a write cut short are not), by name."""
    return sorted(folder.glob(f"*{SHARD_SUFFIX}")) if folder.is_dir() else []


def shard_source_indexes(path: Path) -> list[int]:
    """The source indexes a shard holds (reads that column only)."""
    return [int(i) for i in pq.read_table(path, columns=["source_index"]).column("source_index").to_pylist()]


def _f32(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


def _type(name: str) -> pa.DataType:
    if name in ("source_index", "size", "frames", "width", "height"):
        return pa.int64()
    if name == "duration":
        return pa.float64()
    if name == "times":
        return pa.list_(pa.float64())
    if ":" in name:
        return pa.binary()
    return pa.string()
