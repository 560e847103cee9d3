"""The service's two guards (issue 6): server-side paths only under ``serve.ingest_roots``, and load shedding of
the model-bound routes past ``serve.max_heavy_requests``.

Paths: ``POST /items {"paths": [...]}`` adds a path only when it resolves (symlinks and ``..`` applied) under a
configured root; an argument outside is a 403 naming it with nothing added, a file a folder walk or manifest
leads to outside is left out with its reason in ``failed``; no roots (the default) refuses every server path
while uploads still work.

Overload: with the cap at 1 and the model call replaced by a stand-in that blocks until released, a second
model-bound request waits ``serve.heavy_queue_timeout_s`` and gets 503 with ``Retry-After`` while waiting
requests hold no worker thread and ``GET /items/{id}/similar`` keeps answering; released, they succeed again.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from styledex.config import Config, ConfigError, load_config
from styledex.serve.app import create_app
from styledex.serve.ingest_roots import OUTSIDE_REASON

from helpers.catalogs import TinyCatalog
from helpers.http import error_detail, ok_json
from helpers.media import make_shapes

TOKEN = "limits-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NINE = 9  # items in the session catalog


def _with_serve(config: Config, **serve: Any) -> Config:
    return config.model_copy(update={"serve": config.serve.model_copy(update=serve)})


def _item_paths(client: TestClient) -> list[str]:
    return [item["path"] for item in ok_json(client.get("/items", params={"status": "all", "limit": 1000}))["items"]]


# -- ingest roots -------------------------------------------------------------------------------------------
@dataclass
class Tree:
    """``root`` (the one ingest root) and ``outside`` (a sibling folder with a real image, ``secret.png``)."""

    root: Path
    outside: Path
    secret: Path


@dataclass
class Served:
    client: TestClient
    tree: Tree


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("roots")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    secret = make_shapes(outside / "secret.png", seed=601, size=48)  # decodable: read, it would be added
    return Tree(root, outside, secret)


@pytest.fixture(scope="module")
def served(tiny_catalog: TinyCatalog, tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("limits") / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)
    config = _with_serve(load_config(tiny_catalog.config), ingest_roots=[str(tree.root)])
    with TestClient(create_app(directory, config=config, token=TOKEN)) as client:
        yield Served(client, tree)


def test_a_file_under_a_root_is_added(served: Served) -> None:
    inside = make_shapes(served.tree.root / "inside.png", seed=602, size=48)
    added = ok_json(served.client.post("/items", json={"paths": [str(inside)]}, headers=AUTH), 201)
    assert len(added["ids"]) == 1 and added["failed"] == []
    assert ok_json(served.client.get(f"/items/{added['ids'][0]}"))["path"] == str(inside)


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "ROOT/../outside/secret.png", "ROOT/../outside/missing.png", "/root/.ssh/id_rsa", "link.png"],
)
def test_a_path_outside_every_root_is_a_403_naming_it(served: Served, name: str) -> None:
    tree = served.tree
    if name == "link.png":  # a symlink inside the root that points out
        path = tree.root / "link.png"
        if not path.is_symlink():
            path.symlink_to(tree.secret)
        raw = str(path)
    else:
        raw = name.replace("ROOT/", f"{tree.root}/")
    before = _item_paths(served.client)
    detail = error_detail(served.client.post("/items", json={"paths": [raw]}, headers=AUTH), 403)
    # The same answer whether the file exists or not (nothing was opened, not even stat), naming the path, the
    # allowed roots and the setting.
    assert detail == (
        f"path {raw!r} is outside the ingest roots ({tree.root.resolve()}); set serve.ingest_roots in the config "
        "or start `styledex serve --ingest-root DIR`"
    )
    assert _item_paths(served.client) == before


def test_one_argument_outside_refuses_the_whole_request(served: Served) -> None:
    inside = make_shapes(served.tree.root / "mixed.png", seed=603, size=48)
    before = _item_paths(served.client)
    body = {"paths": [str(inside), str(served.tree.secret)]}
    assert repr(str(served.tree.secret)) in error_detail(served.client.post("/items", json=body, headers=AUTH), 403)
    assert _item_paths(served.client) == before  # the inside file was not added either


def test_a_folder_walk_adds_only_the_files_that_resolve_inside(served: Served) -> None:
    tree = served.tree
    folder = tree.root / "walked"
    (folder / "sub").mkdir(parents=True)
    good = [make_shapes(folder / "a.png", seed=604, size=48), make_shapes(folder / "sub" / "b.png", seed=605, size=48)]
    escaping = folder / "sub" / "escape.png"
    escaping.symlink_to(tree.secret)  # a file link out
    (folder / "elsewhere").symlink_to(tree.outside, target_is_directory=True)  # a folder link out: never walked
    inner = folder / "inner_link.png"
    inner.symlink_to(good[0])  # a link that stays inside: allowed (same content as a.png)
    before = _item_paths(served.client)

    added = ok_json(served.client.post("/items", json={"paths": [str(folder)]}, headers=AUTH), 201)
    assert added["failed"] == [{"name": str(escaping), "error": OUTSIDE_REASON}]
    assert len(added["ids"]) == 2  # a.png (and its inside link, the same item) and b.png
    after = _item_paths(served.client)
    assert sorted(set(after) - set(before)) == sorted(str(p) for p in good)
    assert not any(str(tree.outside) in p or p == str(escaping) for p in after)  # not even as a failed item


def test_a_manifest_row_pointing_outside_is_left_out(served: Served) -> None:
    tree = served.tree
    folder = tree.root / "manifested"
    folder.mkdir()
    make_shapes(folder / "m.png", seed=606, size=48)
    manifest = folder / "list.csv"
    manifest.write_text(f"path,tag\nm.png,in\n{tree.secret},out\n../../outside/secret.png,up\n")
    added = ok_json(served.client.post("/items", json={"paths": [str(manifest)]}, headers=AUTH), 201)
    assert len(added["ids"]) == 1
    assert added["failed"] == [
        {"name": str(tree.secret), "error": OUTSIDE_REASON},
        {"name": str((folder / "../../outside/secret.png").absolute()), "error": OUTSIDE_REASON},
    ]
    assert ok_json(served.client.get(f"/items/{added['ids'][0]}"))["metadata"] == {"tag": "in"}


def test_a_root_given_through_a_symlink_is_resolved(tiny_catalog: TinyCatalog, tree: Tree, tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)
    alias = tmp_path / "alias"
    alias.symlink_to(tree.root, target_is_directory=True)
    image = make_shapes(tree.root / "via_alias.png", seed=607, size=48)
    config = _with_serve(load_config(tiny_catalog.config), ingest_roots=[str(alias)])
    with TestClient(create_app(directory, config=config, token=TOKEN)) as client:
        # Both spellings resolve under the root; the detail names the resolved root.
        for raw in (str(image), str(alias / image.name)):
            assert len(ok_json(client.post("/items", json={"paths": [raw]}, headers=AUTH), 201)["ids"]) == 1
        detail = error_detail(client.post("/items", json={"paths": [str(alias / ".." / "x.png")]}, headers=AUTH), 403)
        assert f"({tree.root.resolve()})" in detail


def test_no_roots_refuses_every_server_path_but_uploads_work(tiny_catalog: TinyCatalog, tmp_path: Path) -> None:
    directory = tmp_path / "catalog"
    shutil.copytree(tiny_catalog.directory, directory)
    assert load_config().serve.ingest_roots == []  # the default
    config = _with_serve(load_config(tiny_catalog.config), ingest_roots=[])
    image = make_shapes(tmp_path / "local.png", seed=608, size=48)
    with TestClient(create_app(directory, config=config, token=TOKEN)) as client:
        for raw in (str(image), str(directory), "/", ".", "", "a\x00b", "\udcff.png"):
            # Sent as JSON escapes (\u0000, \udcff): what a client may send, though not valid UTF-8 when raw.
            body = json.dumps({"paths": [raw]})
            headers = {**AUTH, "content-type": "application/json"}
            detail = error_detail(client.post("/items", content=body, headers=headers), 403)
            assert detail == (
                f"server-side paths are off: {raw!r} refused; set serve.ingest_roots in the config or start "
                "`styledex serve --ingest-root DIR`, or upload the files"
            )
        assert ok_json(client.get("/health"))["items"] == NINE
        files = [("files", ("local.png", image.read_bytes(), "image/png"))]
        added = ok_json(client.post("/items", files=files, headers=AUTH), 201)
        assert len(added["ids"]) == 1 and added["failed"] == []
        assert ok_json(client.get("/health"))["items"] == NINE + 1


def test_roots_must_be_absolute_and_the_cli_flag_an_existing_folder(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("serve: {ingest_roots: [media]}\n")
    with pytest.raises(ConfigError, match=r"serve\.ingest_roots: Value error, expected absolute folder paths"):
        load_config(bad)
    good = tmp_path / "good.yaml"
    good.write_text("serve: {ingest_roots: [~/media, /srv/media]}\n")
    assert load_config(good).serve.ingest_roots == ["~/media", "/srv/media"]
    run = cli("serve", "--catalog", tmp_path / "nocatalog", "--ingest-root", tmp_path / "missing")
    assert run.rc == 2 and run.err_lines == [
        f"styledex: error: --ingest-root expects an existing folder, got {tmp_path / 'missing'}"
    ]


# -- overload -----------------------------------------------------------------------------------------------
class Gated:
    """A stand-in for the model-bound part of a route: signals ``entered``, then blocks until ``release``."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        self.calls += 1
        self.entered.set()
        assert self.release.wait(30), "the test never released the stand-in"
        return []


