"""The hard benchmark's builder on a tiny recipe: groups, labels, framings, cut clips, and no work when complete."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from styledex.evaluation.benchdata import build
from styledex.evaluation.benchdata.plan import HARD_COLUMNS

from helpers.recipes import TINY_HARD_RECIPE, build_tiny, manifest_rows

av = pytest.importorskip("av")

TINY = TINY_HARD_RECIPE


def _manifest(path: Path) -> list[dict[str, str]]:
    return manifest_rows(path, HARD_COLUMNS)


def _frames(path: str) -> list[np.ndarray]:
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = build_tiny(tmp_path_factory.mktemp("cache"), TINY)
    # 2 photos × 2 looks × 2 strengths, 2 × 2 reframed, 2 × 3 neural, 1 video × (3 segments + cut) × 2 looks
    assert report.counts == {"filters": 8, "reframed": 4, "neural": 6, "video_hard": 8}
    assert len(report.generated) == 26 and not report.missing
    return report.path


def test_manifest_groups_and_labels(tiny: Path) -> None:
    rows = _manifest(tiny)
    by_group = {g: [r for r in rows if r["group"] == g] for g in ("filters", "reframed", "neural", "video_hard")}
    assert sorted((r["content"], r["style"], r["heldout_op"]) for r in by_group["filters"]) == [
        (f"photo:{photo}", f"filter:{look}@{strength}", "yes" if look == "pop_halftone" else "no")
        for photo in ("astronaut", "coffee")
        for look in ("pencil_sketch", "pop_halftone")
        for strength in ("0.5", "1")
    ]
    # (photo index + look index) mod 5 picks the framing; the corner of a crop follows the photo
    assert sorted((r["content"], r["style"], r["framing"]) for r in by_group["reframed"]) == [
        ("photo:astronaut", "filter:pencil_sketch@1", "mirror"),
        ("photo:astronaut", "filter:pop_halftone@1", "crop_top_left"),
        ("photo:coffee", "filter:pencil_sketch@1", "crop_top_right"),
        ("photo:coffee", "filter:pop_halftone@1", "zoom"),
    ]
    assert Counter(r["style"] for r in by_group["neural"]) == {"cin:7": 2, "ghiasi:van_gogh": 2, "stylebank:klimt": 2}
    assert all(r["heldout_op"] == "" and r["framing"] == "" for r in by_group["neural"])
    video = by_group["video_hard"]
    assert {r["content"] for r in video} == {"video:carphone_pristine"}
    assert sorted((r["segment"], r["style"]) for r in video) == sorted(
        (seg, style) for seg in ("1", "2", "3", "cut") for style in ("filter:bw_film@1", "cin:7")
    )
    assert all(r["title"] and Path(r["path"]).is_file() for r in rows)


def test_images_keep_the_side_and_reframing_changes_the_picture(tiny: Path) -> None:
    rows = _manifest(tiny)
    for row in rows:
        if row["kind"] == "image":
            with Image.open(row["path"]) as img:
                assert img.mode == "RGB" and max(img.size) == TINY.image_side
    full = next(r for r in rows if r["group"] == "filters" and r["content"] == "photo:astronaut"
                and r["style"] == "filter:pencil_sketch@1")  # fmt: skip
    mirrored = next(r for r in rows if r["framing"] == "mirror")
    a, b = (np.asarray(Image.open(r["path"]), np.float32) for r in (full, mirrored))
    np.testing.assert_allclose(b, a[:, ::-1], atol=1)  # the mirror of the same look on the same photo


def test_cut_clip_joins_the_first_and_last_segments(tiny: Path) -> None:
    clips = {r["segment"]: r["path"] for r in _manifest(tiny) if r["group"] == "video_hard" and r["style"] == "cin:7"}
    first, last, cut = (_frames(clips[s]) for s in ("1", "3", "cut"))
    assert len(first) == len(last) == len(cut) == TINY.max_frames
    half = len(cut) // 2

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(a - b).mean())

    # each frame of the cut is (up to the encoder) the frame of its segment, and far from the other segment's
    for i in range(len(cut)):
        own, other = (first, last) if i < half else (last, first)
        assert diff(cut[i], own[i]) < diff(cut[i], other[i]) / 2, i


def test_complete_build_does_no_work(tiny: Path) -> None:
    again = build(tiny, recipe=TINY, progress=False)
    assert again.skipped and again.generated == []
