"""The ingestion pipeline (styledex.pipeline.add_sources) with the fake embedder (helpers.fake_embedder): what is
added, skipped and failed, batch by batch, and what a video stores. Tiny generated files and no network: each test
takes a fraction of a second."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from styledex.catalog import Catalog, CatalogError
from styledex.config import Config, load_config
from styledex.embed.embedder import Embedder, aggregate_frames
from styledex.pipeline import AddSummary, add_sources, decode_with_config, file_sha256, read_sources
from styledex.search import catalog_embedder
from styledex.space_indexes import SpaceIndexes

from helpers.fake_embedder import FakeEmbedder, fake_vector
from helpers.media import make_image, make_video

FRAMES = 3  # sampled per video
BATCH = 2  # items per committed batch
CONFIG = f"""\
embed: {{spaces: [content, predictor], image_size: 32}}
media: {{frames: {FRAMES}}}
catalog: {{items_per_batch: {BATCH}}}
"""
PATTERNS = ("noise", "gradient", "checker")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return load_config(path)


def _images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [
        make_image(folder / f"img{i}.png", size=(24, 16), seed=seed + i, pattern=PATTERNS[i % 3]) for i in range(n)
    ]


def _add(directory: Path, paths: list[Path], config: Config, **kwargs) -> tuple[AddSummary, FakeEmbedder]:
    """``styledex add PATHS`` as the CLI runs it, with the fake embedder: under the write lock, quietly."""
    with Catalog.open(directory, create=True) as catalog, catalog.writing():
        embedder = catalog_embedder(catalog, config, factory=FakeEmbedder)
        indexes = SpaceIndexes.of(catalog, config.index)
        summary = add_sources(indexes, read_sources(paths), config, embedder, progress=False, **kwargs)
    return summary, embedder


def test_every_image_is_added_once_with_its_vector_in_each_space(tmp_path: Path, config: Config) -> None:
    paths = _images(tmp_path / "media", 5)
    summary, embedder = _add(tmp_path / "catalog", [tmp_path / "media"], config)
    assert (len(summary.added), summary.skipped, summary.failed, summary.frames) == (5, [], [], 5)
    assert summary.added == sorted(summary.added)

    with Catalog.open(tmp_path / "catalog") as catalog:
        assert catalog.get_meta("embed") == {"spaces": embedder.fingerprints(), "image_size": 32, "aspect": "keep"}
        by_path = {item["path"]: item for item in catalog.items(status="ok")}
        assert sorted(by_path) == sorted(str(p.absolute()) for p in paths)
        for path in paths:
            item = by_path[str(path.absolute())]
            assert (item["kind"], item["width"], item["height"]) == ("image", 24, 16)
            assert (item["sha256"], item["size"]) == file_sha256(str(path))
            frame = decode_with_config(path, config).frames[0]
            for spec in embedder.specs:
                assert np.array_equal(catalog.item_vector(item["id"], spec.name), fake_vector(frame, spec))


def test_content_already_in_the_catalog_is_skipped_without_being_embedded(tmp_path: Path, config: Config) -> None:
    first = _images(tmp_path / "first", 3)
    _add(tmp_path / "catalog", [tmp_path / "first"], config)

    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(first[0], second / "renamed_copy.png")  # known content under another name
    new = make_image(second / "new.png", size=(24, 16), seed=50, pattern="noise")
    shutil.copy(new, second / "new_twin.png")  # new content, twice in one run: added once
    summary, embedder = _add(tmp_path / "catalog", [tmp_path / "first", second], config)

    assert len(summary.added) == 1 and summary.failed == []
    # In source order; the twin is decoded (its content was not in the catalog when the run began), not embedded.
    skipped = [*first, second / "new_twin.png", second / "renamed_copy.png"]
    assert summary.skipped == [str(p.absolute()) for p in skipped]
    assert embedder.calls == [1]  # new.png alone: a batch with nothing new embeds nothing
    with Catalog.open(tmp_path / "catalog") as catalog:
        assert catalog.count("ok") == 4 and catalog.count(None) == 4
        assert catalog.item(summary.added[0])["path"] == str(new.absolute())


def test_an_undecodable_file_is_recorded_as_failed_and_the_rest_are_added(tmp_path: Path, config: Config) -> None:
    media = tmp_path / "media"
    good = _images(media, 3)
    (media / "img1_text.jpg").write_text("this is a text file, not a JPEG")
    (media / "img2_empty.png").write_bytes(b"")
    summary, _ = _add(tmp_path / "catalog", [media], config)

    assert len(summary.added) == 3
    reasons = dict(summary.failed)
    assert sorted(reasons) == [str((media / "img1_text.jpg").absolute()), str((media / "img2_empty.png").absolute())]
    assert "not a decodable image" in reasons[str((media / "img1_text.jpg").absolute())]
    assert "empty file (0 bytes)" in reasons[str((media / "img2_empty.png").absolute())]
    assert all("\n" not in reason for reason in reasons.values())
    with Catalog.open(tmp_path / "catalog") as catalog:
        failed = catalog.items(status="failed")
        assert {row["path"]: row["error"] for row in failed} == reasons
        assert all(catalog.item_vector(row["id"], "content") is None for row in failed)
        assert sorted(item["path"] for item in catalog.items(status="ok")) == sorted(str(p.absolute()) for p in good)


def test_each_batch_is_committed_before_the_next_one_is_embedded(tmp_path: Path, config: Config) -> None:
    _images(tmp_path / "media", 5)
    directory = tmp_path / "catalog"
    seen: list[tuple[int, int, int]] = []  # per batch: records, committed ok rows and revision as another reader sees

    def on_batch(records) -> None:
        with Catalog.open(directory) as reader:
            seen.append((len(records), reader.count("ok"), reader.revision))

    summary, embedder = _add(directory, [tmp_path / "media"], config, on_batch=on_batch)
    assert len(summary.added) == 5
    assert [n for n, _, _ in seen] == [2, 2, 1] == embedder.calls  # items_per_batch 2; one embed call a batch
    assert [count for _, count, _ in seen] == [2, 4, 5]  # visible to another connection as soon as written
    revisions = [revision for _, _, revision in seen]
    assert revisions == list(range(revisions[0], revisions[0] + 3))  # one transaction a batch


def test_a_video_gets_a_vector_per_sampled_frame_and_their_normalized_mean(tmp_path: Path, config: Config) -> None:
    media = tmp_path / "media"
    media.mkdir()
    video = make_video(media / "clip.mp4", n_frames=24, size=(64, 48), fps=12, seed=3)
    image = make_image(media / "still.png", size=(24, 16), seed=4)
    summary, embedder = _add(tmp_path / "catalog", [media], config)
    assert len(summary.added) == 2 and summary.frames == FRAMES + 1

    decoded = decode_with_config(video, config)
    assert len(decoded.frames) == FRAMES
    with Catalog.open(tmp_path / "catalog") as catalog:
        by_path = {item["path"]: item for item in catalog.items()}
        clip, still = by_path[str(video.absolute())], by_path[str(image.absolute())]
        assert (clip["kind"], clip["frames"], still["frames"]) == ("video", FRAMES, None)
        assert clip["duration"] == pytest.approx(2.0, abs=0.1)
        for spec in embedder.specs:
            times, frames = catalog.frame_vectors(clip["id"], spec.name)
            assert times == pytest.approx(decoded.times) and times == sorted(times)
            assert np.array_equal(frames, np.stack([fake_vector(frame, spec) for frame in decoded.frames]))
            assert np.array_equal(catalog.item_vector(clip["id"], spec.name), aggregate_frames(frames))
            assert catalog.frame_vectors(still["id"], spec.name)[0] == []  # an image has its item vector only


def test_catalog_embedder_keeps_the_first_settings_and_refuses_other_weights(tmp_path: Path, config: Config) -> None:
    other = config.model_copy(update={"embed": config.embed.model_copy(update={"spaces": ["adain"], "image_size": 64})})
    with Catalog.open(tmp_path / "catalog", create=True) as catalog, catalog.writing():
        first = catalog_embedder(catalog, config, factory=FakeEmbedder)
        assert (first.names, first.image_size) == (["content", "predictor"], 32)
        again = catalog_embedder(catalog, other, factory=FakeEmbedder)  # the catalog's settings win over the config's
        assert (again.names, again.image_size, again.fingerprints()) == (first.names, 32, first.fingerprints())
        # The real embedder builds lazily (no weights read for this), and its fingerprints are not the fake's.
        with pytest.raises(CatalogError, match="other weights or parameters for content, predictor"):
            catalog_embedder(catalog, config, factory=Embedder)
