"""Crash safety of the catalog: SIGKILL at random moments during `add`, `reindex` and `remove`, a full disk during
a write, and damaged index files on disk.

After every kill the same facts are checked (:func:`check_consistent`): the catalog opens, SQLite's integrity
check passes, each ok item has one vector per space, no content hash or path is there twice, every index that
claims the current revision holds exactly the ok items (a stale one is rebuilt, and then holds them too), and a
rerun of the interrupted command completes.

Kill moments are counted from the moment the process has the catalog open (read from /proc/<pid>/fd, so the ~5 s
of interpreter and torch start-up are not sampled). ``pytest -m slow tests/robustness/test_crash.py`` runs 20 kills
of each command at seeded uniform moments across its working time, measured by running it to completion first (and
measured again from any run that ends before its kill moment, as a busy machine makes the first measure long).
The default run kills each command a few times at seeded moments after events that do not depend on the
machine's speed: a commit of the catalog, an index file being written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from styledex.catalog import DB_NAME, Catalog
from styledex.index import IndexMismatchError, SpaceIndex
from styledex.search import Searcher

from helpers.catalogs import TinyCatalog, build_vector_catalog, check_consistent
from helpers.cli import PROGRESS_LINE, cli_command, run_inprocess
from helpers.media import make_image

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="kill timing reads /proc/<pid>/fd")

N_IMAGES = 24
SLOW_TRIALS = 20

# Two items per committed batch, and the indexes saved after every batch, so a kill can land between a commit and
# an index save, or in the middle of one.
CRASH_CONFIG = """\
embed: {image_size: 64, spaces: [content, adain, gram], batch_size: 2}
media: {frames: 3}
catalog: {items_per_batch: 2, index_save_seconds: 0.001}
"""

# `reindex` and `remove` need no embedding: a synthetic catalog (clustered random unit vectors in two real spaces)
# large enough that building an hnsw graph or an ivfpq quantizer takes about a second per space.
SYNTHETIC_SPACES = ("content", "adain")
SYNTHETIC_ITEMS = 1000
# ivfpq small enough to train on 1000 vectors: m = 16 divides both 2048 and 2944.
REINDEX_CONFIG = "index: {ivfpq: {nlist: 16, m: 16, nprobe: 8}}\n"


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


@pytest.fixture(scope="module")
def reindex_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reindex_config") / "reindex.yaml"
    path.write_text(REINDEX_CONFIG)
    return path


@pytest.fixture(scope="module")
def synthetic_flat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic catalog whose flat indexes are saved on disk (the state `reindex` starts from)."""
    directory = tmp_path_factory.mktemp("synthetic") / "flat"
    build_vector_catalog(directory, SYNTHETIC_ITEMS, SYNTHETIC_SPACES).close()
    with Catalog.open(directory) as catalog, catalog.writing():
        searcher = Searcher(catalog)
        for space in SYNTHETIC_SPACES:
            assert searcher.index(space).index_type == "flat"
    return directory


