"""The content space's views (styledex.embed.content_views): the mirror of a 2×2-pooled map is its columns swapped
(exactly, for even and odd widths), region views are the pooled corners and centre of the whole map's instance
normalization, and the view similarities are the best of a query's views by brute force. No model; milliseconds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from styledex.embed.content_views import (
    REGIONS,
    aggregate_views,
    best_view_scores,
    mirror,
    query_views,
    region_boxes,
    region_vectors,
    view_similarities,
)
from styledex.embed.spaces import content_vectors
from styledex.embed.stats import instance_normalize


def _features(width: int, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {"relu5_1": torch.rand(2, 512, 9, width, generator=gen) * 3}


@pytest.mark.parametrize("width", [8, 9, 16, 15])
def test_the_mirror_of_a_content_vector_is_the_content_vector_of_the_mirrored_map(width: int) -> None:
    feats = _features(width)
    flipped = {"relu5_1": feats["relu5_1"].flip(-1)}
    direct = content_vectors(flipped).numpy()
    assert np.allclose(mirror(content_vectors(feats).numpy()), direct, atol=1e-6)
    assert np.array_equal(mirror(mirror(direct)), direct)


def test_region_views_are_the_pooled_corners_and_centre_of_the_whole_maps_normalization() -> None:
    feats = _features(12)
    views = region_vectors(feats)
    assert views.shape == (2, len(REGIONS), 2048)
    assert torch.allclose(views.norm(dim=2), torch.ones(2, len(REGIONS)))
    boxes = region_boxes(9, 12)
    assert boxes[0] == (0, 0, 6, 8) and boxes[3] == (3, 4, 6, 8) and boxes[4] == (1, 2, 6, 8)  # 2/3 of 9×12
    y, x, h, w = boxes[3]  # bottom-right, pooled by hand
    expected = F.adaptive_avg_pool2d(instance_normalize(feats["relu5_1"])[:, :, y : y + h, x : x + w], 2).flatten(1)
    assert torch.allclose(views[:, 3], F.normalize(expected, dim=1), atol=1e-6)


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    rows = rng.standard_normal(shape).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_view_similarities_are_each_querys_best_view_and_never_below_the_plain_cosine() -> None:
    rng = np.random.default_rng(3)
    vectors, regions = _unit(rng, 7, 2048), _unit(rng, 7, 5, 2048)
    regions[2, 1] = vectors[5]  # item 5 is item 2's top-right corner
    sims = view_similarities(vectors, regions)
    for q in range(7):
        assert np.allclose(sims[q], best_view_scores(query_views(vectors[q], regions[q]), vectors), atol=1e-6)
    assert np.all(sims >= vectors @ vectors.T - 1e-6)
    assert sims[2, 5] == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(np.diag(sims), 1.0, atol=1e-6)
    without_regions = view_similarities(vectors, np.zeros((7, 0, 2048), np.float32))
    assert np.allclose(without_regions, np.maximum(vectors @ vectors.T, mirror(vectors) @ vectors.T), atol=1e-6)


def test_query_views_put_the_querys_own_vector_first_then_mirrors_and_regions() -> None:
    rng = np.random.default_rng(4)
    whole, regions = _unit(rng, 2048), _unit(rng, 5, 2048)
    views = query_views(whole, regions)
    assert views.shape == (12, 2048) and views.dtype == np.float32
    assert np.array_equal(views[0], whole) and np.array_equal(views[1], mirror(whole))
    assert np.array_equal(views[2:7], regions) and np.array_equal(views[7:], mirror(regions))
    assert query_views(whole, None).shape == (2, 2048)


def test_a_videos_views_are_each_views_normalized_mean_over_frames() -> None:
    rng = np.random.default_rng(5)
    frames = _unit(rng, 3, 5, 64)
    views = aggregate_views(frames)
    expected = frames.mean(axis=0)
    assert np.allclose(views, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)
