"""`styledex add --engine ray` (styledex.ray_engine) on a local Ray runtime: the same rows and vectors as the
in-process engine on the same inputs (a duplicate, a broken file and a video among them), and a run killed midway
that, run again, adds every item exactly once from the shards it kept. Real VGG19 at 64 px; ~1 min (Ray's start-up
is most of it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog
from styledex.embed.spaces import SPACES
from styledex.ray_engine import RUNS_FOLDER

from helpers.cli import cli_command, run_inprocess
from helpers.media import make_image, make_video

pytest.importorskip("ray", reason="the scale extra (pip install -e '.[scale]') is not installed")

CONFIG = """\
embed: {image_size: 64, spaces: [content, adain], batch_size: 4}
media: {frames: 3}
catalog: {items_per_batch: %d}
"""
# Items of the kill tests, one per shard: enough that the run is still going when the kill comes after 3 shards.
ITEMS = 24
FIELDS = ("kind", "sha256", "size", "width", "height", "duration", "frames", "status", "error", "metadata")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "media"
    folder.mkdir()
    for i in range(5):
        make_image(folder / f"im{i}.png", size=(64, 48), seed=i, pattern=("noise", "gradient", "checker")[i % 3])
    (folder / "im0_again.png").write_bytes((folder / "im0.png").read_bytes())  # a duplicate: skipped
    (folder / "broken.png").write_bytes(b"not a png")  # recorded as failed
    make_video(folder / "clip.mp4", n_frames=12)
    return folder


def _config(tmp_path: Path, per_batch: int) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG % per_batch)
    return path


def _rows(catalog_dir: Path) -> dict[str, dict]:
    """Every item of a catalog by path: its fields and, per space, its item and frame vectors and views."""
    out = {}
    with Catalog.open(catalog_dir) as catalog:
        for item in catalog.items():
            row = {field: item[field] for field in FIELDS}
            for space in ("content", "adain"):
                row[space] = catalog.item_vector(item["id"], space)
                row[f"{space} frames"] = catalog.frame_vectors(item["id"], space)[1]
            row["views"] = catalog.item_views(item["id"], "content", SPACES["content"].dim)
            out[item["path"]] = row
    return out


def test_the_ray_engine_adds_what_the_inprocess_engine_adds(media: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, 3)
    here = run_inprocess("--config", config, "add", media, "--catalog", tmp_path / "here", "--json")
    ray = run_inprocess("--config", config, "add", media, "--catalog", tmp_path / "ray", "--engine", "ray",
                        "--workers", "2", "--json")  # fmt: skip
    assert here.rc == 0 and ray.rc == 0, ray.err
    for key in ("added", "skipped", "failed", "frames"):
        assert ray.json()[key] == here.json()[key], key
    assert (ray.json()["added"], ray.json()["skipped"], ray.json()["failed"], ray.json()["resumed"]) == (6, 1, 1, 0)
    expected, got = _rows(tmp_path / "here"), _rows(tmp_path / "ray")
    assert sorted(got) == sorted(expected)  # the same paths: the duplicate skipped by both, the same one
    for path, row in expected.items():
        assert {f: got[path][f] for f in FIELDS} == {f: row[f] for f in FIELDS}, path
        if row["status"] != "ok":
            continue
        for space in ("content", "adain"):
            assert float(got[path][space] @ row[space]) >= 0.9999, (path, space)
            frames = got[path][f"{space} frames"]
            assert frames.shape == row[f"{space} frames"].shape
            assert np.all(np.sum(frames * row[f"{space} frames"], axis=1) >= 0.9999)
        assert np.allclose(got[path]["views"], row["views"], atol=2e-3)
    assert not (tmp_path / "ray" / RUNS_FOLDER).exists() or not any((tmp_path / "ray" / RUNS_FOLDER).iterdir())
    # the same ids in the same order (the merge commits in source order), so the same search answers
    assert _ids_by_path(tmp_path / "ray") == _ids_by_path(tmp_path / "here")
    searches = [run_inprocess("search", "--catalog", tmp_path / catalog, "--space", "content", "--id", "2", "--json")
                for catalog in ("here", "ray")]  # fmt: skip
    found = [[(hit["id"], round(hit["score"], 4)) for hit in run.json()["2"]] for run in searches]
    assert found[0] == found[1] and len(found[0]) == 5


def _ids_by_path(catalog_dir: Path) -> dict[str, int]:
    with Catalog.open(catalog_dir) as catalog:
        return {item["path"]: item["id"] for item in catalog.items(status="ok")}


@pytest.mark.parametrize("victim", ["driver", "worker"])
def test_a_run_killed_midway_adds_each_item_once_when_run_again(tmp_path: Path, victim: str) -> None:
    """driver: the command and its local Ray runtime killed (SIGKILL) after 3 shards; nothing is in the catalog yet
    and the rerun embeds only what no shard holds. worker: one embedding actor killed; Ray restarts it and retries
    its batch, and the run (or the rerun, if the run gave up) ends with every item once."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(ITEMS):
        make_image(folder / f"p{i:02d}.png", size=(64, 64), seed=100 + i, pattern="noise")
    config = _config(tmp_path, 1)  # one item per shard: many chances to be killed between two
    catalog_dir = tmp_path / "catalog"
    command = cli_command("--config", config, "add", folder, "--catalog", catalog_dir, "--engine", "ray", "--json")
    # Its own process group, so a kill can take the driver and the local Ray runtime it started.
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    runs = catalog_dir / RUNS_FOLDER
    deadline = time.monotonic() + 240
    try:
        while len(list(runs.glob("*/*.parquet"))) < 3:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "no shards written in 240 s"
            time.sleep(0.2)
        if victim == "driver":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            actors = subprocess.run(["pgrep", "-f", "EmbedWriter"], capture_output=True, text=True).stdout.split()
            assert actors, "no embedding actor found"
            os.kill(int(actors[0]), signal.SIGKILL)
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    first = json.loads(out) if proc.returncode == 0 else None
    assert proc.returncode == 0 or "Traceback" not in err, err  # a run that gave up says why in one line
    shards = len(list(runs.glob("*/*.parquet")))
    if victim == "driver":
        assert 3 <= shards < ITEMS and first is None
        with Catalog.open(catalog_dir) as catalog:
            assert catalog.count() == 0  # nothing merged yet: every finished batch is in a shard

    rerun = run_inprocess("--config", config, "add", folder, "--catalog", catalog_dir, "--engine", "ray", "--json")
    assert rerun.rc == 0, rerun.err
    added = rerun.json()["added"] + (first["added"] if first else 0)
    assert added == ITEMS and rerun.json()["failed"] == 0
    if victim == "driver":
        assert rerun.json()["resumed"] >= shards
    with Catalog.open(catalog_dir) as catalog:
        paths = [item["path"] for item in catalog.items(status=None)]
    assert sorted(paths) == sorted(str(p) for p in folder.iterdir())  # each exactly once
    assert not runs.exists() or not any(runs.iterdir())  # the run's shards are gone once merged