@pytest.fixture(scope="module")
def synthetic_hnsw(synthetic_flat: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same catalog with hnsw indexes: removing from one rebuilds its graph, which takes `remove` a while."""
    directory = tmp_path_factory.mktemp("synthetic") / "hnsw"
    shutil.copytree(synthetic_flat, directory)
    assert run_inprocess("reindex", "--catalog", directory, "--index", "hnsw").rc == 0
    return directory


# -- killing a command at a chosen moment -----------------------------------------------------------------------
def _has_open(pid: int, path: Path) -> bool:
    """Whether process ``pid`` holds ``path`` open (Linux: the links in /proc/<pid>/fd)."""
    target = str(path)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:  # exited
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                return True
    return False


@dataclass
class Outcome:
    """How one run under :func:`kill_during` ended."""

    killed: bool  # False: the command exited on its own before the kill moment
    returncode: int
    stderr: str
    opened_after_s: float  # seconds from the start until the command had the catalog open
    ran_s: float  # seconds from that moment until the kill or the exit


def kill_during(
    command: Sequence[str],
    db: Path,
    delay: float,
    *,
    after: Callable[[], bool] | None = None,
    after_every: float = 0.002,
    timeout: float = 180.0,
) -> Outcome:
    """Run ``command`` and SIGKILL it ``delay`` seconds after it opened ``db`` (the catalog's SQLite file), or,
    with ``after``, ``delay`` seconds after ``after()`` first held once it had (polled every ``after_every`` s)."""
    db = db.resolve()
    with tempfile.TemporaryFile() as err:  # a file, not a pipe: a full pipe would stall the process
        started = time.monotonic()
        proc = subprocess.Popen(list(command), stdout=subprocess.DEVNULL, stderr=err)
        try:
            while not _has_open(proc.pid, db) and proc.poll() is None:
                if time.monotonic() - started > timeout:
                    pytest.fail(f"{command[3:]} did not open {db} within {timeout} s")
                time.sleep(0.002)
            opened = time.monotonic()
            while after is not None and proc.poll() is None and not after():
                time.sleep(after_every)
            moment = time.monotonic() + delay
            while proc.poll() is None and time.monotonic() < moment:
                time.sleep(0.002)
            killed = proc.poll() is None
            if killed:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        ran = time.monotonic() - opened
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    assert not killed or proc.returncode == -signal.SIGKILL
    return Outcome(killed, proc.returncode, stderr, opened - started, ran)


def committed(db: Path) -> tuple[int, int]:
    """(revision, ok items) as committed now, read without a lock or a write (0, 0 before the tables exist)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.5)) as conn:
            revision = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
            count = conn.execute("SELECT COUNT(*) FROM items WHERE status = 'ok'").fetchone()[0]
            return (int(revision[0]) if revision else 0), int(count)
    except sqlite3.Error:  # not created yet, or mid-creation
        return 0, 0


def saving(catalog_dir: Path) -> bool:
    """Whether an index save is under way (its temporary file exists)."""
    return any((catalog_dir / "index").glob("*/*.tmp"))


def work_seconds(command: Sequence[str], db: Path) -> float:
    """Seconds ``command`` works once it has ``db`` open (it runs to completion; it must succeed)."""
    outcome = kill_during(command, db, delay=3600.0)
    assert outcome.returncode == 0, outcome.stderr
    return outcome.ran_s


# -- what must hold after any crash -----------------------------------------------------------------------------
def saved_index_types(catalog_dir: Path) -> dict[str, str]:
    """Each space's index type as saved on disk (its manifest)."""
    return {
        space: json.loads((catalog_dir / "index" / space / "manifest.json").read_text())["index_type"]
        for space in SYNTHETIC_SPACES
    }


def assert_saved_indexes_current(catalog_dir: Path) -> None:
    """After a completed write or reindex: every saved index opens without a rebuild at the current revision."""
    with Catalog.open(catalog_dir) as catalog:
        for space, fingerprint in catalog.get_meta("embed")["spaces"].items():
            saved = SpaceIndex.open(catalog.index_dir(space), expected_fingerprint=fingerprint)
            assert saved.revision == catalog.revision, space


# -- add --------------------------------------------------------------------------------------------------------
def _add(config: Path, folder: Path, catalog_dir: Path) -> list[str]:
    return cli_command("--config", config, "add", folder, "--catalog", catalog_dir, "--quiet")


def _resume_add(config: Path, folder: Path, catalog_dir: Path, survived: int) -> None:
    """Rerun the interrupted `add`: it adds exactly what the crash lost, and skips what survived."""
    total = len(list(folder.iterdir()))
    resumed = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--json")
    assert resumed.rc == 0, resumed.err
    summary = resumed.json()
    assert (summary["added"], summary["skipped"], summary["failed"]) == (total - survived, survived, 0)
    assert len(check_consistent(catalog_dir)) == total
    assert_saved_indexes_current(catalog_dir)