def _upload(tiny_catalog: TinyCatalog) -> dict[str, Any]:
    return {"file": ("q.png", tiny_catalog.paths["A"].read_bytes(), "image/png")}


def _borrowed_threads(client: TestClient) -> int:
    """Worker threads in use by the app's event loop (AnyIO's default limiter, which runs sync routes)."""
    assert client.portal is not None
    return int(client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().borrowed_tokens))


@pytest.fixture
def gated_app(
    tiny_catalog: TinyCatalog, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[tuple[TestClient, Gated]]:
    """An app over the session catalog (read only) with ``max_heavy_requests`` 1 and ``search_media`` gated."""
    wait_s = getattr(request, "param", 0.2)
    config = _with_serve(load_config(tiny_catalog.config), max_heavy_requests=1, heavy_queue_timeout_s=wait_s)
    app = create_app(tiny_catalog.directory, config=config, token=None)
    gated = Gated()
    monkeypatch.setattr(app.state.service.session, "search_media", gated)
    with TestClient(app) as client:
        try:
            yield client, gated
        finally:  # before the client closes: a failed test must not leave a request blocked
            gated.release.set()


def _in_thread(call: Any) -> tuple[threading.Thread, list[Any]]:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    return thread, box


def test_past_the_cap_heavy_requests_get_503_while_cheap_ones_answer(
    gated_app: tuple[TestClient, Gated], tiny_catalog: TinyCatalog
) -> None:
    client, gated = gated_app
    anchor = tiny_catalog.ids["A"]
    ok_json(client.get(f"/items/{anchor}/similar"))  # indexes loaded before timing it below
    first, box = _in_thread(lambda: client.post("/search", files=_upload(tiny_catalog)))
    assert gated.entered.wait(30)

    # The second heavy request waits serve.heavy_queue_timeout_s (0.2 s), then 503 + Retry-After, one line.
    start = time.monotonic()
    busy = client.post("/search", files=_upload(tiny_catalog))
    waited = time.monotonic() - start
    detail = error_detail(busy, 503)
    assert busy.headers["retry-after"] == "1"  # no heavy request finished yet: the floor, 1 s
    assert detail == (
        "busy: 1 model-bound requests (search by upload, explain) already running (serve.max_heavy_requests); "
        "retry in 1 s"
    )
    assert 0.2 <= waited < 10
    # The explanation routes share the cap (refused before any item is decoded or anything rendered).
    ids = tiny_catalog.ids
    error_detail(client.get("/explain", params={"query": ids["A"], "match": ids["noise"]}), 503)
    error_detail(client.post("/explain", files=_upload(tiny_catalog), data={"match": ids["noise"]}), 503)
    assert gated.calls == 1

    # Cheap routes keep answering while the heavy one holds its slot.
    start = time.monotonic()
    hits = ok_json(client.get(f"/items/{anchor}/similar", params={"k": 3}))["results"]
    assert len(hits) == 3 and time.monotonic() - start < 5
    assert ok_json(client.get("/health"))["items"] == NINE

    gated.release.set()
    first.join(30)
    assert box[0].status_code == 200 and box[0].json() == {"results": []}
    assert ok_json(client.post("/search", files=_upload(tiny_catalog))) == {"results": []}  # a slot again
    assert client.app.state.service.heavy.active == 0  # type: ignore[attr-defined]
    assert gated.calls == 2


@pytest.mark.parametrize("gated_app", [30.0], indirect=True)
def test_waiting_requests_hold_no_thread_and_get_the_freed_slot(
    gated_app: tuple[TestClient, Gated], tiny_catalog: TinyCatalog
) -> None:
    client, gated = gated_app
    anchor = tiny_catalog.ids["A"]
    ok_json(client.get(f"/items/{anchor}/similar"))
    first, first_box = _in_thread(lambda: client.post("/search", files=_upload(tiny_catalog)))
    assert gated.entered.wait(30)
    waiters = [_in_thread(lambda: client.post("/search", files=_upload(tiny_catalog))) for _ in range(5)]
    time.sleep(0.5)  # the five are in the gate now, waiting (up to 30 s) for the one slot
    assert all(thread.is_alive() for thread, _ in waiters)
    assert _borrowed_threads(client) == 1  # only the running request holds a worker thread
    assert len(ok_json(client.get(f"/items/{anchor}/similar", params={"k": 3}))["results"]) == 3

    gated.release.set()  # the slot frees: each waiter gets it in turn, none is refused
    for thread, box in [(first, first_box), *waiters]:
        thread.join(30)
        assert box[0].status_code == 200, box[0].text
    assert gated.calls == 6 and client.app.state.service.heavy.active == 0  # type: ignore[attr-defined]


def test_the_503_is_in_the_openapi_schema(gated_app: tuple[TestClient, Gated]) -> None:
    client, _ = gated_app
    paths = ok_json(client.get("/openapi.json"))["paths"]
    for path, method in (("/search", "post"), ("/explain", "get"), ("/explain", "post")):
        busy = paths[path][method]["responses"]["503"]
        assert busy["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 1}
    assert "503" not in paths["/items/{item_id}/similar"]["get"]["responses"]


def test_a_cap_below_one_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("serve: {max_heavy_requests: 0}\n")
    with pytest.raises(ConfigError, match=r"serve\.max_heavy_requests: Input should be greater than or equal to 1"):
        load_config(bad)