def test_ray_options_without_the_ray_engine_are_one_line_errors(media: Path, tmp_path: Path) -> None:
    run = run_inprocess("add", media, "--catalog", tmp_path / "c", "--workers", "2")
    assert run.rc == 2 and run.error_lines == ["styledex: error: --ray-address and --workers go with --engine ray"]
    zero = run_inprocess("add", media, "--catalog", tmp_path / "c", "--engine", "ray", "--workers", "0")
    assert zero.rc == 2 and zero.error_lines == ["styledex: error: --workers must be at least 1, got 0"]


def test_an_unreachable_cluster_or_a_missing_ray_is_one_line(
    media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    run = run_inprocess("add", media, "--catalog", tmp_path / "c", "--engine", "ray", "--ray-address", "127.0.0.1:9")
    assert run.rc == 2 and len(run.error_lines) == 1, run.err
    assert run.error_lines[0].startswith("styledex: error: cannot join Ray at 127.0.0.1:9: ")
    assert time.monotonic() - started < 60  # not Ray's minutes of retrying an unreachable head
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the scale extra were not installed
    missing = run_inprocess("add", media, "--catalog", tmp_path / "c", "--engine", "ray")
    expected = "styledex: error: --engine ray needs Ray: pip install -e '.[scale]'"
    assert missing.rc == 2 and missing.error_lines == [expected]