def test_sigkill_during_add_then_resume(image_folder: Path, crash_config: Path, tmp_path: Path) -> None:
    folder = tmp_path / "images"  # 8 of the images: 4 batches of 2
    folder.mkdir()
    for path in sorted(image_folder.iterdir())[:8]:
        shutil.copy(path, folder)
    rng = random.Random(6001)
    # Two seeded moments: early (creating the catalog and its indexes, the first batch), and just after the second
    # batch's commit (inside the index save that follows it, or the next batch). The whole add ends 1.2-1.4 s after
    # it opens the catalog on a 2-core CI machine: an early moment of up to 1 s (0.92 s with this seed) let it
    # finish first now and then, so the early one stays within the first 0.5 s.
    trials = [(rng.uniform(0.0, 0.5), None), (rng.uniform(0.0, 0.05), 4)]
    for trial, (delay, after_items) in enumerate(trials):
        catalog_dir = tmp_path / f"catalog{trial}"
        db = catalog_dir / DB_NAME
        after = None if after_items is None else (lambda n=after_items, db=db: committed(db)[1] >= n)
        outcome = kill_during(_add(crash_config, folder, catalog_dir), db, delay, after=after, after_every=0.01)
        assert outcome.killed, f"add finished {outcome.ran_s:.1f} s after opening, before the kill"
        survived = len(check_consistent(catalog_dir))
        # The kill may land after the last batch's commit (inside the final index save): all 8 then survive, and
        # the rerun must still find nothing to add; what must hold is consistency and no lost commit.
        assert survived <= 8 and (after_items is None or survived >= after_items)
        _resume_add(crash_config, folder, catalog_dir, survived)


@pytest.mark.slow
def test_sigkill_during_add_twenty_times(image_folder: Path, crash_config: Path, tmp_path: Path) -> None:
    rng = random.Random(20240601)
    reference = tmp_path / "reference"
    full = work_seconds(_add(crash_config, image_folder, reference), reference / DB_NAME)
    catalog_dir = tmp_path / "catalog"
    killed, finished, survived_counts = 0, 0, []
    while killed < SLOW_TRIALS:
        assert finished <= SLOW_TRIALS, f"too many runs ended before their kill moment (work {full:.1f} s)"
        # Every other trial on a fresh catalog; the others kill a rerun on a catalog that survived a crash.
        if killed % 2 == 0 and catalog_dir.exists():
            shutil.rmtree(catalog_dir)
        done = len(check_consistent(catalog_dir, search=False)) if catalog_dir.exists() else 0
        # The moment: uniform over the working time still ahead (a rerun skips what is already there).
        delay = rng.uniform(0.0, full * max(0.25, (N_IMAGES - done) / N_IMAGES))
        outcome = kill_during(_add(crash_config, image_folder, catalog_dir), catalog_dir / DB_NAME, delay)
        if not outcome.killed:
            assert outcome.returncode == 0, outcome.stderr
            finished += 1
            # Faster than estimated (the machine is less busy than when it was measured): estimate from this run.
            full = outcome.ran_s / max(0.25, (N_IMAGES - done) / N_IMAGES)
            shutil.rmtree(catalog_dir)
            continue
        killed += 1
        survived = len(check_consistent(catalog_dir))
        assert done <= survived <= N_IMAGES
        survived_counts.append(survived)
        if killed % 2 == 0:  # every second crash: the rerun completes
            _resume_add(crash_config, image_folder, catalog_dir, survived)
    assert killed == SLOW_TRIALS
    assert len(set(survived_counts)) >= 5, f"kill moments spread over the run: {survived_counts}"
    print(f"add: {killed} kills survived, {finished} runs finished first; items committed at the kills: "
          f"{sorted(survived_counts)}")  # fmt: skip


# -- reindex ----------------------------------------------------------------------------------------------------
def _reindex(config: Path, catalog_dir: Path, index_type: str) -> list[str]:
    return cli_command("--config", config, "reindex", "--catalog", catalog_dir, "--index", index_type, "--json")


