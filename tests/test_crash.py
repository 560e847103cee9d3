"""Crash safety of the catalog: SIGKILL during `add` then resume, a damaged index on disk, concurrent writers."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from conftest import TinyCatalog, cli_command, run_inprocess
from fixtures import make_image

from styledex.catalog import DB_NAME, Catalog
from styledex.index import SpaceIndex
from styledex.search import Searcher

SPACES = ("content", "adain", "gram")
N_IMAGES = 24

# Two items per committed batch, and the indexes saved after every batch, so a kill can land between a commit and
# an index save, or in the middle of one.
CRASH_CONFIG = """\
embed: {image_size: 64, spaces: [content, adain, gram], batch_size: 2}
media: {frames: 3}
catalog: {items_per_batch: 2, index_save_seconds: 0.001}
"""


@pytest.fixture(scope="module")
def crash_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash_config") / "crash.yaml"
    path.write_text(CRASH_CONFIG)
    return path


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("crash_images")
    patterns = ("noise", "gradient", "checker")
    for i in range(N_IMAGES):
        make_image(folder / f"img{i:02d}.png", size=(48, 48), seed=100 + i, pattern=patterns[i % 3])
    return folder


def _ok_count_readonly(db: Path) -> int:
    """Committed ok items, read through a read-only connection (never blocks or writes the catalog)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM items WHERE status = 'ok'").fetchone()[0])
    except sqlite3.Error:  # not created yet, or mid-creation
        return 0


