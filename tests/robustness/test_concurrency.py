"""Concurrency: two `styledex add` processes on one catalog, a server answering queries while another process adds
and then removes items, and open catalogs (a server's) that follow a `reindex` or another process's write.

Every check after the fact uses ``test_crash.check_consistent``: integrity, no duplicates, every index holds
exactly the ok items.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from styledex.catalog import Catalog, ItemRecord, SpaceVectors
from styledex.config import load_config
from styledex.embed.spaces import SPACES
from styledex.search import Searcher
from styledex.serve.app import create_app

from helpers.catalogs import TinyCatalog, check_consistent
from helpers.cli import cli_command, run_inprocess
from helpers.media import make_image, make_shapes

CATALOG_SPACES = ("content", "adain", "gram")  # the session catalog's (helpers.catalogs.TINY_CONFIG)
CONCURRENT_CONFIG = """\
embed: {image_size: 64, spaces: [content, adain, gram], batch_size: 2}
media: {frames: 3}
catalog: {items_per_batch: 2}
"""


# -- two writers ------------------------------------------------------------------------------------------------
def test_two_concurrent_adds_on_one_catalog(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(CONCURRENT_CONFIG)
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    for i in range(3):
        make_image(left / f"l{i}.png", size=(40, 40), seed=300 + i, pattern="noise")
        make_image(right / f"r{i}.jpg", size=(40, 40), seed=400 + i, pattern="gradient")
    shared = make_image(left / "shared.png", size=(40, 40), seed=999, pattern="checker")
    shutil.copy(shared, right / "shared_copy.png")  # same content in both folders: one process must skip it
    catalog_dir = tmp_path / "catalog"  # does not exist yet: both processes race to create it

    procs = [
        subprocess.Popen(
            cli_command("--config", config, "add", folder, "--catalog", catalog_dir, "--json"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for folder in (left, right)
    ]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    summaries = [json.loads(out) for out, _ in outputs]
    assert [(s["added"] + s["skipped"], s["failed"]) for s in summaries] == [(4, 0), (4, 0)]
    assert sum(s["added"] for s in summaries) == 7 and sum(s["skipped"] for s in summaries) == 1
    assert set(summaries[0]["ids"]).isdisjoint(summaries[1]["ids"])

    ok_ids = check_consistent(catalog_dir)
    assert ok_ids == sorted(summaries[0]["ids"] + summaries[1]["ids"])  # the union, each item once
    names = {Path(item["path"]).name for item in run_inprocess("list", "--catalog", catalog_dir, "--json").json()}
    assert {f"l{i}.png" for i in range(3)} | {f"r{i}.jpg" for i in range(3)} <= names
    assert len(names & {"shared.png", "shared_copy.png"}) == 1


# -- a server under writes --------------------------------------------------------------------------------------
# A writer process: `styledex add` (through the CLI's main), one JSON line with its output, then it waits for a
# JSON list of ids on stdin and runs `styledex remove` with them. One interpreter for both commands saves the
# ~5 s of a second torch start-up; the test decides when the removal starts.
WRITER = """\
import contextlib, io, json, sys
from styledex.cli import main
config, folder, catalog = sys.argv[1:]
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(["--config", config, "add", folder, "--catalog", catalog, "--json"])
print(json.dumps({"rc": rc, "out": out.getvalue()}), flush=True)
ids = json.loads(sys.stdin.readline())
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(["remove", *map(str, ids), "--catalog", catalog, "--json"])
print(json.dumps({"rc": rc, "out": out.getvalue()}), flush=True)
"""


class Writer:
    """The writer process, with its stdout lines read by a thread so the test can query while it works."""

    def __init__(self, config: Path, folder: Path, catalog_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(config), str(folder), str(catalog_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def result(self) -> dict[str, Any] | None:
        """The next command's result ({"rc", "out"}) if it has finished, else None."""
        try:
            return json.loads(self.lines.get_nowait())
        except queue.Empty:
            assert self.proc.poll() is None, f"the writer exited early: {self.proc.stderr.read()}"
            return None

    def remove(self, ids: list[int]) -> None:
        self.proc.stdin.write(json.dumps(ids) + "\n")
        self.proc.stdin.flush()