def _reindex_trial(
    config: Path, catalog_dir: Path, index_type: str, delay: float, after: Callable[[], bool] | None = None
) -> Outcome:
    """Kill `reindex --index TYPE` (see kill_during); check; rerun it; check it took effect everywhere."""
    before_ids = check_consistent(catalog_dir, search=False)
    before_types = saved_index_types(catalog_dir)
    outcome = kill_during(_reindex(config, catalog_dir, index_type), catalog_dir / DB_NAME, delay, after=after)
    assert outcome.killed or outcome.returncode == 0, outcome.stderr
    assert check_consistent(catalog_dir, search=False) == before_ids, "a reindex changes no item"
    # Each space has its old index or its new one (or, killed inside a save, one detected as stale and rebuilt).
    assert all(saved_index_types(catalog_dir)[s] in (before_types[s], index_type) for s in SYNTHETIC_SPACES)

    rerun = run_inprocess("--config", config, "reindex", "--catalog", catalog_dir, "--index", index_type, "--json")
    assert rerun.rc == 0, rerun.err
    rows = rerun.json()["reindex"]
    assert [(row["space"], row["index"], row["count"]) for row in rows] == [
        (space, index_type, len(before_ids)) for space in SYNTHETIC_SPACES
    ]
    assert check_consistent(catalog_dir, search=False) == before_ids
    assert saved_index_types(catalog_dir) == dict.fromkeys(SYNTHETIC_SPACES, index_type)
    assert_saved_indexes_current(catalog_dir)
    with Catalog.open(catalog_dir) as catalog:  # a later rebuild keeps the type the reindex chose
        assert catalog.stored_index_settings()["policy"] == index_type
    return outcome


def test_sigkill_during_reindex_then_rerun(synthetic_flat: Path, reindex_config: Path, tmp_path: Path) -> None:
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(synthetic_flat, catalog_dir)
    # The riskiest moment: inside the save of the first new index (its temporary file is being written), or
    # right after it; seeded.
    delay = random.Random(6002).uniform(0.0, 0.05)
    outcome = _reindex_trial(reindex_config, catalog_dir, "hnsw", delay, after=lambda: saving(catalog_dir))
    assert outcome.killed, f"reindex finished {outcome.ran_s:.2f} s after opening, before the kill"


@pytest.mark.slow
def test_sigkill_during_reindex_twenty_times(synthetic_flat: Path, reindex_config: Path, tmp_path: Path) -> None:
    rng = random.Random(20240602)
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(synthetic_flat, catalog_dir)
    # The same catalog throughout: each trial reindexes it to another type than it has (killed, then rerun).
    order = ("hnsw", "ivfpq", "flat")
    work: dict[str, float] = {}
    for index_type in order:
        calibration = tmp_path / f"calibration_{index_type}"
        shutil.copytree(synthetic_flat, calibration)
        work[index_type] = work_seconds(_reindex(reindex_config, calibration, index_type), calibration / DB_NAME)
    killed = 0
    for trial in range(SLOW_TRIALS * 3):
        index_type = order[trial % 3]
        outcome = _reindex_trial(reindex_config, catalog_dir, index_type, rng.uniform(0.0, work[index_type]))
        killed += outcome.killed
        if not outcome.killed:  # faster than estimated (a less busy machine): estimate from this run
            work[index_type] = outcome.ran_s
        if killed == SLOW_TRIALS:
            break
    assert killed == SLOW_TRIALS, f"{killed} kills in {trial + 1} runs; work seconds {work}"
    print(f"reindex: {killed} kills survived in {trial + 1} runs")


# -- remove -----------------------------------------------------------------------------------------------------
def _remove(catalog_dir: Path, ids: Sequence[int]) -> list[str]:
    return cli_command("remove", *ids, "--catalog", catalog_dir, "--json")


def _remove_trial(
    catalog_dir: Path, ids: list[int], delay: float, after: Callable[[], bool] | None = None
) -> tuple[Outcome, bool]:
    """Kill `remove IDS` (see kill_during): all of them are gone or none; the rerun then completes. The outcome,
    and whether the removal had been committed when the run ended."""
    before = check_consistent(catalog_dir, search=False)
    after_ids = sorted(set(before) - set(ids))
    outcome = kill_during(_remove(catalog_dir, ids), catalog_dir / DB_NAME, delay, after=after, after_every=0.01)
    assert outcome.killed or outcome.returncode == 0, outcome.stderr
    survived = check_consistent(catalog_dir, search=False)
    assert survived in (before, after_ids), "a removal is one transaction"

    rerun = run_inprocess("remove", *ids, "--catalog", catalog_dir, "--json")
    if survived == before:  # killed before the commit: the rerun removes them
        assert rerun.rc == 0, rerun.err
        assert sorted(rerun.json()["removed"]) == sorted(ids)
        assert_saved_indexes_current(catalog_dir)
    else:  # already removed: the rerun says so, on one line, and changes nothing
        assert rerun.rc == 2 and rerun.out == "" and len(rerun.error_lines) == 1
        assert f"no item with id(s) {', '.join(map(str, sorted(ids)[:20]))}" in rerun.err
    assert check_consistent(catalog_dir, search=False) == after_ids
    return outcome, survived == after_ids


