"""The Milvus index back end (index/milvus_collection.py) on Milvus Lite: `reindex --backend milvus` moves a
catalog's indexes into one collection with a vector field per space, and every search answers as on FAISS's exact
index (the same ids and scores, one space, a mix asked as one multi-vector search, a filter, a query with the
content views), removals and additions follow, another process reopens it, and a collection that disagrees with the
rows after a crash is rebuilt from them. Random vectors, no model; ~20 s."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import Config
from styledex.index.milvus_client import close_milvus_clients, filter_expression, milvus_client
from styledex.index.milvus_collection import MANIFEST, MilvusCollection
from styledex.operations import CatalogSession
from styledex.search import ItemFilter, Searcher

from helpers.cli import run_subprocess
from helpers.fake_embedder import FakeEmbedder

pytest.importorskip("pymilvus", reason="the scale extra (pip install -e '.[scale]') is not installed")
pytest.importorskip("milvus_lite", reason="the scale extra (pip install -e '.[scale]') is not installed")

SPACES = {"content": 2048, "predictor": 100}
N = 60


def _unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _records(rng: np.random.Generator, n: int, start: int = 0) -> list[ItemRecord]:
    vectors = {space: _unit(rng, n, dim) for space, dim in SPACES.items()}
    regions = _unit(rng, n * 5, 2048).reshape(n, 5, 2048)
    return [
        ItemRecord(path=f"/m/{start + i}", status="ok", kind="video" if i % 4 == 0 else "image",
                   sha256=f"{start + i:064x}",
                   metadata={"group": "odd" if i % 2 else "even"} | ({"year": 1889.0} if i % 5 == 0 else {}),
                   vectors={"content": SpaceVectors(vectors["content"][i], views=regions[i]),
                            "predictor": SpaceVectors(vectors["predictor"][i])})
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture
def catalogs(tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of one catalog of N random items: FAISS (flat: exact) and Milvus (after `reindex`)."""
    faiss_dir, milvus_dir = tmp_path / "faiss", tmp_path / "milvus"
    with Catalog.open(faiss_dir, create=True) as catalog, catalog.writing():
        catalog.set_meta("embed", {"spaces": FakeEmbedder(list(SPACES)).fingerprints(), "image_size": 32})
        catalog.write_batch(_records(np.random.default_rng(1), N))
    shutil.copytree(faiss_dir, milvus_dir)
    with CatalogSession(milvus_dir, Config()) as session:
        rows = session.reindex(backend="milvus")
    assert [(r["space"], r["index"], r["count"]) for r in rows] == [(s, "milvus", N) for s in ("content", "predictor")]
    yield faiss_dir, milvus_dir
    close_milvus_clients()


def _same(got: list, expected: list) -> None:
    """The same ids in the same order, scores equal to float rounding (Milvus sums the products in its own order)."""
    assert [i for i, _ in got] == [i for i, _ in expected]
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)


def _answers(directory: Path, queries: list[tuple[int, dict[str, float], ItemFilter | None]]) -> list[list]:
    with Catalog.open(directory) as catalog:
        searcher = Searcher(catalog, embedder=FakeEmbedder(list(SPACES)))
        out = []
        for item_id, weights, where in queries:
            vectors = searcher.query_vectors_for_item(item_id, list(weights))
            hits = searcher.search(vectors, weights, 8, exclude=[item_id], where=where)
            out.append([(hit["id"], hit["score"]) for hit in hits])
        return out


QUERIES = [
    (3, {"content": 1.0}, None),  # asks with 12 views (stored regions)
    (4, {"predictor": 1.0}, None),
    (5, {"content": 1.0, "predictor": 2.0}, None),
    (6, {"predictor": 1.0}, ItemFilter.parse("video", ["group:even"])),
    (11, {"content": 1.0, "predictor": 1.0}, ItemFilter.parse(None, ["year:1889"])),  # 1889.0 read as "1889"
]