@pytest.fixture
def served(catalog_copy: Path, tiny_catalog: TinyCatalog) -> Iterator[TestClient]:
    app = create_app(catalog_copy, config=load_config(tiny_catalog.config), token=None)
    with TestClient(app) as client:
        yield client


def test_server_answers_while_another_process_adds_then_removes(
    served: TestClient, catalog_copy: Path, tiny_catalog: TinyCatalog, tmp_path: Path
) -> None:
    client = served
    initial = frozenset(item["id"] for item in tiny_catalog.items if item["status"] == "ok")
    assert len(initial) == 9
    anchor, dropped = tiny_catalog.ids["A"], tiny_catalog.ids["noise"]  # the query item; an old item removed later
    folder = tmp_path / "new"
    folder.mkdir()
    probe_file = make_shapes(folder / "new0.png", seed=900, size=64)
    for i in range(1, 6):
        make_shapes(folder / f"new{i}.png", seed=900 + i, size=64)
    probe = probe_file.read_bytes()  # searched by upload throughout: once added, it must come first

    # Every answer, in the order asked: (phase, request number, the ids it covers, its top hit if near-exact). A
    # query by item leaves that item out, so it is added back; k = 1000 asks for the whole catalog.
    answers: list[tuple[str, int, frozenset[int], int | None]] = []

    def ask(phase: str) -> None:
        requests = [
            lambda: client.get(f"/items/{anchor}/similar", params={"space": "content", "k": 1000}),
            lambda: client.post("/search", files={"file": ("probe.png", probe, "image/png")},
                                data={"space": "content", "k": "1000"}),
            lambda: client.get(f"/items/{anchor}/similar", params={"space": "style:0.5,content:0.5", "k": 1000}),
        ]  # fmt: skip
        for number, request in enumerate(requests):
            response = request()
            assert response.status_code == 200, (phase, response.status_code, response.text)
            hits = response.json()["results"]
            ids = [hit["id"] for hit in hits]
            scores = [hit["score"] for hit in hits]
            assert len(set(ids)) == len(ids), "an item twice in one answer"
            assert scores == sorted(scores, reverse=True)
            top = ids[0] if hits and scores[0] > 0.999 else None
            answers.append((phase, number, frozenset(ids) | ({anchor} if number != 1 else set()), top))

    ask("before")
    writer = Writer(tiny_catalog.config, folder, catalog_copy)
    while (added := writer.result()) is None:
        ask("adding")
    assert added["rc"] == 0
    summary = json.loads(added["out"])
    new_ids = summary["ids"]  # in commit order
    assert (summary["added"], summary["failed"]) == (6, 0)
    ask("added")
    items = client.get("/items", params={"limit": 1000}).json()["items"]
    (probe_id,) = [item["id"] for item in items if item["path"] == str(probe_file.absolute())]
    writer.remove([*new_ids, dropped])
    while (removed := writer.result()) is None:
        ask("removing")
    assert removed["rc"] == 0 and sorted(json.loads(removed["out"])["removed"]) == sorted([*new_ids, dropped])
    ask("removed")
    assert writer.proc.wait(timeout=60) == 0

    # The catalog's states, in order: the old items, each prefix of the new ones (a batch commits at once), then
    # all but the removed ones. Every answer is exactly one state (never a mix of two), never an older state than
    # an answer before it, and has the probe first exactly when the probe is in that state.
    states = [initial | frozenset(new_ids[:n]) for n in range(len(new_ids) + 1)] + [initial - {dropped}]
    seen = []
    for phase, number, ids, top in answers:
        assert ids in states, (phase, number, sorted(ids))
        seen.append(states.index(ids))
        if number == 1:  # the upload of the probe finds it first (a near-exact match) once it is there
            assert (top == probe_id) == (probe_id in ids), (phase, top)
    assert seen == sorted(seen), f"an answer went back to an older state: {seen}"
    phases = [phase for phase, *_ in answers]
    assert {s for p, s in zip(phases, seen, strict=True) if p == "before"} == {0}
    assert {s for p, s in zip(phases, seen, strict=True) if p == "added"} == {len(new_ids)}
    assert {s for p, s in zip(phases, seen, strict=True) if p == "removed"} == {len(states) - 1}
    assert phases.count("adding") >= 3, "queries were answered while the other process added"
    assert check_consistent(catalog_copy) == sorted(initial - {dropped})


