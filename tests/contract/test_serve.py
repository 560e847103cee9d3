"""The HTTP API (issue 3's contract): every route with its status codes, auth and limits, against the CLI.

Two apps over the session's tiny catalog (conftest: 8 images + 1 video, built once with the CLI): ``reader``
over the session catalog itself, with no token (writes refused, 403), and ``writer`` over a private copy with a
token, for the tests that add and delete. Results are compared with ``styledex search --json`` on the same
catalog: the API must neither invent nor drop results.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from styledex.catalog import Catalog
from styledex.config import Config, load_config
from styledex.media import decode
from styledex.serve.app import create_app

from helpers.catalogs import TinyCatalog
from helpers.cli import cli_command
from helpers.http import error_detail, ok_json
from helpers.media import make_image, make_shapes, read_frame_index, restyle

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NINE = 9  # items in the session catalog


@dataclass
class Served:
    client: TestClient
    directory: Path
    config: Config


@pytest.fixture(scope="module")
def config(tiny_catalog: TinyCatalog) -> Config:
    return load_config(tiny_catalog.config)


@pytest.fixture(scope="module")
def reader(tiny_catalog: TinyCatalog, config: Config) -> Iterator[Served]:
    app = create_app(tiny_catalog.directory, config=config, token=None)
    with TestClient(app) as client:
        yield Served(client, tiny_catalog.directory, config)


@pytest.fixture(scope="module")
def writer(tiny_catalog: TinyCatalog, config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("serve") / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)
    app = create_app(directory, config=config, token=TOKEN)
    with TestClient(app) as client:
        yield Served(client, directory, config)


def _similar(client: TestClient, item_id: int, **params: Any) -> list[dict[str, Any]]:
    return ok_json(client.get(f"/items/{item_id}/similar", params=params))["results"]


def _cli_search(cli, directory: Path, *args: Any) -> Any:
    run = cli("search", "--catalog", directory, *map(str, args), "--json")
    assert run.rc == 0, run.err
    return run.json()


def _upload(path: Path, name: str | None = None) -> dict[str, Any]:
    return {"file": (name or path.name, path.read_bytes(), "application/octet-stream")}


# -- catalog routes -----------------------------------------------------------------------------------------
def test_health_spaces_and_docs(reader: Served, cli) -> None:
    assert ok_json(reader.client.get("/health")) == {"status": "ok", "items": NINE}
    spaces = ok_json(reader.client.get("/spaces"))
    assert spaces == cli("spaces", "--catalog", reader.directory, "--json").json()
    assert {row["name"] for row in spaces if row["in_catalog"]} == {"content", "adain", "gram"}
    paths = ok_json(reader.client.get("/openapi.json"))["paths"]
    assert {"/items/{item_id}/similar", "/search", "/explain", "/items", "/spaces", "/health"} <= set(paths)
    assert reader.client.get("/docs").status_code == 200
    assert reader.client.get("/").headers["content-type"].startswith("text/html")
    error_detail(reader.client.get("/no/such/route"), 404)


def test_items_paging_kind_and_one_item(reader: Served, tiny_catalog: TinyCatalog) -> None:
    client = reader.client
    pages = [ok_json(client.get("/items", params={"offset": offset, "limit": 4})) for offset in (0, 4, 8)]
    assert [len(page["items"]) for page in pages] == [4, 4, 1]
    assert all(page["total"] == NINE for page in pages)
    listed = [item for page in pages for item in page["items"]]
    assert listed == tiny_catalog.items  # the same rows, in id order, as `styledex list --json`
    assert ok_json(client.get("/items", params={"offset": 20}))["items"] == []

    videos = ok_json(client.get("/items", params={"kind": "video"}))
    assert videos["total"] == 1 and [v["id"] for v in videos["items"]] == [tiny_catalog.ids["video"]]
    assert ok_json(client.get("/items", params={"kind": "image"}))["total"] == 8
    assert ok_json(client.get("/items", params={"status": "failed"})) == {"items": [], "total": 0}

    one = tiny_catalog.items[3]
    assert ok_json(client.get(f"/items/{one['id']}")) == one
    error_detail(client.get("/items/999999"), 404)
    error_detail(client.get("/items/abc"), 422)
    error_detail(client.get("/items", params={"limit": 0}), 422)
    error_detail(client.get("/items", params={"limit": 1001}), 422)
    error_detail(client.get("/items", params={"kind": "audio"}), 422)


def test_thumbnails_are_jpegs_and_a_video_shows_its_middle_sampled_frame(
    reader: Served, tiny_catalog: TinyCatalog
) -> None:
    for name in ("A", "gif", "video"):
        response = reader.client.get(f"/items/{tiny_catalog.ids[name]}/thumbnail")
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(response.content))
        assert image.format == "JPEG" and max(image.size) <= 256
    small = reader.client.get(f"/items/{tiny_catalog.ids['A']}/thumbnail", params={"size": 32})
    assert max(Image.open(io.BytesIO(small.content)).size) == 32

    # The session video was added with 4 frames: its thumbnail is the 3rd (index 4 // 2) of those 4 samples.
    video = tiny_catalog.ids["video"]
    samples = decode(tiny_catalog.paths["video"], frames=4).frames
    thumb = Image.open(io.BytesIO(reader.client.get(f"/items/{video}/thumbnail").content))
    assert read_frame_index(thumb) == read_frame_index(samples[2])
    assert read_frame_index(samples[1]) != read_frame_index(samples[2])  # the check can tell frames apart

    error_detail(reader.client.get("/items/999999/thumbnail"), 404)
    error_detail(reader.client.get(f"/items/{video}/thumbnail", params={"size": 4}), 422)


# -- search -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "space", "k"),
    [
        ("gradient", "style", 5),
        ("A_restyled", "content", 8),
        ("checker", "gram", 3),
        ("video", "style:0.7,content:0.3", 6),
    ],
)
def test_similar_agrees_with_the_cli(reader: Served, tiny_catalog: TinyCatalog, cli, name, space, k) -> None:
    query = tiny_catalog.ids[name]
    results = _similar(reader.client, query, space=space, k=k)
    assert results == _cli_search(cli, reader.directory, "--id", query, "--space", space, "-k", k)[str(query)]
    assert len(results) == k and query not in {hit["id"] for hit in results}
    scores = [hit["score"] for hit in results]
    assert scores == sorted(scores, reverse=True)
    for hit in results:
        assert {"id", "path", "kind", "score"} <= set(hit)
        assert ("frame" in hit) == (hit["kind"] == "video")


def test_mix_scores_are_the_weighted_mean_of_per_space_cosines(reader: Served, tiny_catalog: TinyCatalog) -> None:
    query = tiny_catalog.ids["A"]
    results = _similar(reader.client, query, space="style:0.7,content:0.3", k=8)
    # The style search's own cosine (its score may be lowered for the query's subject: styledex.lowering).
    style = {hit["id"]: hit["scores"]["adain"] for hit in _similar(reader.client, query, space="style", k=8)}
    content = {hit["id"]: hit["score"] for hit in _similar(reader.client, query, space="content", k=8)}
    for hit in results:
        assert set(hit["scores"]) == {"adain", "content"}  # `style` is adain in this catalog
        assert hit["scores"]["adain"] == pytest.approx(style[hit["id"]], abs=1e-5)
        assert hit["scores"]["content"] == pytest.approx(content[hit["id"]], abs=1e-5)
        assert hit["score"] == pytest.approx(0.7 * style[hit["id"]] + 0.3 * content[hit["id"]], abs=1e-5)


def test_similar_filters_by_kind(reader: Served, tiny_catalog: TinyCatalog) -> None:
    query = tiny_catalog.ids["noise"]
    everything = _similar(reader.client, query, space="gram", k=20)
    assert len(everything) == NINE - 1
    videos = _similar(reader.client, query, space="gram", k=3, kind="video")
    assert [hit["id"] for hit in videos] == [tiny_catalog.ids["video"]]
    images = _similar(reader.client, query, space="gram", k=20, kind="image")
    # Filtering keeps the ranking: the images in the same order and with the same scores as unfiltered.
    assert images == [hit for hit in everything if hit["kind"] == "image"]
    assert _similar(reader.client, query, space="gram", k=3, where="nothing:here") == []


def test_search_bad_input_is_a_4xx(reader: Served, tiny_catalog: TinyCatalog) -> None:
    client, query = reader.client, tiny_catalog.ids["A"]
    for k in (0, 1001, "many"):
        assert "k" in error_detail(client.get(f"/items/{query}/similar", params={"k": k}), 422)
    assert "unknown space" in error_detail(client.get(f"/items/{query}/similar", params={"space": "nope"}), 422)
    other_space = client.get(f"/items/{query}/similar", params={"space": "predictor"})
    assert "not in this catalog" in error_detail(other_space, 422)
    error_detail(client.get(f"/items/{query}/similar", params={"space": "style:lots"}), 422)
    error_detail(client.get(f"/items/{query}/similar", params={"where": "no-colon"}), 422)
    error_detail(client.get(f"/items/{query}/similar", params={"kind": "audio"}), 422)
    error_detail(client.get("/items/999999/similar"), 404)


def test_search_by_upload_image_and_video(reader: Served, tiny_catalog: TinyCatalog, cli, tmp_path: Path) -> None:
    client = reader.client
    # An image not in the catalog, as `styledex search --file` answers it.
    query = restyle(make_shapes(tmp_path / "C.png", seed=11), tmp_path / "C_restyled.png")
    for space in ("content", "style:0.5,content:0.5"):
        results = ok_json(client.post("/search", files=_upload(query), data={"space": space, "k": "5"}))["results"]
        expected = _cli_search(cli, reader.directory, "--file", query, "--space", space, "-k", 5)
        assert [hit["id"] for hit in results] == [hit["id"] for hit in expected]
        for got, want in zip(results, expected, strict=True):
            assert got["score"] == pytest.approx(want["score"], abs=1e-4)

    # A catalog image finds itself first; the upload is not added.
    results = ok_json(client.post("/search", files=_upload(tiny_catalog.paths["A"]), data={"k": "3"}))["results"]
    assert results[0]["id"] == tiny_catalog.ids["A"] and results[0]["score"] == pytest.approx(1.0, abs=1e-3)
    assert ok_json(client.get("/health"))["items"] == NINE

    # A video upload, with filters: the catalog's video is the best video, and the frame that matched is named.
    video = _upload(tiny_catalog.paths["video"], "clip.mp4")
    data = {"space": "content", "k": "2", "kind": "video"}
    results = ok_json(client.post("/search", files=video, data=data))["results"]
    assert [hit["id"] for hit in results] == [tiny_catalog.ids["video"]]
    assert results[0]["score"] > 0.9 and isinstance(results[0]["frame"], int)
    images = ok_json(client.post("/search", files=video, data={"k": "4", "kind": "image"}))["results"]
    assert len(images) == 4 and all(hit["kind"] == "image" for hit in images)


def test_upload_errors(reader: Served, tiny_catalog: TinyCatalog, tmp_path: Path) -> None:
    client = reader.client
    garbage = {"file": ("photo.jpg", b"this is not a picture", "image/jpeg")}
    assert "photo.jpg" in error_detail(client.post("/search", files=garbage), 422)
    error_detail(client.post("/search", files={"file": ("empty.png", b"", "image/png")}), 422)
    error_detail(client.post("/search", files={"file": ("x.mp4", b"\x00" * 4096, "video/mp4")}), 422)
    error_detail(client.post("/search", data={"space": "style"}), 422)  # no file
    error_detail(client.post("/search", files=_upload(tiny_catalog.paths["A"]), data={"space": "nope"}), 422)
    error_detail(client.post("/search", files=_upload(tiny_catalog.paths["A"]), data={"k": "0"}), 422)


def test_uploads_over_the_limit_get_413(writer: Served, tmp_path: Path) -> None:
    app = create_app(writer.directory, config=writer.config, token=TOKEN, max_upload_bytes=3000)
    big = make_image(tmp_path / "big.png", size=(96, 96), seed=3, pattern="noise")  # ~27 kB of noise
    with TestClient(app) as client:
        # Over the file limit, within the body's slack for form fields: caught while copying the file.
        assert "3000 bytes" in error_detail(client.post("/search", files=_upload(big)), 413)
        error_detail(client.post("/items", files={"files": ("big.png", big.read_bytes())}, headers=AUTH), 413)
        # Far over: the body is cut off while streaming, also with no Content-Length (chunked).
        huge = b"x" * (200 * 1024)
        error_detail(client.post("/search", files={"file": ("huge.png", huge)}), 413)
        chunks = iter([b"--b\r\n", huge, b"\r\n--b--\r\n"])
        headers = {"content-type": "multipart/form-data; boundary=b"}
        error_detail(client.post("/search", content=chunks, headers=headers), 413)
        # Under the limit still works; one refused file of several refuses the request and keeps nothing.
        small = make_image(tmp_path / "small.png", size=(16, 16), seed=1, pattern="gradient")
        assert len(ok_json(client.post("/search", files=_upload(small), data={"k": "2"}))["results"]) == 2
        before = ok_json(client.get("/health"))["items"]
        both = [("files", ("small.png", small.read_bytes())), ("files", ("big.png", big.read_bytes()))]
        error_detail(client.post("/items", files=both, headers=AUTH), 413)
        assert ok_json(client.get("/health"))["items"] == before
    assert not list((writer.directory / "uploads").glob("*"))  # nothing kept from refused uploads


# -- explain ------------------------------------------------------------------------------------------------
def test_explain_panels(reader: Served, tiny_catalog: TinyCatalog) -> None:
    pytest.importorskip("styledex.serve.explain", reason="serve/explain.py (the panel renderer) is not there yet")
    client, ids = reader.client, tiny_catalog.ids
    response = client.get("/explain", params={"query": ids["A"], "match": ids["A_restyled"], "space": "style"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    panel = Image.open(io.BytesIO(response.content))
    assert panel.format == "PNG" and panel.width > 256 and panel.height > 256

    numbers = ok_json(client.get("/explain", params={"query": ids["A"], "match": ids["video"], "format": "json",
                                                 "space": "content"}))  # fmt: skip
    assert numbers["space_kind"] == "content"
    mixed = {"query": ids["A"], "match": ids["A_restyled"], "space": "style:0.2,content:0.8", "format": "json"}
    assert ok_json(client.get("/explain", params=mixed))["space_kind"] == "content"

    upload = client.post("/explain", files=_upload(tiny_catalog.paths["gradient"]), data={"match": ids["checker"]})
    assert upload.status_code == 200 and Image.open(io.BytesIO(upload.content)).format == "PNG"

    error_detail(client.get("/explain", params={"query": 999999, "match": ids["A"]}), 404)
    error_detail(client.get("/explain", params={"query": ids["A"], "match": ids["B_restyled"], "space": "nope"}), 422)
    error_detail(client.get("/explain", params={"query": ids["A"], "match": ids["A"], "format": "gif"}), 422)
    error_detail(client.post("/explain", files={"file": ("x.png", b"junk")}, data={"match": ids["A"]}), 422)


def test_explain_method_parameter_and_timeout(tiny_catalog: TinyCatalog, config: Config) -> None:
    """``method`` is validated (422 for an unknown one) and named in the numbers; a render slower than
    serve.explain_timeout_s answers 504 with a one-line detail instead of holding the request."""
    pytest.importorskip("styledex.serve.explain")
    ids = tiny_catalog.ids
    params = {"query": ids["A"], "match": ids["A_restyled"], "format": "json"}
    with TestClient(create_app(tiny_catalog.directory, config=config, token=None)) as client:
        numbers = ok_json(client.get("/explain", params={**params, "method": "ghiasi"}))
        assert numbers["transfer"]["method"] == "ghiasi"
        error_detail(client.get("/explain", params={**params, "method": "gatys"}), 422)
    slow = config.model_copy(update={"serve": config.serve.model_copy(update={"explain_timeout_s": 0.001})})
    with TestClient(create_app(tiny_catalog.directory, config=slow, token=None)) as client:
        response = client.get("/explain", params={**params, "space": "content"})
        assert response.status_code == 504 and "explain_timeout_s" in response.json()["detail"]


def test_cors_is_off_unless_configured(tiny_catalog: TinyCatalog, config: Config) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    with TestClient(create_app(tiny_catalog.directory, config=config, token=None)) as client:
        assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    allowed = config.model_copy(update={"serve": config.serve.model_copy(update={"cors_origins": [origin["Origin"]]})})
    with TestClient(create_app(tiny_catalog.directory, config=allowed, token=None)) as client:
        assert client.get("/health", headers=origin).headers["access-control-allow-origin"] == origin["Origin"]
        other = client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- writes -------------------------------------------------------------------------------------------------
def test_writes_need_the_token(reader: Served, writer: Served, tiny_catalog: TinyCatalog) -> None:
    some = tiny_catalog.ids["noise"]
    # No token configured: refused outright.
    error_detail(reader.client.post("/items", json={"paths": [str(tiny_catalog.paths["A"])]}, headers=AUTH), 403)
    error_detail(reader.client.delete(f"/items/{some}", headers=AUTH), 403)
    # Token configured: missing or wrong is 401, before any body is read.
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        response = writer.client.post("/items", json={"paths": ["/etc/passwd"]}, headers=headers)
        error_detail(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
        error_detail(writer.client.delete(f"/items/{some}", headers=headers), 401)
    assert ok_json(writer.client.get(f"/items/{some}"))["id"] == some
    error_detail(writer.client.post("/items", content=b"paths", headers={**AUTH, "content-type": "text/plain"}), 415)
    error_detail(writer.client.post("/items", json={"files": []}, headers=AUTH), 422)
    error_detail(writer.client.post("/items", json={"paths": []}, headers=AUTH), 422)


def test_add_by_upload_then_find_it_then_delete_it(writer: Served, tiny_catalog: TinyCatalog, tmp_path: Path) -> None:
    client = writer.client
    before = ok_json(client.get("/health"))["items"]
    new_file = restyle(make_shapes(tmp_path / "D.png", seed=21), tmp_path / "D_restyled.png")
    files = [
        ("files", ("../../../etc/evil name.png", new_file.read_bytes(), "image/png")),
        ("files", ("broken.jpg", b"\xff\xd8\xff not really a jpeg", "image/jpeg")),
        ("files", ("again.png", tiny_catalog.paths["A"].read_bytes(), "image/png")),  # already in the catalog
    ]
    added = ok_json(client.post("/items", files=files, headers=AUTH), 201)
    new_id = added["ids"][0]
    assert added["ids"] == [new_id, tiny_catalog.ids["A"]]
    assert [f["name"] for f in added["failed"]] == ["broken.jpg"] and added["failed"][0]["error"]

    item = ok_json(client.get(f"/items/{new_id}"))
    stored = Path(item["path"])
    # Stored under the catalog by content hash: the client's name never reaches the file system.
    assert stored.parent == writer.directory / "uploads" and stored.name == f"{item['sha256']}.png"
    assert stored.read_bytes() == new_file.read_bytes() and item["metadata"] == {"name": "../../../etc/evil name.png"}
    assert sorted(p.name for p in stored.parent.iterdir()) == [stored.name]  # the failed and known ones not kept
    (broken,) = ok_json(client.get("/items", params={"status": "failed"}))["items"]
    assert broken["metadata"] == {"name": "broken.jpg"} and broken["error"] == added["failed"][0]["error"]
    assert "cannot be searched" in error_detail(client.get(f"/items/{broken['id']}/similar"), 422)
    assert ok_json(client.get("/health"))["items"] == before + 1

    # Found at once: as a result of another item, and as a query of its own.
    other = tiny_catalog.ids["B_restyled"]  # same restyle, other shapes: a style neighbour
    assert new_id in [hit["id"] for hit in _similar(client, other, space="style", k=3)]
    assert new_id not in [hit["id"] for hit in _similar(client, new_id, k=50)]
    assert client.get(f"/items/{new_id}/thumbnail").headers["content-type"] == "image/jpeg"

    # Delete: gone from the item routes, from every result, and its stored file with it.
    assert client.delete(f"/items/{new_id}", headers=AUTH).status_code == 204
    error_detail(client.get(f"/items/{new_id}"), 404)
    error_detail(client.get(f"/items/{new_id}/similar"), 404)
    error_detail(client.get(f"/items/{new_id}/thumbnail"), 404)
    for space in ("style", "content", "gram", "style:0.5,content:0.5"):
        assert new_id not in [hit["id"] for hit in _similar(client, other, space=space, k=50)]
    found = ok_json(client.post("/search", files=_upload(new_file), data={"k": "50"}))["results"]
    assert new_id not in [hit["id"] for hit in found]
    assert not stored.exists()
    assert ok_json(client.get("/health"))["items"] == before
    error_detail(client.delete(f"/items/{new_id}", headers=AUTH), 404)


def test_add_by_server_paths_with_manifest_metadata(writer: Served, tmp_path: Path) -> None:
    client = writer.client
    folder = tmp_path / "manifested"
    folder.mkdir()
    for i in range(3):
        make_image(folder / f"m{i}.png", size=(48, 48), seed=30 + i, pattern="checker")
    (folder / "list.csv").write_text("path,colour,year\nm0.png,red,1889\nm1.png,red,1890\nm2.png,blue,1889\n")
    missing = str(tmp_path / "nowhere.png")
    added = ok_json(client.post("/items", json={"paths": [str(folder / "list.csv"), missing]}, headers=AUTH), 201)
    assert len(added["ids"]) == 3
    assert added["failed"] == [{"name": missing, "error": f"no such file or folder: {missing}"}]
    first = added["ids"][0]
    assert ok_json(client.get(f"/items/{first}"))["metadata"] == {"colour": "red", "year": 1889}

    # Metadata equality filters, alone and together (all must hold); numbers compare as written.
    reds = _similar(client, first, space="gram", k=50, where="colour:red")
    assert [hit["id"] for hit in reds] == [added["ids"][1]]
    both = client.get(f"/items/{first}/similar", params=[("where", "colour:blue"), ("where", "year:1889")])
    assert [hit["id"] for hit in ok_json(both)["results"]] == [added["ids"][2]]
    assert _similar(client, first, space="gram", k=50, where="colour:green") == []
    # Uploads are filtered too; a second add of the same files changes nothing.
    upload = {"file": ("q.png", (folder / "m2.png").read_bytes())}
    found = ok_json(client.post("/search", files=upload, data={"k": "5", "where": "colour:blue"}))["results"]
    assert [hit["id"] for hit in found] == [added["ids"][2]]
    again = ok_json(client.post("/items", json={"paths": [str(folder)]}, headers=AUTH), 201)
    assert sorted(again["ids"]) == sorted(added["ids"]) and again["failed"] == []


def test_an_empty_catalog_is_served_and_filled_through_the_api(config: Config, tmp_path: Path) -> None:
    Catalog.open(tmp_path / "empty", create=True).close()
    images = [make_image(tmp_path / f"e{i}.png", seed=50 + i, pattern="checker") for i in range(3)]
    with TestClient(create_app(tmp_path / "empty", config=config, token=TOKEN)) as client:
        assert ok_json(client.get("/health"))["items"] == 0
        assert ok_json(client.get("/items")) == {"items": [], "total": 0}
        assert "nothing was added" in error_detail(client.post("/search", files=_upload(images[0])), 409)
        added = ok_json(client.post("/items", json={"paths": [str(p) for p in images]}, headers=AUTH), 201)
        assert len(added["ids"]) == 3 and added["failed"] == []
        hits = _similar(client, added["ids"][0], space="content", k=5)
        assert sorted(hit["id"] for hit in hits) == added["ids"][1:]
    # The first add stored the config's settings, as `styledex add` does.
    with Catalog.open(tmp_path / "empty") as catalog:
        assert sorted(catalog.get_meta("embed")["spaces"]) == sorted(config.embed.spaces)


def test_busy_catalog_answers_409_to_writes_and_keeps_answering_reads(writer: Served, tmp_path: Path) -> None:
    other_writer = Catalog.open(writer.directory)
    other_writer.acquire_lock()
    try:
        image = make_image(tmp_path / "late.png", seed=5, pattern="gradient")
        response = writer.client.post("/items", json={"paths": [str(image)]}, headers=AUTH)
        assert "being written" in error_detail(response, 409)
        assert ok_json(writer.client.get("/health"))["status"] == "ok"
    finally:
        other_writer.close()


def test_items_added_by_another_process_appear_without_restart(writer: Served, tmp_path: Path) -> None:
    client = writer.client
    anchor = ok_json(client.get("/items", params={"limit": 1}))["items"][0]["id"]
    before = ok_json(client.get("/items"))["total"]
    _similar(client, anchor, k=50)  # indexes loaded before the other process writes
    new_file = make_shapes(tmp_path / "external.png", seed=77)
    proc = subprocess.Popen(
        cli_command("add", new_file, "--catalog", writer.directory, "--quiet"),  # the catalog's own settings
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    answered = 0
    while proc.poll() is None:  # queries keep being answered while `styledex add` writes
        assert len(_similar(client, anchor, k=3)) == 3
        answered += 1
        time.sleep(0.05)
    _, err = proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert answered > 0

    page = ok_json(client.get("/items", params={"limit": 1000}))
    assert page["total"] == before + 1
    (new,) = [item for item in page["items"] if item["path"] == str(new_file.absolute())]
    assert new["id"] in [hit["id"] for hit in _similar(client, anchor, k=50)]
    assert len(_similar(client, new["id"], k=3)) == 3


# -- metrics and the command --------------------------------------------------------------------------------
def test_metrics_count_requests_per_route_template(reader: Served, tiny_catalog: TinyCatalog) -> None:
    client = reader.client
    for name in ("A", "noise"):
        _similar(client, tiny_catalog.ids[name], k=2)
    client.get("/items/999999")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    similar = 'styledex_http_requests_total{method="GET",route="/items/{item_id}/similar",status="200"}'
    assert samples[similar] >= 2
    assert samples['styledex_http_requests_total{method="GET",route="/items/{item_id}",status="404"}'] >= 1
    assert samples['styledex_http_request_duration_seconds_count{method="GET",route="/items/{item_id}/similar"}'] >= 2
    assert samples["styledex_catalog_items"] == NINE


def test_serve_command_serves_the_default_catalog(tiny_catalog: TinyCatalog, tmp_path: Path, cli) -> None:
    run = cli("serve", "--catalog", tmp_path / "missing")
    assert run.rc == 2 and "no catalog at" in run.err and "styledex demo" in run.err
    run = cli("serve", "--catalog", tiny_catalog.directory, "--workers", "0")
    assert run.rc == 2 and run.err.strip().endswith("--workers expects a positive number of server processes, got 0")

    shutil.copytree(tiny_catalog.directory, tmp_path / "catalog")  # ./catalog: what `styledex demo` builds
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k not in ("STYLEDEX_CATALOG", "STYLEDEX_TOKEN")}
    proc = subprocess.Popen(
        cli_command("serve", "--port", port), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    body = response.read().decode()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1].decode()
                assert time.monotonic() < deadline, "server did not come up"
                time.sleep(0.2)
        assert body == f'{{"status":"ok","items":{NINE}}}'
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_deleting_an_unknown_id_is_404_naming_it(writer: Served) -> None:
    detail = error_detail(writer.client.delete("/items/987654321", headers=AUTH), 404)
    assert detail == "no item with id 987654321"
