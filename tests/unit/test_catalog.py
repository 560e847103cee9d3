"""The catalog's rows and raw vectors (styledex.catalog.Catalog): what write_batch stores comes back bit for bit,
remove and missing_ids agree, every write moves the revision by one. Made-up spaces with small dims (the rows take
any space name): no model, no index; each test takes milliseconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog, ItemRecord, SpaceVectors

A_DIM, B_DIM = 8, 3  # two made-up spaces


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _image(path: str, rng: np.random.Generator, **fields) -> ItemRecord:
    vectors = {"a": SpaceVectors(_unit(rng, 1, A_DIM)[0]), "b": SpaceVectors(_unit(rng, 1, B_DIM)[0])}
    return ItemRecord(path=path, status="ok", kind="image", sha256=path.encode().hex(), vectors=vectors, **fields)


def _video(path: str, rng: np.random.Generator, frames: int = 4) -> ItemRecord:
    times = [0.25 * i for i in range(frames)]
    vectors = {}
    for space, dim in (("a", A_DIM), ("b", B_DIM)):
        rows = _unit(rng, frames, dim)
        vectors[space] = SpaceVectors(_unit(rng, 1, dim)[0], rows, times)
    return ItemRecord(
        path=path, status="ok", kind="video", sha256=path.encode().hex(), duration=1.0, frames=frames, vectors=vectors
    )


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog", create=True) as opened, opened.writing():
        yield opened


def test_write_batch_round_trips_rows_and_vectors_exactly(catalog: Catalog) -> None:
    rng = np.random.default_rng(0)
    records = [
        _image("/m/one.png", rng, size=10, width=64, height=48, metadata={"artist": "Émile", "year": 1889}),
        _video("/m/clip.mp4", rng),
        ItemRecord(path="/m/broken.jpg", status="failed", sha256="ff" * 32, error="truncated or corrupt JPEG data"),
        _image("/m/two.webp", rng, metadata={"tags": ["a", "b"], "nested": {"k": 1.5}}),
    ]
    before = catalog.revision
    ids = catalog.write_batch(records)
    assert ids == list(range(ids[0], ids[0] + 4))  # in order, consecutive
    assert catalog.revision == before + 1  # one transaction

    for item_id, record in zip(ids, records, strict=True):
        row = catalog.item(item_id)
        assert row is not None
        for key in ("path", "status", "kind", "sha256", "size", "width", "height", "duration", "frames", "error"):
            assert row[key] == getattr(record, key), key
        assert row["metadata"] == dict(record.metadata)
    ok = [(i, r) for i, r in zip(ids, records, strict=True) if r.status == "ok"]
    assert (catalog.count("ok"), catalog.count("failed"), catalog.count(None)) == (3, 1, 4)

    for space, dim in (("a", A_DIM), ("b", B_DIM)):
        want = {i: r.vectors[space].item for i, r in ok}
        assert catalog.vector_count(space) == 3
        order = np.array([ids[3], ids[0], ids[1], ids[0]], dtype=np.int64)  # any order, repeats kept
        got = catalog.vectors_by_id(space, order, dim)
        assert got.dtype == np.float32 and np.array_equal(got, np.stack([want[int(i)] for i in order]))
        loaded_ids, loaded = catalog.load_vectors(space, dim)  # ok items only, by id
        assert loaded_ids.tolist() == sorted(want) and np.array_equal(loaded, np.stack([want[i] for i in sorted(want)]))
        for item_id, vector in want.items():
            assert np.array_equal(catalog.item_vector(item_id, space), vector)
        assert catalog.item_vector(ids[2], space) is None  # the failed row has no vector
        with pytest.raises(KeyError):
            catalog.vectors_by_id(space, np.array([ids[0], ids[2]]), dim)

        times, frames = catalog.frame_vectors(ids[1], space)
        assert times == records[1].vectors[space].times and np.array_equal(frames, records[1].vectors[space].frames)
        times, frames = catalog.frame_vectors(ids[0], space)  # an image: its item vector only
        assert times == [] and frames.size == 0


def test_vectors_by_id_and_missing_ids_cross_the_parameter_chunks(catalog: Catalog) -> None:
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 1200, A_DIM)
    records = [
        ItemRecord(path=f"/m/{i}.png", status="ok", kind="image", sha256=f"{i:064x}", vectors={"a": SpaceVectors(v)})
        for i, v in enumerate(vectors)
    ]
    ids = np.array(catalog.write_batch(records), dtype=np.int64)
    order = rng.permutation(len(ids))  # 1200 ids: three chunks of SQLite parameters
    assert np.array_equal(catalog.vectors_by_id("a", ids[order], A_DIM), vectors[order])
    assert catalog.missing_ids(list(range(1, 1500))) == list(range(int(ids[-1]) + 1, 1500))


def test_a_failed_row_is_replaced_when_its_path_is_written_again(catalog: Catalog) -> None:
    rng = np.random.default_rng(2)
    (failed,) = catalog.write_batch([ItemRecord(path="/m/late.png", status="failed", error="cannot read file")])
    (added,) = catalog.write_batch([_image("/m/late.png", rng)])
    assert added != failed and catalog.item(failed) is None
    assert catalog.item(added)["status"] == "ok" and catalog.count("failed") == 0
    assert catalog.missing_ids([failed, added]) == [failed]


def test_remove_deletes_rows_and_vectors_and_names_what_was_there(catalog: Catalog) -> None:
    rng = np.random.default_rng(3)
    ids = catalog.write_batch([_image(f"/m/{i}.png", rng) for i in range(4)] + [_video("/m/v.mp4", rng)])
    failed = catalog.write_batch([ItemRecord(path="/m/bad.png", status="failed", error="empty file (0 bytes)")])
    kept = [ids[0], ids[2]]
    keep_vectors = catalog.vectors_by_id("a", np.array(kept), A_DIM)
    before = catalog.revision

    gone = [ids[1], ids[3], ids[4], failed[0]]
    # An id given twice is removed (and named) once; an id that was never there is not named.
    assert catalog.remove([ids[1], ids[4], ids[1], 999, ids[3], failed[0]]) == [ids[1], ids[4], ids[3], failed[0]]
    assert catalog.revision == before + 1
    assert all(catalog.item(i) is None for i in gone)
    assert catalog.missing_ids([*ids, failed[0], 999, ids[1]]) == sorted([*gone, 999])
    assert catalog.count(None) == 2 and catalog.vector_count("a") == 2
    assert catalog.frame_vectors(ids[4], "a")[0] == []  # the video's frames went with it
    for item_id in gone:
        with pytest.raises(KeyError):
            catalog.vectors_by_id("a", np.array([item_id]), A_DIM)
    assert np.array_equal(catalog.vectors_by_id("a", np.array(kept), A_DIM), keep_vectors)  # the rest untouched
    assert catalog.remove([999]) == []


def test_rows_written_by_one_connection_read_the_same_from_another(catalog: Catalog) -> None:
    rng = np.random.default_rng(4)
    records = [_image(f"/m/{i}.png", rng, metadata={"i": i}) for i in range(3)]
    ids = catalog.write_batch(records)
    with Catalog.open(catalog.directory) as reader:  # committed: another open sees it at once
        assert reader.revision == catalog.revision
        assert reader.items(status="ok") == catalog.items(status="ok")
        assert np.array_equal(
            reader.vectors_by_id("b", np.array(ids), B_DIM), np.stack([r.vectors["b"].item for r in records])
        )
        assert reader.ok_hashes() == {r.sha256 for r in records}