def test_sigkill_during_remove_then_rerun(synthetic_hnsw: Path, tmp_path: Path) -> None:
    rng = random.Random(6003)
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(synthetic_hnsw, catalog_dir)
    ids = sorted(rng.sample(range(1, SYNTHETIC_ITEMS + 1), 100))
    # The riskiest moment: right after the removal's commit, while the hnsw graphs are being rebuilt without
    # those items and before they are saved; seeded.
    revision = committed(catalog_dir / DB_NAME)[0]
    delay = rng.uniform(0.0, 0.1)
    outcome, was_committed = _remove_trial(
        catalog_dir, ids, delay, after=lambda: committed(catalog_dir / DB_NAME)[0] > revision
    )
    assert outcome.killed, f"remove finished {outcome.ran_s:.2f} s after opening, before the kill"
    assert was_committed
    assert check_consistent(catalog_dir, search=False) == sorted(set(range(1, SYNTHETIC_ITEMS + 1)) - set(ids))


@pytest.mark.slow
def test_sigkill_during_remove_twenty_times(synthetic_hnsw: Path, tmp_path: Path) -> None:
    rng = random.Random(20240603)
    catalog_dir, calibration = tmp_path / "catalog", tmp_path / "calibration"
    shutil.copytree(synthetic_hnsw, catalog_dir)
    shutil.copytree(synthetic_hnsw, calibration)
    work = work_seconds(_remove(calibration, list(range(1, 21))), calibration / DB_NAME)
    outcomes: list[tuple[Outcome, bool]] = []
    while sum(o.killed for o, _ in outcomes) < SLOW_TRIALS:
        assert len(outcomes) < 2 * SLOW_TRIALS, f"too many runs ended before their kill moment (work {work:.2f} s)"
        # The same catalog throughout: each trial removes 20 of the items still there.
        ids = sorted(rng.sample(check_consistent(catalog_dir, search=False), 20))
        outcomes.append(_remove_trial(catalog_dir, ids, rng.uniform(0.0, work)))
        if not outcomes[-1][0].killed:  # faster than estimated (a less busy machine): estimate from this run
            work = outcomes[-1][0].ran_s
    assert len(check_consistent(catalog_dir, search=False)) == SYNTHETIC_ITEMS - 20 * len(outcomes)
    after_commit = sum(o.killed and done for o, done in outcomes)
    print(f"remove: {SLOW_TRIALS} kills survived in {len(outcomes)} runs, {after_commit} of them after the commit")


def test_remove_with_unknown_ids_removes_nothing_and_says_which(catalog_copy: Path, tiny_catalog: TinyCatalog) -> None:
    known = tiny_catalog.ids["noise"]
    run = run_inprocess("remove", known, 999999, 424242, known, "--catalog", catalog_copy, "--json")
    assert run.rc == 2 and run.out == ""
    assert run.err_lines == [
        f"styledex: error: no item with id(s) 424242, 999999 in catalog {catalog_copy}; nothing removed"
    ]
    assert len(run_inprocess("list", "--catalog", catalog_copy, "--json").json()) == 9
    # The known id alone (given twice: removed and reported once).
    run = run_inprocess("remove", known, known, "--catalog", catalog_copy, "--json")
    assert run.rc == 0 and run.json() == {"removed": [known]}
    assert len(run_inprocess("list", "--catalog", catalog_copy, "--json").json()) == 8