def _manifest(catalog_dir: Path) -> dict:
    return json.loads((catalog_dir / "index" / MANIFEST).read_text())


def test_milvus_answers_as_faiss_exact_search(catalogs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    faiss_dir, milvus_dir = catalogs
    asked = []
    for method in ("search", "candidates"):
        original = getattr(MilvusCollection, method)
        monkeypatch.setattr(MilvusCollection, method, lambda self, *a, _m=method, _f=original, **kw:
                            asked.append((_m, kw.get("where"))) or _f(self, *a, **kw))  # fmt: skip
    for got, expected in zip(_answers(milvus_dir, QUERIES), _answers(faiss_dir, QUERIES), strict=True):
        _same(got, expected)
    # One space: one search (a content query's 12 views in it); a mix: one multi-vector search over both fields.
    # The filters ran in Milvus, each asked once (no fetching deeper for items a filter drops).
    assert asked == [("search", None), ("search", None), ("candidates", None),
                     ("search", ("video", (("group", "even"),))), ("candidates", (None, (("year", "1889"),)))]
    # One collection for the catalog: a vector field per space and the scalar fields filters run on.
    manifest = _manifest(milvus_dir)
    assert manifest["count"] == N and sorted(manifest["spaces"]) == sorted(SPACES)
    client = milvus_client(manifest["uri"])
    assert client.list_collections() == [manifest["collection"]]
    described = client.describe_collection(manifest["collection"])["fields"]
    fields = {field["name"]: field.get("params", {}).get("dim") for field in described}
    assert fields == {"id": None, "v_content": 2048, "v_predictor": 100, "kind": None, "metadata": None}


def test_filter_expressions_quote_keys_and_values() -> None:
    where = ("video", (('say "hi"', "a\\b"), ("year", "1889")))
    expected = 'kind == "video" and metadata["say \\"hi\\""] == "a\\\\b" and metadata["year"] == "1889"'
    assert filter_expression(where) == expected


def test_removals_and_additions_follow_and_another_process_reopens_them(catalogs: tuple[Path, Path]) -> None:
    faiss_dir, milvus_dir = catalogs
    extra = _records(np.random.default_rng(2), 5, start=N)
    for directory in (faiss_dir, milvus_dir):
        with CatalogSession(directory, Config()) as session:
            session.remove([7, 8, 9])
            with session.writing() as catalog:
                # opened before the write: it follows the commit and is saved when the writer leaves
                searcher = Searcher(catalog, embedder=FakeEmbedder(list(SPACES)), indexes=session.indexes(catalog))
                searcher.index("content")
                ids = catalog.write_batch(extra)
        assert ids == list(range(N + 1, N + 6))
    for got, expected in zip(_answers(milvus_dir, QUERIES), _answers(faiss_dir, QUERIES), strict=True):
        _same(got, expected)
    with Catalog.open(milvus_dir) as catalog:
        client = milvus_client(str((milvus_dir / "milvus.db").resolve()))
        manifest = _manifest(catalog.directory)
        assert client.get(manifest["collection"], ids=[7, 8, 9]) == []
        assert manifest["count"] == N + 2 and manifest["revision"] == catalog.state().revision  # followed, saved
        assert len(client.get(manifest["collection"], ids=list(ids), output_fields=["v_content", "v_predictor"])) == 5
    close_milvus_clients()  # Milvus Lite: one process holds the file at a time
    # Another process opens the catalog and its collections from their manifests (no rebuild) and answers alike.
    code = (f"import json, sys; sys.path[:0] = {[str(Path(__file__).parent), str(Path(__file__).parents[1])]}; "
            f"from test_milvus_backend import _answers, QUERIES; from pathlib import Path; "
            f"print(json.dumps(_answers(Path({str(milvus_dir)!r}), QUERIES)))")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    for got, expected in zip(json.loads(run.stdout.splitlines()[-1]), _answers(faiss_dir, QUERIES), strict=True):
        _same([tuple(hit) for hit in got], expected)


def test_a_collection_that_disagrees_with_the_rows_is_rebuilt_from_them(catalogs: tuple[Path, Path]) -> None:
    faiss_dir, milvus_dir = catalogs
    # A crash after a commit, before the index followed: the rows hold an item Milvus never got.
    for directory in (faiss_dir, milvus_dir):
        with Catalog.open(directory) as catalog, catalog.writing():
            catalog.write_batch(_records(np.random.default_rng(3), 1, start=N))
    # And one that deleted from Milvus but never reached SQLite's commit: the collection lost an item the rows keep.
    manifest = _manifest(milvus_dir)
    milvus_client(manifest["uri"]).delete(manifest["collection"], ids=[10])
    for got, expected in zip(_answers(milvus_dir, QUERIES), _answers(faiss_dir, QUERIES), strict=True):
        _same(got, expected)
    with Catalog.open(milvus_dir) as catalog:
        searcher = Searcher(catalog, embedder=FakeEmbedder(list(SPACES)))
        assert len(searcher.index("content")) == N + 1 and 10 in searcher.index("content")


def test_an_unreachable_milvus_is_one_line(tmp_path: Path, catalogs: tuple[Path, Path]) -> None:
    _, milvus_dir = catalogs
    config = tmp_path / "config.yaml"
    config.write_text("index: {backend: milvus, milvus_uri: 'http://127.0.0.1:9'}\n")
    run = run_subprocess("--config", config, "reindex", "--catalog", milvus_dir, "--space", "predictor")
    assert run.rc == 2 and len(run.error_lines) == 1 and "Traceback" not in run.err, run.err
    assert run.error_lines[0].startswith("styledex: error: ") and "127.0.0.1:9" in run.error_lines[0]


def test_the_service_answers_from_milvus_as_from_faiss(tiny_catalog, tmp_path: Path) -> None:
    """The HTTP contract on a real catalog moved to Milvus: by id, a mix, a filter, an upload and a removal answer
    as on the FAISS copy of the same catalog."""
    from fastapi.testclient import TestClient

    from styledex.config import load_config
    from styledex.serve.app import create_app

    config = load_config(tiny_catalog.config)
    copies = {name: tmp_path / name for name in ("faiss", "milvus")}
    for directory in copies.values():
        shutil.copytree(tiny_catalog.directory, directory)
    with CatalogSession(copies["milvus"], config) as session:
        session.reindex(backend="milvus")
    image = next(path for path in tiny_catalog.paths.values() if path.suffix == ".png")
    first = tiny_catalog.items[0]["id"]
    answers = {}
    for name, directory in copies.items():
        with TestClient(create_app(directory, config=config, token="t")) as client:
            asks = ({"space": "content"}, {"space": "style:0.7,content:0.3"}, {"space": "adain", "kind": "video"})
            got = [client.get(f"/items/{first}/similar", params=params).json() for params in asks]
            with image.open("rb") as f:
                got.append(client.post("/search", params={"space": "gram"}, files={"file": ("q.png", f)}).json())
            removed = client.delete(f"/items/{first + 1}", headers={"Authorization": "Bearer t"})
            got.append(removed.status_code)
            got.append(client.get(f"/items/{first}/similar", params={"space": "content", "k": 50}).json())
        answers[name] = json.loads(json.dumps(got).replace(str(directory), "CATALOG"))
        close_milvus_clients()
    for got, expected in zip(answers["milvus"], answers["faiss"], strict=True):
        if isinstance(expected, dict):
            _same([(h["id"], h["score"]) for h in got["results"]], [(h["id"], h["score"]) for h in expected["results"]])
            assert [h["path"] for h in got["results"]] == [h["path"] for h in expected["results"]]
        else:
            assert got == expected
    assert answers["faiss"][4] == 204 and all(len(a["results"]) for a in answers["faiss"][:4] if isinstance(a, dict))