# -- open catalogs follow other processes -----------------------------------------------------------------------
def test_a_reindex_reaches_a_running_server(served: TestClient, catalog_copy: Path, tiny_catalog: TinyCatalog) -> None:
    """`reindex` changes no row, so it leaves the revision alone and bumps the index generation: a running
    server loads the new indexes at its next query, not at its next write or restart."""
    client, service = served, served.app.state.service
    query = tiny_catalog.ids["A_restyled"]

    def similar() -> list[tuple[int, float]]:
        response = client.get(f"/items/{query}/similar", params={"space": "adain", "k": 20})
        assert response.status_code == 200, response.text
        return [(hit["id"], hit["score"]) for hit in response.json()["results"]]

    def served_types() -> dict[str, str]:
        with service.session.reading():
            return {space: service.session.searcher().index(space).index_type for space in CATALOG_SPACES}

    before = similar()
    assert served_types() == dict.fromkeys(CATALOG_SPACES, "flat")
    with Catalog.open(catalog_copy) as catalog:
        revision, generation = catalog.revision, catalog.index_generation
    run = run_inprocess("reindex", "--catalog", catalog_copy, "--index", "hnsw", "--space", "adain", "gram")
    assert run.rc == 0, run.err
    assert served_types() == {"content": "flat", "adain": "hnsw", "gram": "hnsw"}
    assert similar() == before  # 9 items: the hnsw graph finds them all, with the same scores
    with Catalog.open(catalog_copy) as catalog:
        assert (catalog.revision, catalog.index_generation) == (revision, generation + 1)


def saved_types(catalog_dir: Path) -> dict[str, str]:
    """Each space's index type as saved on disk (its manifest)."""
    return {
        space: json.loads((catalog_dir / "index" / space / "manifest.json").read_text())["index_type"]
        for space in CATALOG_SPACES
    }


def _record(name: str, seed: int) -> ItemRecord:
    """An ok item with random unit vectors in the session catalog's spaces (as another process would write)."""
    rng = np.random.default_rng(seed)
    vectors = {}
    for space in CATALOG_SPACES:
        vector = rng.standard_normal(SPACES[space].dim).astype(np.float32)
        vectors[space] = SpaceVectors(vector / np.linalg.norm(vector))
    return ItemRecord(path=f"/elsewhere/{name}.png", status="ok", kind="image", sha256=f"{seed:064x}", vectors=vectors)


def test_a_writer_never_saves_an_index_that_missed_another_write(catalog_copy: Path) -> None:
    """A catalog whose indexes were opened before another process wrote or reindexed, and which then writes
    itself: it must not patch those indexes and save them as current (they would lack the other write, or undo
    the reindex); it drops them, and the next open rebuilds them from the rows, with the reindexed type."""
    first = Catalog.open(catalog_copy)
    try:
        searcher = Searcher(first)
        for space in CATALOG_SPACES:
            searcher.index(space)  # opened at the current revision

        with Catalog.open(catalog_copy) as other, other.writing():  # another process writes one item
            (other_id,) = other.write_batch([_record("other", 1)])
        with first.writing():
            (own_id,) = first.write_batch([_record("own", 2)])
        ok_ids = check_consistent(catalog_copy, search=False)
        assert {other_id, own_id} <= set(ok_ids) and len(ok_ids) == 11

        for space in CATALOG_SPACES:
            searcher.index(space)  # opened again: current
        run = run_inprocess("reindex", "--catalog", catalog_copy, "--index", "hnsw")  # another process reindexes
        assert run.rc == 0, run.err
        with first.writing():  # holding the lock without writing saves the open indexes: not these flat ones
            pass
        assert saved_types(catalog_copy) == dict.fromkeys(CATALOG_SPACES, "hnsw")
        with first.writing():
            (late_id,) = first.write_batch([_record("late", 3)])
    finally:
        first.close()
    assert check_consistent(catalog_copy, search=False) == sorted([*ok_ids, late_id])
    with Catalog.open(catalog_copy) as catalog:
        assert {space: Searcher(catalog).index(space).index_type for space in CATALOG_SPACES} == dict.fromkeys(
            CATALOG_SPACES, "hnsw"
        )