# -- a full disk ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def file_size_limit(limit: int) -> Iterator[None]:
    """Make every write past ``limit`` bytes of any file fail with EFBIG in this process (RLIMIT_FSIZE; Python
    ignores the SIGXFSZ that comes with it), as a full disk fails a write. The soft limit only: it is restored."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def _full_disk_setup(tiny_catalog: TinyCatalog, tmp_path: Path) -> tuple[Path, Path, Path, list[int]]:
    """A copy of the session catalog, a config writing one item per transaction and saving the indexes after
    each, and a folder of 3 new images; the ok ids already there."""
    catalog_dir = tmp_path / "catalog"
    shutil.copytree(tiny_catalog.directory, catalog_dir)
    with Catalog.open(catalog_dir) as catalog:  # the log empty: each write then lands at a known file offset
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    config = tmp_path / "one_per_batch.yaml"
    config.write_text(CRASH_CONFIG.replace("items_per_batch: 2", "items_per_batch: 1"))
    folder = tmp_path / "new"
    folder.mkdir()
    for i in range(3):
        make_image(folder / f"new{i}.png", size=(40, 40), seed=700 + i, pattern="noise")
    before = check_consistent(catalog_dir)
    assert len(before) == 9
    return catalog_dir, config, folder, before


def _full_disk_index_limit(catalog_dir: Path) -> int:
    """A file size limit (bytes) above one item's write-ahead log and below the adain index once it holds a tenth
    item (its 9-item file grows by a ninth)."""
    return _index_bytes(catalog_dir, "adain") * 10 // 9 - 1024


def _after_full_disk(catalog_dir: Path, before: list[int], config: Path, folder: Path) -> list[int]:
    """What a failed write must leave: the catalog sound, what was there before still there and searchable; a
    rerun with room to write adds the rest. The ok ids after the failure."""
    survived = check_consistent(catalog_dir)
    assert set(before) <= set(survived)
    for item_id in before:  # each item it had still finds all the others
        hits = run_inprocess(
            "search", "--catalog", catalog_dir, "--id", item_id, "--space", "gram", "-k", 100, "--json"
        )
        assert hits.rc == 0, hits.err
        assert sorted(h["id"] for h in hits.json()[str(item_id)]) == sorted(set(survived) - {item_id})
    rerun = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--json")
    assert rerun.rc == 0, rerun.err
    assert rerun.json()["added"] + rerun.json()["skipped"] == 3 and rerun.json()["failed"] == 0
    assert len(check_consistent(catalog_dir)) == len(before) + 3
    assert_saved_indexes_current(catalog_dir)
    return survived


def _index_bytes(catalog_dir: Path, space: str) -> int:
    return (catalog_dir / "index" / space / "index.faiss").stat().st_size


def test_full_disk_during_the_commit_fails_cleanly(tiny_catalog: TinyCatalog, tmp_path: Path) -> None:
    catalog_dir, config, folder, before = _full_disk_setup(tiny_catalog, tmp_path)
    # 40 KiB: room for SQLite's 32 KiB shared-memory file, not for one item's vectors (35 KiB over three spaces)
    # with the pages around them, so SQLite cannot write the first transaction to its log.
    with file_size_limit(40 * 1024):
        run = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--json")
    assert run.rc == 2 and run.out == "" and len(run.error_lines) == 1, run.err
    (error,) = run.error_lines
    assert error.startswith(f"styledex: error: cannot add 1 item(s) in catalog {catalog_dir}: ")
    assert error.endswith("nothing of this write was kept")
    assert _after_full_disk(catalog_dir, before, config, folder) == before


def test_full_disk_during_an_index_save_fails_cleanly(tiny_catalog: TinyCatalog, tmp_path: Path) -> None:
    catalog_dir, config, folder, before = _full_disk_setup(tiny_catalog, tmp_path)
    # Room for the first item's transaction (107 KB of log with its content views) and for the 10-item content
    # index (2048-d), not for the 10-item adain index (2944-d, 118 KB): the first save fails after the first commit.
    limit = _full_disk_index_limit(catalog_dir)
    assert _index_bytes(catalog_dir, "content") * 10 // 9 + 1024 < limit
    with file_size_limit(limit):
        run = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--json")
    assert run.rc == 2 and run.out == "" and len(run.error_lines) == 1, run.err
    (error,) = run.error_lines
    # At this limit the adain file fails only in FAISS's final flush, which FAISS itself logged and ignored (the save
    # passed, leaving a short file, and the gram index failed next): index/persistence.py writes through Python now.
    where = re.escape(str(catalog_dir))
    assert re.match(rf"styledex: error: cannot save the 'adain' index of catalog {where}: ", error), error
    assert "File too large" in error
    assert not list((catalog_dir / "index").glob("*/*.tmp")), "half-written files are removed"
    # The first item was committed before the failed save and is kept; its indexes are rebuilt from the rows.
    survived = _after_full_disk(catalog_dir, before, config, folder)
    assert len(survived) == len(before) + 1


@pytest.mark.slow
@pytest.mark.parametrize("where", ["commit", "index"])
def test_full_disk_in_a_real_process(tiny_catalog: TinyCatalog, tmp_path: Path, where: str) -> None:
    """The same two failures in a `styledex add` process of its own: exit 2, one line on stderr, no traceback."""
    catalog_dir, config, folder, before = _full_disk_setup(tiny_catalog, tmp_path)
    limit = 40 * 1024 if where == "commit" else _full_disk_index_limit(catalog_dir)

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    proc = subprocess.run(
        cli_command("--config", config, "add", folder, "--catalog", catalog_dir, "--json"),
        capture_output=True, text=True, preexec_fn=limited, timeout=300, check=False,
    )  # fmt: skip
    # progress lines aside (stderr is a pipe here), exactly one line: the error
    lines = [line for line in proc.stderr.splitlines() if line.strip() and not PROGRESS_LINE.match(line)]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    expected = (rf"cannot add 1 item\(s\) in catalog {re.escape(str(catalog_dir))}" if where == "commit"
                else rf"cannot save the 'adain' index of catalog {re.escape(str(catalog_dir))}")  # fmt: skip
    assert re.match(f"styledex: error: {expected}", lines[0]), lines[0]
    survived = _after_full_disk(catalog_dir, before, config, folder)
    assert len(survived) == len(before) + (where == "index")


# -- damaged files ----------------------------------------------------------------------------------------------
def test_damaged_index_files_are_rebuilt_from_the_raw_vectors(tiny_catalog: TinyCatalog, catalog_copy: Path) -> None:
    query = tiny_catalog.ids["A_restyled"]
    spaces = ("content", "adain", "gram")

    def results(catalog_dir: Path) -> dict[str, list]:
        out = {}
        for space in spaces:
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
        assert all(len(searcher.index(space)) == 9 for space in spaces)
    assert results(catalog_copy) == before

    # `reindex` (as the next write would) saves sound indexes again: they then open from disk without a rebuild.
    assert run_inprocess("reindex", "--catalog", catalog_copy).rc == 0
    with Catalog.open(catalog_copy) as catalog:
        for space in spaces:
            index = SpaceIndex.open(index_root / space)
            assert len(index) == 9 and index.revision == catalog.revision
    assert results(catalog_copy) == before


def test_an_index_file_replaced_while_it_is_opened_is_read_as_checked(
    catalog_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`SpaceIndex.open` checks and reads one open file: a save by another process in between cannot slip a
    newer index.faiss under the checks made against the old manifest."""
    directory = catalog_copy / "index" / "content"
    other = tmp_path / "other"
    shutil.copytree(directory, other)
    smaller = SpaceIndex.open(other)
    smaller.remove(smaller.ids()[:1])
    smaller.save()  # an 8-item index.faiss, ready to be moved over the 9-item one
    real_digest = hashlib.file_digest

    def replace_then_hash(handle, digest):  # noqa: ANN001, ANN202 - hashlib.file_digest's signature
        if (other / "index.faiss").exists():  # the other writer's os.replace lands right after open() took its handle
            os.replace(other / "index.faiss", directory / "index.faiss")
        return real_digest(handle, digest)

    monkeypatch.setattr(hashlib, "file_digest", replace_then_hash)
    opened = SpaceIndex.open(directory)
    monkeypatch.undo()
    assert len(opened) == 9  # the file that was checked against the manifest, not the one that replaced it
    with pytest.raises(IndexMismatchError, match="interrupted save"):
        SpaceIndex.open(directory)  # now: the 8-item file beside the 9-item manifest, refused
