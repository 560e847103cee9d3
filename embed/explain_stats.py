"""The numbers behind an explanation: why two images match, computed from their VGG19 feature maps.

Pure functions: tensors and arrays in, numbers out; no model, no cache, no drawing (``styledex.serve.explain``
runs the models and draws the panel). Every function compares exactly two images: image 0 (the query) and
image 1 (the match).

- style: :func:`layer_agreement` per VGG layer, the cosine of the two images' per-channel (mean, std) vectors
  (AdaIN's statistics) and of their Gram matrices (Gatys'); :func:`most_agreeing` picks the layer that agrees
  most beyond what unrelated images share (:data:`TYPICAL_UNRELATED_LAYERS`);
- content: :func:`content_correspondence` (:func:`correspond` on instance-normalized maps) finds, per grid
  position, the best match in the other image; :func:`select_matches` keeps the strongest mutual pairs, spread
  out; :func:`median_offset` says where the shared content moved;
- both: :func:`space_cosine`, the score search gives the pair in one embedding space.

Units: cosines are unitless in [-1, 1] (1 = same direction; for ReLU features, which are ≥ 0, the statistics'
cosines lie in [0, 1]); grid positions are (row, col) cells of a feature map, row 0 at the top.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import torch
import torch.nn.functional as F

from .spaces import SpaceSpec, vgg_feature_fn
from .stats import gram_matrix, instance_normalize, mean_std, upper_triangle
from .vgg import STYLE_LAYERS

__all__ = [
    "CORRESPONDENCE_LAYER",
    "TYPICAL_CORRESPONDENCE",
    "TYPICAL_SPACE_COSINE",
    "TYPICAL_UNRELATED_LAYERS",
    "Cell",
    "Correspondence",
    "LayerAgreement",
    "MutualMatch",
    "content_correspondence",
    "correspond",
    "cosine",
    "layer_agreement",
    "median_offset",
    "most_agreeing",
    "select_matches",
    "space_cosine",
]

CORRESPONDENCE_LAYER = "relu5_1"  # separates same content from same style best (measured below)

# -- calibration: what unrelated and related images typically score ----------------------------------------------
# Medians over pairs of `styledex eval`'s grid (10 photos × 11 styles, VGG19 at 256 px) that share neither style
# nor content: the level above which a layer "agrees more than usual". (mean/std cosine, Gram cosine) per layer.
TYPICAL_UNRELATED_LAYERS = {
    "relu1_1": (0.813, 0.607),
    "relu2_1": (0.959, 0.903),
    "relu3_1": (0.922, 0.785),
    "relu4_1": (0.897, 0.731),
    "relu5_1": (0.818, 0.476),
}
# Same grid, same measurement: median cosine of (unrelated pairs, pairs sharing the question's label) per space,
# and of the mean best-match cosine at CORRESPONDENCE_LAYER (unrelated 0.24, same style 0.27, same content 0.36).
TYPICAL_SPACE_COSINE = {"adain": (0.884, 0.987), "content": (0.093, 0.479)}
TYPICAL_CORRESPONDENCE = (0.241, 0.364)

Cell = tuple[int, int]  # (row, col) on a feature map's grid
MutualMatch = tuple[Cell, Cell, float]  # (query cell, match cell, cosine): each the other's best match


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine similarity of ``a`` and ``b`` (any shapes of equal size, flattened), in [-1, 1].

    Computed in fp64 so identical inputs give 1 to the last digit shown; a zero vector gives 0.
    """
    return float(F.cosine_similarity(a.double().flatten(), b.double().flatten(), dim=0).clamp(-1.0, 1.0))


def space_cosine(features: Mapping[str, torch.Tensor], spec: SpaceSpec) -> float:
    """Cosine of the two images' vectors in the VGG space ``spec``: the score search gives them, in [-1, 1].

    ``features``: layer → [2, C, H, W] (at least the layers ``spec`` reads).
    """
    vectors = F.normalize(vgg_feature_fn(spec)(features).float(), dim=1)
    return cosine(vectors[0], vectors[1])


# -- style --------------------------------------------------------------------------------------------------------
class LayerAgreement(TypedDict):
    """One row of :func:`layer_agreement` (JSON-ready as it is)."""

    layer: str
    mean_std_cosine: float
    gram_cosine: float


def layer_agreement(
    features: Mapping[str, torch.Tensor], layers: tuple[str, ...] = STYLE_LAYERS
) -> list[LayerAgreement]:
    """Per layer, how alike the style statistics of image 0 and image 1 of ``features`` are.

    ``features``: layer → [2, C, H, W]. Returns ``[{"layer", "mean_std_cosine", "gram_cosine"}]`` in ``layers``
    order: the cosine of the concatenated per-channel (mean, std) vectors ([2C]) and of the Gram matrices' upper
    triangles ([C(C+1)/2]); both lie in [0, 1] for ReLU features, 1 for identical statistics. Both are invariant
    to scaling one image's map by a positive factor (mean, std and Gram scale with it).
    """
    out: list[LayerAgreement] = []
    for layer in layers:
        feats = features[layer]
        if feats.shape[0] != 2:
            raise ValueError(f"layer_agreement compares 2 images, got a batch of {feats.shape[0]} at {layer}")
        mean, std = mean_std(feats)
        stats = torch.cat([mean, std], dim=1)
        gram = upper_triangle(gram_matrix(feats))
        out.append(
            {
                "layer": layer,
                "mean_std_cosine": cosine(stats[0], stats[1]),
                "gram_cosine": cosine(gram[0], gram[1]),
            }
        )
    return out


