"""Views of the `content` space: the same picture mirrored, cropped to a corner or zoomed to its centre.

`content` pools instance-normalized relu5_1 to a 2×2 grid, so it keeps where things are: the same subject mirrored,
cropped to a corner or zoomed lands in another layout (on the hard benchmark's `reframed` group content P@5 falls
from 0.99 to 0.84). A content query therefore asks with several views of itself and scores each item by the best
of them (max over views of the cosine with the item's one vector):

- stored with each item: :data:`REGIONS` region vectors [5, dim], the four corners and the centre, each
  :data:`REGION_FRACTION` of the feature map's sides, pooled 2×2 like the item's own vector (same forward pass);
- derived at query time: the mirror image of the item's vector and of each region (:func:`mirror`: a horizontal
  flip of the feature map pooled 2×2 is the pooled grid with its columns swapped), so mirrors cost no storage.

A query with all 12 views (whole, regions, and their mirrors) finds an item when the item is a crop, zoom or mirror
of the query; the index and the item vectors stay one vector per item. Measured on the hard benchmark's image groups
(`scripts/content_regions_probe.py` and README): reframed content P@5 0.836 → 0.92 with style leakage 0.069 → 0.044;
filters and neural looks unchanged (0.994, 0.984). Regions at 2/3 of each side were measured beside 3/4
(reframed 0.909): the benchmark's corner crops keep 65 % of each side, so 2/3 is closest to what it tests.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from .stats import instance_normalize

VIEW_SPACES = ("content",)  # the spaces whose vectors are 2×2-pooled maps that views are defined for
REGION_FRACTION = 2 / 3  # each region's share of the feature map's height and width
REGIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "centre")
GRID = 2  # the content space's pooling grid; mirror() assumes it
CONTENT_VIEWS_VERSION = "regions-2/3-v1"  # what the stored views are: a catalog cache keyed by it is rebuilt on change


def views_key(space: str) -> str:
    """The key under which a query dict ({space: vector}) carries ``space``'s stored region views [V, dim]."""
    return f"{space}@views"


def region_boxes(height: int, width: int, fraction: float = REGION_FRACTION) -> list[tuple[int, int, int, int]]:
    """(top, left, h, w) of each of :data:`REGIONS` on a ``height`` × ``width`` map, each side ``fraction`` of the
    map's (at least one cell)."""
    h, w = max(1, round(height * fraction)), max(1, round(width * fraction))
    centre = ((height - h) // 2, (width - w) // 2, h, w)
    corners = [(y, x, h, w) for y in (0, height - h) for x in (0, width - w)]
    return [*corners, centre]


def region_vectors(features: Mapping[str, torch.Tensor], layer: str = "relu5_1") -> torch.Tensor:
    """The region views of a batch: [B, C, H, W] ``layer`` → [B, 5, C·4] unit vectors, each region of the
    instance-normalized map (normalized over the whole map, as the item's vector is) pooled 2×2, fp32."""
    normalized = instance_normalize(features[layer]).float()
    regions = [
        F.adaptive_avg_pool2d(normalized[:, :, y : y + h, x : x + w], GRID).flatten(1)
        for y, x, h, w in region_boxes(*normalized.shape[-2:])
    ]
    return F.normalize(torch.stack(regions, dim=1), dim=2)


def mirror(vectors: np.ndarray) -> np.ndarray:
    """Mirror images of 2×2-pooled content vectors [..., C·4] (channel-major, row-major cells): the left and right
    cells of each row swapped. Exact for the pooling (adaptive 2×2 bins are symmetric for any width); VGG19 is
    only nearly mirror-equivariant, so it stands for the vector of the mirrored picture."""
    shape = vectors.shape
    return np.ascontiguousarray(vectors.reshape(*shape[:-1], -1, GRID, GRID)[..., ::-1]).reshape(shape)


def query_views(whole: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """Every view a content query asks with: [V, dim] unit float32, the query's own vector first, then its mirror,
    then the stored ``regions`` [5, dim] (None: a catalog written before regions were stored) and their mirrors."""
    rows = [whole[None, :], mirror(whole[None, :])]
    if regions is not None:
        rows += [regions, mirror(regions)]
    return np.concatenate(rows).astype(np.float32, copy=False)


def aggregate_views(frame_views: np.ndarray) -> np.ndarray:
    """A video's region views from its frames' [F, V, dim]: each view's mean over the frames, re-normalized
    → [V, dim] float32 (as the video's vector is the normalized mean of its frames')."""
    mean = frame_views.astype(np.float64).mean(axis=0)
    norms = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def best_view_scores(views: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each of ``vectors`` [n, dim] scored by its best cosine with the query's ``views`` [V, dim] → [n]."""
    return (vectors @ views.T).max(axis=1)


def view_similarities(vectors: np.ndarray, regions: np.ndarray | None) -> np.ndarray:
    """[n, n] similarities of n items as queries (rows) against the same items (columns), each query with all its
    views: row q = max over q's views of the cosine with each item's vector. ``regions`` [n, 5, dim] (None: the
    mirror only). Not symmetric: row q finds items that are a crop or zoom of q."""
    out = vectors @ vectors.T
    np.maximum(out, mirror(vectors) @ vectors.T, out=out)
    if regions is not None:
        for r in range(regions.shape[1]):
            for view in (regions[:, r], mirror(regions[:, r])):
                np.maximum(out, view @ vectors.T, out=out)
    return out
