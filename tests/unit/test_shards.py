"""Shards of a distributed add (styledex.shards) and their merge (styledex.ray_engine._merge), without Ray: a shard
gives back every record it was given (vectors, a video's frames and times, views as float16, failures, skips,
metadata) in source order; a write that fails leaves nothing; merging the same shards twice (a crash between the
commit and the cleanup) adds nothing twice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import styledex.shards as shards
from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import IndexConfig
from styledex.embed.spaces import SPACES
from styledex.ray_engine import _merge
from styledex.shards import SKIPPED, ShardRow, read_shard, shard_files, shard_source_indexes, write_shard
from styledex.space_indexes import SpaceIndexes

from helpers.fake_embedder import FakeEmbedder

DIMS = {"content": 2048, "predictor": 100}


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    rows = rng.standard_normal(shape).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _rows(seed: int = 0) -> list[ShardRow]:
    rng = np.random.default_rng(seed)
    image = ItemRecord(
        path=f"/m/{seed}/a.png", status="ok", kind="image", sha256=f"{seed:02d}a" * 8, size=10, width=4, height=3,
        metadata={"artist": "X", "year": 1889},
        vectors={"content": SpaceVectors(_unit(rng, 2048), views=_unit(rng, 5, 2048)),
                 "predictor": SpaceVectors(_unit(rng, 100))},
    )  # fmt: skip
    frames = {space: _unit(rng, 3, dim) for space, dim in DIMS.items()}
    video = ItemRecord(
        path=f"/m/{seed}/b.mp4", status="ok", kind="video", sha256=f"{seed:02d}b" * 8, size=20, width=8, height=6,
        duration=1.5, frames=3,
        vectors={space: SpaceVectors(f.mean(axis=0) / np.linalg.norm(f.mean(axis=0)), f, [0.0, 0.5, 1.0])
                 for space, f in frames.items()},
    )  # fmt: skip
    failed = ItemRecord(path=f"/m/{seed}/c.png", status="failed", sha256=f"{seed:02d}c" * 8, error="not an image")
    skipped = ItemRecord(path=f"/m/{seed}/d.png", status=SKIPPED, sha256=f"{seed:02d}a" * 8, size=10)
    return [ShardRow(7, video), ShardRow(5, image), ShardRow(8, failed), ShardRow(9, skipped)]


def test_a_shard_gives_back_its_records_in_source_order(tmp_path: Path) -> None:
    rows = _rows()
    path = tmp_path / "shard-1.parquet"
    write_shard(path, rows)
    assert shard_files(tmp_path) == [path] and not list(tmp_path.glob("*.tmp"))
    assert sorted(shard_source_indexes(path)) == [5, 7, 8, 9]
    back = read_shard(path, DIMS)
    assert [row.source_index for row in back] == [5, 7, 8, 9]
    for got in back:
        want = next(row.record for row in rows if row.source_index == got.source_index).__dict__
        rec = got.record.__dict__
        assert {k: v for k, v in rec.items() if k != "vectors"} == {k: v for k, v in want.items() if k != "vectors"}
        assert set(rec["vectors"]) == set(want["vectors"])
        for space, vecs in want["vectors"].items():
            assert np.array_equal(rec["vectors"][space].item, vecs.item)
            assert (vecs.frames is None) == (rec["vectors"][space].frames is None)
            if vecs.frames is not None:
                assert np.array_equal(rec["vectors"][space].frames, vecs.frames)
                assert list(rec["vectors"][space].times) == list(vecs.times)
            if vecs.views is not None:
                assert np.allclose(rec["vectors"][space].views, vecs.views, atol=1e-3)  # float16


def test_a_failed_shard_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(table, where) -> None:  # noqa: ANN001 - pyarrow's signature
        Path(where).write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(shards.pq, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_shard(tmp_path / "shard-1.parquet", _rows())
    assert list(tmp_path.iterdir()) == []


def test_merging_the_same_shards_twice_adds_each_item_once(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    write_shard(folder / "shard-0.parquet", _rows(0))
    write_shard(folder / "shard-1.parquet", _rows(1))
    with Catalog.open(tmp_path / "catalog", create=True) as catalog, catalog.writing():
        catalog.set_meta("embed", {"spaces": FakeEmbedder(list(DIMS)).fingerprints(), "image_size": 32})
        indexes = SpaceIndexes.of(catalog, IndexConfig())
        fingerprints = catalog.get_meta("embed")["spaces"]
        content = indexes.index(SPACES["content"], fingerprints["content"])
        first = _merge(indexes, folder, DIMS)
        assert (len(first.added), len(first.skipped), len(first.failed), first.frames) == (4, 2, 2, 8)
        before = {item["path"]: item["status"] for item in catalog.items(status=None)}
        second = _merge(indexes, folder, DIMS)  # a crash after the commits, before the run folder was removed
        assert (len(second.added), len(second.skipped), len(second.failed)) == (0, 6, 2)
        after = [item["path"] for item in catalog.items(status=None)]
        assert sorted(after) == sorted(before) and len(after) == len(set(after)) == 6  # a failed row replaced
        assert len(indexes.index(SPACES["content"], fingerprints["content"])) == len(content) == 4