def most_agreeing(
    layers: Sequence[LayerAgreement], typical: Mapping[str, tuple[float, float]] = TYPICAL_UNRELATED_LAYERS
) -> str:
    """The layer whose statistics agree most relative to unrelated images.

    A layer's lift is the mean, over its two cosines, of the share of the way from the typical unrelated value
    (``typical[layer]``: (mean/std, Gram); (0, 0) for a layer not listed) to 1: 0 at the typical value, 1 for
    identical statistics. Returns the name of the layer with the largest lift (the first of equals). Relative,
    because raw cosines favour the layers where even unrelated images score high (relu2_1's mean/std: 0.959).
    """

    def lift(row: LayerAgreement) -> float:
        base = typical.get(row["layer"], (0.0, 0.0))
        values = (row["mean_std_cosine"], row["gram_cosine"])
        return sum((v - t) / (1.0 - t) for v, t in zip(values, base, strict=True)) / 2.0

    return max(layers, key=lift)["layer"]


# -- content ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Correspondence:
    """Dense best matches between two feature maps on grids of the same ``(h, w)``.

    ``query_to_match[r, c]``: the best cosine between query position (r, c) and any match position;
    ``query_best[r, c]``: that match position as (row, col). Likewise ``match_to_query``/``match_best``.
    ``mutual``: pairs that are each other's best match, as ``(query (r, c), match (r, c), cosine)``, strongest
    first.
    """

    query_to_match: np.ndarray  # [h, w] float32
    match_to_query: np.ndarray  # [h, w] float32
    query_best: np.ndarray  # [h, w, 2] int (row, col) in the match
    match_best: np.ndarray  # [h, w, 2] int (row, col) in the query
    mutual: list[MutualMatch]

    @property
    def grid(self) -> tuple[int, int]:
        return tuple(self.query_to_match.shape)  # type: ignore[return-value]

    @property
    def mean(self) -> float:
        """Mean of both maps: how much of each image is found in the other, symmetric in the two."""
        return float((self.query_to_match.mean() + self.match_to_query.mean()) / 2.0)


def correspond(query: torch.Tensor, match: torch.Tensor) -> Correspondence:
    """Best matches between two [C, h, w] feature maps: per position, cosine of the C-vectors (see class).

    Each position's C-vector is compared by direction only, so scaling any position by a positive factor
    changes nothing; swapping the two maps swaps the ``query_*`` and ``match_*`` fields.
    """
    if query.dim() != 3 or query.shape != match.shape:
        raise ValueError(
            f"correspond needs two [C, h, w] maps of one shape, got {tuple(query.shape)} and {tuple(match.shape)}"
        )
    _, h, w = query.shape
    q = F.normalize(query.float().flatten(1), dim=0)  # [C, hw]
    m = F.normalize(match.float().flatten(1), dim=0)
    sim = (q.T @ m).clamp(-1.0, 1.0).cpu()  # [hw query, hw match]
    q2m, q_idx = sim.max(dim=1)
    m2q, m_idx = sim.max(dim=0)
    mutual = []
    back = m_idx.tolist()
    for qi, mi in enumerate(q_idx.tolist()):
        if back[mi] == qi:
            mutual.append(((qi // w, qi % w), (mi // w, mi % w), float(q2m[qi])))
    mutual.sort(key=lambda t: -t[2])

    def rowcol(idx: torch.Tensor) -> np.ndarray:
        flat = idx.numpy()
        return np.stack([flat // w, flat % w], axis=-1).reshape(h, w, 2)

    return Correspondence(
        q2m.reshape(h, w).numpy().astype(np.float32),
        m2q.reshape(h, w).numpy().astype(np.float32),
        rowcol(q_idx),
        rowcol(m_idx),
        mutual,
    )


def content_correspondence(features: Mapping[str, torch.Tensor], layer: str = CORRESPONDENCE_LAYER) -> Correspondence:
    """Where images 0 and 1 share content: :func:`correspond` on ``features[layer]`` ([2, C, h, w]) with each
    channel's spatial mean and std removed (the AdaIN view of style, as in the ``content`` space).

    So a per-channel affine change of one image's map (a·F + b, a > 0: what AdaIN treats as style) leaves the
    result as it was.
    """
    content = instance_normalize(features[layer])
    return correspond(content[0], content[1])


def select_matches(
    mutual: Sequence[MutualMatch], *, min_cosine: float, limit: int, separation: int
) -> list[MutualMatch]:
    """The strongest mutual pairs worth showing: at least ``min_cosine``, at most ``limit``, spread out.

    ``mutual`` strongest first (as :attr:`Correspondence.mutual`). A pair is skipped when either of its ends lies
    closer than ``separation`` cells (Chebyshev distance: the larger of the row and col differences) to that end
    of a pair already kept, so the kept pairs do not pile up on one feature. Order is kept.
    """
    strong = [pair for pair in mutual if pair[2] >= min_cosine]
    kept: list[MutualMatch] = []
    for pair in strong:
        if len(kept) >= limit:
            break
        near = any(
            max(abs(pair[0][0] - k[0][0]), abs(pair[0][1] - k[0][1])) < separation
            or max(abs(pair[1][0] - k[1][0]), abs(pair[1][1] - k[1][1])) < separation
            for k in kept
        )
        if not near:
            kept.append(pair)
    return kept


def median_offset(corr: Correspondence) -> list[float]:
    """Median [rows, cols] from each query cell to its mutual best match: where the shared content moved, in grid
    cells (positive = down, right); [0.0, 0.0] when nothing is mutual."""
    if not corr.mutual:
        return [0.0, 0.0]
    moves = np.array([(m[0] - q[0], m[1] - q[1]) for q, m, _ in corr.mutual], dtype=np.float64)
    return [float(v) for v in np.median(moves, axis=0)]
