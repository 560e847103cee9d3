"""Facts about styledex.space_indexes: the one owner of each space's open index, apart from the catalog's rows.

Small catalogs of random unit vectors in the real 100-d ``predictor`` space (no model runs): fast.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import styledex.catalog
import styledex.config
from styledex.catalog import Catalog, CatalogError, ItemRecord, SpaceVectors
from styledex.config import Config, IndexConfig, load_config
from styledex.embed.spaces import SPACES
from styledex.index import SpaceIndex
from styledex.operations import CatalogSession
from styledex.search import Searcher, remove_items
from styledex.space_indexes import SpaceIndexes

SPEC = SPACES["predictor"]
FINGERPRINT = "test-weights"


def _records(start: int, count: int) -> list[ItemRecord]:
    """``count`` ok items with seeded random unit vectors in the predictor space (item n gets seed n)."""
    records = []
    for n in range(start, start + count):
        vector = np.random.default_rng(n).standard_normal(SPEC.dim).astype(np.float32)
        vector /= np.linalg.norm(vector)
        records.append(
            ItemRecord(path=f"/made/{n}.png", status="ok", kind="image", sha256=f"{n:064x}",
                       vectors={SPEC.name: SpaceVectors(vector)})
        )  # fmt: skip
    return records


def _ok_ids(catalog: Catalog) -> list[int]:
    return [item["id"] for item in catalog.items(status="ok")]


def _saved(directory: Path) -> SpaceIndex:
    return SpaceIndex.open(directory / "index" / SPEC.name, expected_fingerprint=FINGERPRINT)


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    """A catalog of 20 items whose predictor index is saved on disk and current."""
    directory = tmp_path / "catalog"
    with Catalog.open(directory, create=True) as catalog, catalog.writing():
        catalog.set_meta("embed", {"spaces": {SPEC.name: FINGERPRINT}, "image_size": 64})
        SpaceIndexes(catalog, IndexConfig()).index(SPEC, FINGERPRINT)  # opened first: the write patches it
        catalog.write_batch(_records(1, 20))
    return directory


@pytest.fixture
def no_config_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reading a config file anywhere fails the test."""

    def refuse(*args: object, **kwargs: object) -> Config:
        raise AssertionError("load_config was called")

    monkeypatch.setattr(styledex.config, "load_config", refuse)
    yield


# -- crashes -------------------------------------------------------------------------------------------------
def test_an_index_rebuilt_after_a_crash_holds_exactly_the_committed_rows(catalog_dir: Path) -> None:
    # A write committed, then a "crash" before the index save: the catalog is closed without leaving writing().
    crashed = Catalog.open(catalog_dir)
    indexes = SpaceIndexes(crashed, IndexConfig())
    indexes.index(SPEC, FINGERPRINT)
    crashed.write_batch(_records(21, 5))
    with pytest.raises(CatalogError):  # and a batch that fails inside its transaction: nothing of it is kept
        crashed.write_batch([*_records(26, 2), ItemRecord("/made/bad.png", status="neither ok nor failed")])
    crashed.close()

    with Catalog.open(catalog_dir) as catalog:
        assert _saved(catalog_dir).revision < catalog.revision  # the file on disk lags the rows
        index = SpaceIndexes(catalog, IndexConfig()).index(SPEC, FINGERPRINT)
        assert index.ids().tolist() == _ok_ids(catalog) == list(range(1, 26))
        assert index.revision == catalog.revision


def test_a_damaged_or_missing_index_file_is_rebuilt_from_the_rows(catalog_dir: Path) -> None:
    (catalog_dir / "index" / SPEC.name / "manifest.json").write_text("{ not json")
    with Catalog.open(catalog_dir) as catalog:
        assert SpaceIndexes(catalog, IndexConfig()).index(SPEC, FINGERPRINT).ids().tolist() == list(range(1, 21))
    (catalog_dir / "index" / SPEC.name / "index.faiss").unlink()
    with Catalog.open(catalog_dir) as catalog:
        assert len(SpaceIndexes(catalog, IndexConfig()).index(SPEC, FINGERPRINT)) == 20