def _kill_when(proc: subprocess.Popen, db: Path, at_least: int, delay: float = 0.0, timeout: float = 120.0) -> int:
    """SIGKILL ``proc`` ``delay`` seconds after ``db`` shows ``at_least`` committed ok items (delay 0: right after
    a commit; a little more: inside the next batch's embedding or an index save); the count seen then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = _ok_count_readonly(db)
        if seen >= at_least:
            time.sleep(delay)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            return seen
        if proc.poll() is not None:
            pytest.fail(f"add exited (rc {proc.returncode}) before {at_least} items were committed: "
                        f"{proc.stderr.read() if proc.stderr else ''}")  # fmt: skip
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no {at_least} committed items within {timeout} s")


def check_consistent(catalog_dir: Path) -> int:
    """Everything that must hold after a crash: integrity, one vector per space per ok item, indexes that agree
    with the rows after opening, one row per content hash and per path. Returns the number of ok items."""
    db = catalog_dir / DB_NAME
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        orphans = conn.execute("SELECT COUNT(*) FROM vectors WHERE item_id NOT IN (SELECT id FROM items)").fetchone()
        assert orphans[0] == 0

    listing = run_inprocess("list", "--catalog", catalog_dir, "--json")
    assert listing.rc == 0, listing.err
    items = listing.json()
    ok = [item for item in items if item["status"] == "ok"]
    assert len(ok) == len(items), "a crash must not leave failed rows for good files"
    assert len({item["sha256"] for item in ok}) == len(ok)
    assert len({item["path"] for item in items}) == len(items)

    with Catalog.open(catalog_dir) as catalog:
        searcher = Searcher(catalog)
        for space in SPACES:
            index = searcher.index(space)
            assert len(index) == len(ok), space
            assert {int(i) for i in index.ids()} == {item["id"] for item in ok}
            assert len(catalog.load_vectors(space, index.dim)[0]) == len(ok)
    if ok:
        hits = run_inprocess("search", "--catalog", catalog_dir, "--id", ok[0]["id"], "--space", "content",
                             "-k", 50, "--json")  # fmt: skip
        assert hits.rc == 0, hits.err
        assert {h["id"] for h in hits.json()[str(ok[0]["id"])]} == {item["id"] for item in ok[1:]}
    return len(ok)


def _crash_trial(folder: Path, config: Path, catalog_dir: Path, kill_at: int, delay: float) -> None:
    db = catalog_dir / DB_NAME
    proc = subprocess.Popen(
        cli_command("--config", config, "add", folder, "--catalog", catalog_dir, "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen = _kill_when(proc, db, kill_at, delay)
    assert proc.returncode == -signal.SIGKILL

    survived = check_consistent(catalog_dir)
    assert seen <= survived < N_IMAGES, "committed batches survive, and the kill came before the end"

    resumed = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--json")
    assert resumed.rc == 0, resumed.err
    summary = resumed.json()
    assert summary["failed"] == 0
    assert summary["skipped"] == survived
    assert summary["added"] + summary["skipped"] == N_IMAGES
    assert check_consistent(catalog_dir) == N_IMAGES


def test_sigkill_during_add_then_resume(image_folder: Path, crash_config: Path, tmp_path: Path) -> None:
    # Two moments: right after the first committed batch, and about half-way, inside the batch after a commit.
    for trial, (kill_at, delay) in enumerate([(1, 0.0), (N_IMAGES // 2 - 1, 0.05)]):
        _crash_trial(image_folder, crash_config, tmp_path / f"catalog{trial}", kill_at, delay)


@pytest.mark.slow
def test_sigkill_during_add_then_resume_many_times(image_folder: Path, crash_config: Path, tmp_path: Path) -> None:
    rng = random.Random(20240601)
    catalog_dir = tmp_path / "catalog"
    for trial in range(10):
        # Every other trial on a fresh catalog; the others kill a resumed `add` on a catalog that already
        # survived a crash (resume → kill again → resume).
        if trial % 2 == 0 and catalog_dir.exists():
            shutil.rmtree(catalog_dir)
        done = _ok_count_readonly(catalog_dir / DB_NAME)
        if done >= N_IMAGES - 2:
            shutil.rmtree(catalog_dir)
            done = 0
        kill_at = rng.randint(done + 1, N_IMAGES - 2)
        db = catalog_dir / DB_NAME
        proc = subprocess.Popen(
            cli_command("--config", crash_config, "add", image_folder, "--catalog", catalog_dir, "--quiet"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _kill_when(proc, db, kill_at, delay=rng.uniform(0.0, 0.12))
        survived = check_consistent(catalog_dir)
        assert kill_at <= survived <= N_IMAGES  # the delay may let the last batch finish
    resumed = run_inprocess("--config", crash_config, "add", image_folder, "--catalog", catalog_dir, "--json")
    assert resumed.rc == 0 and resumed.json()["added"] + resumed.json()["skipped"] == N_IMAGES
    assert check_consistent(catalog_dir) == N_IMAGES


def test_damaged_index_files_are_rebuilt_from_the_raw_vectors(tiny_catalog: TinyCatalog, catalog_copy: Path) -> None:
    query = tiny_catalog.ids["A_restyled"]

    def results(catalog_dir: Path) -> dict[str, list]:
        out = {}
        for space in SPACES:
            run = run_inprocess("search", "--catalog", catalog_dir, "--id", query, "--space", space, "-k", 20, "--json")
            assert run.rc == 0, run.err
            out[space] = run.json()[str(query)]
        return out

    before = results(tiny_catalog.directory)
    index_root = catalog_copy / "index"
    (index_root / "content" / "index.faiss").unlink()  # deleted file
    data = bytearray((index_root / "adain" / "index.faiss").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)  # corrupted in place, same size
    (index_root / "adain" / "index.faiss").write_bytes(bytes(data))
    (index_root / "gram" / "manifest.json").write_text("{ not json")  # corrupted manifest
    assert results(catalog_copy) == before

    # A whole space directory gone, and an index truncated to nothing.
    shutil.rmtree(index_root / "content")
    (index_root / "adain" / "index.faiss").write_bytes(b"")
    with Catalog.open(catalog_copy) as catalog:
        searcher = Searcher(catalog)
        assert all(len(searcher.index(space)) == 9 for space in SPACES)
    assert results(catalog_copy) == before

    # The next write saves sound indexes again: they then open from disk without a rebuild.
    assert run_inprocess("remove", 999999, "--catalog", catalog_copy).rc == 0
    with Catalog.open(catalog_copy) as catalog:
        for space in SPACES:
            index = SpaceIndex.open(index_root / space)
            assert len(index) == 9 and index.revision == catalog.revision


def test_two_concurrent_adds_on_one_catalog(crash_config: Path, tmp_path: Path) -> None:
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    for i in range(5):
        make_image(left / f"l{i}.png", size=(40, 40), seed=300 + i, pattern="noise")
        make_image(right / f"r{i}.jpg", size=(40, 40), seed=400 + i, pattern="gradient")
    shared = make_image(left / "shared.png", size=(40, 40), seed=999, pattern="checker")
    shutil.copy(shared, right / "shared_copy.png")  # same content in both folders: one process must skip it
    catalog_dir = tmp_path / "catalog"  # does not exist yet: both processes race to create it

    procs = [
        subprocess.Popen(
            cli_command("--config", crash_config, "add", folder, "--catalog", catalog_dir, "--json"),
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
    assert all(s["failed"] == 0 for s in summaries)
    assert sum(s["added"] for s in summaries) == 11
    assert sum(s["skipped"] for s in summaries) == 1
    assert summaries[0]["added"] + summaries[0]["skipped"] == 6
    assert summaries[1]["added"] + summaries[1]["skipped"] == 6
    assert set(summaries[0]["ids"]).isdisjoint(summaries[1]["ids"])

    assert check_consistent(catalog_dir) == 11
    names = {Path(item["path"]).name for item in run_inprocess("list", "--catalog", catalog_dir, "--json").json()}
    assert {f"l{i}.png" for i in range(5)} | {f"r{i}.jpg" for i in range(5)} <= names
    assert len(names & {"shared.png", "shared_copy.png"}) == 1