def test_a_write_patches_the_open_index_and_leaving_writing_saves_it(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as catalog:
        indexes = SpaceIndexes(catalog, IndexConfig())
        opened = indexes.index(SPEC, FINGERPRINT)
        assert _saved(catalog_dir).revision == catalog.revision  # loaded from disk, not rebuilt
        with catalog.writing():
            (new_id,) = catalog.write_batch(_records(21, 1))
            assert indexes.index(SPEC, FINGERPRINT) is opened and new_id in opened  # patched in place
            remove_items(indexes, [1])
            assert 1 not in opened and _saved(catalog_dir).revision < catalog.revision  # saved only on leaving
        saved = _saved(catalog_dir)
        assert saved.revision == catalog.revision and saved.ids().tolist() == _ok_ids(catalog)


# -- settings --------------------------------------------------------------------------------------------------
def test_the_settings_passed_in_choose_a_rebuild(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as catalog:
        assert catalog.stored_index_settings() is None
        assert SpaceIndexes(catalog, IndexConfig()).index(SPEC, FINGERPRINT).index_type == "flat"  # from disk
        forced = SpaceIndexes(catalog, IndexConfig(policy="hnsw"))
        assert forced.index(SPEC, FINGERPRINT).index_type == "flat"  # a current saved index is not rebuilt
        assert forced.build(SPEC, FINGERPRINT).index_type == "hnsw"
    (catalog_dir / "index" / SPEC.name / "index.faiss").unlink()
    with Catalog.open(catalog_dir) as catalog:
        rebuilt = SpaceIndexes(catalog, IndexConfig(policy="hnsw", hnsw={"m": 8})).index(SPEC, FINGERPRINT)
        assert rebuilt.index_type == "hnsw" and rebuilt.index_params["m"] == 8
        assert rebuilt.policy is not None and rebuilt.policy["chosen_by"] == "hnsw"


def test_the_settings_a_reindex_stored_win_over_those_passed_in(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as catalog, catalog.writing():
        indexes = SpaceIndexes(catalog, IndexConfig())
        indexes.replace(indexes.build(SPEC, FINGERPRINT, config=IndexConfig(policy="hnsw")))
        assert indexes.finish_reindex(IndexConfig(policy="hnsw")) == 1
    assert json.loads((catalog_dir / "index" / SPEC.name / "manifest.json").read_text())["index_type"] == "hnsw"
    (catalog_dir / "index" / SPEC.name / "index.faiss").unlink()  # lost: the next open rebuilds it
    with Catalog.open(catalog_dir) as catalog:
        assert catalog.stored_index_settings()["policy"] == "hnsw"
        indexes = SpaceIndexes(catalog, IndexConfig(policy="flat"))
        assert indexes.settings.policy == "hnsw"
        assert indexes.index(SPEC, FINGERPRINT).index_type == "hnsw"
        assert indexes.build(SPEC, FINGERPRINT, config=IndexConfig(policy="flat")).index_type == "flat"  # explicit


def test_a_session_builds_with_the_defaults_until_a_reindex_applies_its_config(catalog_dir: Path) -> None:
    """The config's ``index:`` section takes effect through ``reindex`` (configs/default.yaml), as before the
    catalog stopped reading the packaged defaults itself: a lost index is rebuilt with the defaults until then."""
    config = Config(index=IndexConfig(policy="hnsw"))
    index_file = catalog_dir / "index" / SPEC.name / "index.faiss"
    index_file.unlink()
    with CatalogSession(catalog_dir, config) as session, session.reading() as catalog:
        assert session.indexes(catalog).index(SPEC, FINGERPRINT).index_type == "flat"
        (row,) = session.reindex()  # no --index: the config's policy
        assert row["index"] == "hnsw"
    index_file.unlink()
    with CatalogSession(catalog_dir, Config()) as session, session.reading() as catalog:
        assert session.indexes(catalog).index(SPEC, FINGERPRINT).index_type == "hnsw"  # the stored settings


def test_the_packaged_defaults_are_the_default_settings() -> None:
    """Where no settings are given (a bare ``Searcher(catalog)``), ``IndexConfig()`` stands for the packaged
    ``configs/default.yaml``, which the catalog used to read itself: the two agree."""
    assert load_config().index == IndexConfig()


# -- two catalogs on one folder ------------------------------------------------------------------------------------
def _top(searcher: Searcher, vector: np.ndarray) -> int:
    return searcher.search({SPEC.name: vector}, {SPEC.name: 1.0}, 1)[0]["id"]


def test_a_write_through_one_catalog_reaches_the_next_search_of_another(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as reader, Catalog.open(catalog_dir) as writer:
        searcher = Searcher(reader)
        before = searcher.index(SPEC.name)
        (record,) = _records(21, 1)
        with writer.writing():
            (new_id,) = writer.write_batch([record])
        assert _top(searcher, record.vectors[SPEC.name].item) == new_id
        assert searcher.index(SPEC.name) is before  # caught up from the rows (the other wrote), not rebuilt
        with writer.writing():
            remove_items(SpaceIndexes.of(writer, IndexConfig()), [new_id])
        assert _top(searcher, record.vectors[SPEC.name].item) != new_id


@pytest.mark.parametrize("policy", ["flat", "hnsw"])
def test_an_index_open_while_another_catalog_writes_is_caught_up_to_exactly_the_rows(
    catalog_dir: Path, policy: str
) -> None:
    with Catalog.open(catalog_dir) as reader, Catalog.open(catalog_dir) as writer:
        indexes = SpaceIndexes(reader, IndexConfig(policy=policy))
        indexes.replace(indexes.build(SPEC, FINGERPRINT, config=IndexConfig(policy=policy)))
        open_index = indexes.index(SPEC, FINGERPRINT)
        assert open_index.index_type == policy
        with writer.writing():  # another process adds three items and removes an old one and a new one
            new_ids = writer.write_batch(_records(21, 3))
            remove_items(SpaceIndexes.of(writer, IndexConfig()), [2, new_ids[0]])
        caught = indexes.index(SPEC, FINGERPRINT)
        assert caught is open_index and caught.revision == reader.revision  # patched in place, current
        expected = [i for i in range(1, 24) if i not in (2, new_ids[0])]
        assert sorted(int(i) for i in range(1, 30) if i in caught) == _ok_ids(reader) == expected
        for record, item_id in zip(_records(22, 2), new_ids[1:], strict=True):  # the new rows answer as themselves
            query = record.vectors[SPEC.name].item[None]
            assert caught.search(query, 1)[0][0][0] == item_id
        with writer.writing():  # then it only adds: the new ids lie above the last one held, no others compared
            more = writer.write_batch(_records(30, 2))
        assert indexes.index(SPEC, FINGERPRINT) is open_index and open_index.revision == reader.revision
        assert open_index.ids().tolist() == _ok_ids(reader) == expected + list(more)


def test_an_index_opened_before_another_write_is_dropped_not_patched(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as first, Catalog.open(catalog_dir) as other:
        indexes = SpaceIndexes(first, IndexConfig())
        stale = indexes.index(SPEC, FINGERPRINT)
        (other_id,) = other.write_batch(_records(21, 1))  # another connection writes; its index is not saved
        with first.writing():
            (own_id,) = first.write_batch(_records(22, 1))
        assert own_id not in stale and other_id not in stale  # dropped at the commit, so not saved either
        assert _saved(catalog_dir).revision < first.revision
        assert indexes.index(SPEC, FINGERPRINT).ids().tolist() == _ok_ids(first) == list(range(1, 23))


def test_a_reindex_through_one_catalog_reaches_another(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as reader, Catalog.open(catalog_dir) as writer:
        searcher = Searcher(reader)
        assert searcher.index(SPEC.name).index_type == "flat"
        with writer.writing():
            indexes = SpaceIndexes(writer, IndexConfig())
            indexes.replace(indexes.build(SPEC, FINGERPRINT, config=IndexConfig(policy="hnsw")))
            indexes.finish_reindex(IndexConfig(policy="hnsw"))
        assert reader.revision == writer.revision  # no row changed: only the generation tells
        assert searcher.index(SPEC.name).index_type == "hnsw"


# -- who owns what ---------------------------------------------------------------------------------------------
def test_one_set_of_indexes_per_catalog_and_settings(catalog_dir: Path) -> None:
    with Catalog.open(catalog_dir) as catalog:
        shared = SpaceIndexes.of(catalog, IndexConfig())
        assert Searcher(catalog).indexes is shared and SpaceIndexes.of(catalog, IndexConfig()) is shared
        other = SpaceIndexes.of(catalog, IndexConfig(policy="hnsw"))
        assert other is not shared and set(catalog.followers) == {shared, other}
        other.close()
        assert catalog.followers == (shared,)
        with Catalog.open(catalog_dir) as elsewhere, pytest.raises(ValueError, match="follow its catalog"):
            Searcher(elsewhere, indexes=shared)
    assert catalog.followers == ()  # closing the catalog lets go of them


def test_nothing_reads_a_config_file(catalog_dir: Path, no_config_files: None) -> None:
    (catalog_dir / "index" / SPEC.name / "index.faiss").unlink()
    with Catalog.open(catalog_dir) as catalog:
        searcher = Searcher(catalog)  # open, rebuild (the file is gone), search
        (record,) = _records(3, 1)
        assert _top(searcher, record.vectors[SPEC.name].item) == 3
    with CatalogSession(catalog_dir, Config()) as session:  # the session's own settings, given
        (row,) = session.reindex(index="hnsw")
        assert row["index"] == "hnsw" and row["count"] == 20
        assert session.remove([1]) == [1]
        with session.reading() as catalog:  # (session.searcher() would build the embedder: not these weights)
            assert len(session.indexes(catalog).index(SPEC, FINGERPRINT)) == 19


def test_the_catalog_knows_no_index_config_or_space_registry() -> None:
    """The catalog imports only the standard library, numpy and its records: no FAISS, no settings, no spaces."""
    tree = ast.parse(Path(styledex.catalog.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in imported if name and name.startswith("styledex")} == {"styledex.catalog_records"}
