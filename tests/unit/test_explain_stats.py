"""Facts about the numbers behind an explanation (embed/explain_stats.py): analytic values on tiny hand-made
feature maps, invariances and shapes. No model is loaded: each test takes milliseconds."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from styledex.embed import explain_stats
from styledex.embed.explain_stats import (
    CORRESPONDENCE_LAYER,
    TYPICAL_UNRELATED_LAYERS,
    Correspondence,
    LayerAgreement,
    MutualMatch,
    content_correspondence,
    correspond,
    cosine,
    layer_agreement,
    median_offset,
    most_agreeing,
    select_matches,
    space_cosine,
)
from styledex.embed.spaces import resolve
from styledex.embed.vgg import STYLE_LAYERS

EPS = 1e-5  # mean_std's default: std = sqrt(biased variance + EPS)


def t(values: list) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def pair_map(query: list, match: list) -> torch.Tensor:
    """Two [C, h, w] maps given as nested lists → one [2, C, h, w] batch (image 0 = query, image 1 = match)."""
    return torch.stack([t(query), t(match)])


# -- cosine -----------------------------------------------------------------------------------------------------
def test_cosine_analytic_values() -> None:
    assert cosine(t([1.0, 0.0]), t([0.0, 1.0])) == 0.0
    assert cosine(t([1.0, 0.0]), t([1.0, 1.0])) == pytest.approx(1 / math.sqrt(2), abs=1e-12)
    assert cosine(t([1.0, 2.0, 3.0]), t([-2.0, -4.0, -6.0])) == pytest.approx(-1.0, abs=1e-12)
    assert cosine(t([1.0, 2.0]), t([3.0, 6.0])) == pytest.approx(1.0, abs=1e-12)  # scale does not count
    assert cosine(t([0.0, 0.0]), t([1.0, 2.0])) == 0.0  # a zero vector has no direction


def test_cosine_flattens_and_is_exact_for_identical_inputs() -> None:
    a = torch.arange(6.0).reshape(2, 3)
    assert cosine(a, torch.arange(6.0)) == pytest.approx(1.0, abs=1e-12)  # only the values count, not the shape
    x = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    assert round(cosine(x, x.clone()), 6) == 1.0  # fp64: identical inputs show 1.000000, not 0.999999
    assert isinstance(cosine(x, x), float)


# -- style: layer_agreement --------------------------------------------------------------------------------------
def test_layer_agreement_of_disjoint_constant_channels() -> None:
    """Image 0: channel 0 all 1, channel 1 all 0; image 1 the other way round. Means (1, 0) vs (0, 1), both stds
    sqrt(EPS) (constant channels); Grams diag(1, 0) vs diag(0, 1) share nothing."""
    ones, zeros = [[1.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]
    features = {"relu1_1": pair_map([ones, zeros], [zeros, ones])}
    (row,) = layer_agreement(features, ("relu1_1",))
    assert row["layer"] == "relu1_1"
    # (1, 0, s, s)·(0, 1, s, s) / |…|² with s² = EPS
    assert row["mean_std_cosine"] == pytest.approx(2 * EPS / (1 + 2 * EPS), rel=1e-4)
    assert row["gram_cosine"] == 0.0


def test_layer_agreement_gram_of_a_shared_and_a_silent_channel() -> None:
    """x = [0, 2] over two positions (mean 1, variance 1, E[x²] = 2). Image 0 has x in both channels, image 1 x then
    zeros: Grams [[2, 2], [2, 2]] vs [[2, 0], [0, 0]], upper triangles (2, 2, 2) vs (2, 0, 0): cosine 1/√3."""
    x, zero = [[0.0, 2.0]], [[0.0, 0.0]]
    (row,) = layer_agreement({"relu2_1": pair_map([x, x], [x, zero])}, ("relu2_1",))
    assert row["gram_cosine"] == pytest.approx(1 / math.sqrt(3), abs=1e-6)
    sigma, s = math.sqrt(1 + EPS), math.sqrt(EPS)  # stats (1, 1, σ, σ) vs (1, 0, σ, s)
    expected = (1 + sigma**2 + sigma * s) / (math.sqrt(2 + 2 * sigma**2) * math.sqrt(1 + sigma**2 + s**2))
    assert row["mean_std_cosine"] == pytest.approx(expected, abs=1e-6)


def test_layer_agreement_rows_follow_the_layers_asked_for() -> None:
    gen = torch.Generator().manual_seed(2)
    features = {layer: torch.rand(2, 3, 4, 4, generator=gen) for layer in STYLE_LAYERS}
    rows = layer_agreement(features)
    assert [row["layer"] for row in rows] == list(STYLE_LAYERS)
    assert [row["layer"] for row in layer_agreement(features, ("relu4_1", "relu1_1"))] == ["relu4_1", "relu1_1"]
    for row in rows:  # ReLU-like (non-negative) features: both cosines in [0, 1], plain floats
        assert set(row) == {"layer", "mean_std_cosine", "gram_cosine"}
        assert all(isinstance(row[k], float) and 0.0 <= row[k] <= 1.0 for k in ("mean_std_cosine", "gram_cosine"))


def test_layer_agreement_is_scale_invariant_and_symmetric() -> None:
    """Scaling a feature map scales its mean, std and Gram: every cosine stays 1; swapping the images changes
    nothing."""
    gen = torch.Generator().manual_seed(0)
    base = {layer: torch.rand(1, 8, 6, 6, generator=gen) for layer in STYLE_LAYERS}
    scaled = {layer: torch.cat([f, 3.0 * f]) for layer, f in base.items()}
    for row in layer_agreement(scaled):
        assert row["mean_std_cosine"] == pytest.approx(1.0, abs=1e-4) and row["gram_cosine"] == pytest.approx(1.0)
    other = {layer: torch.cat([f, torch.rand(1, 8, 6, 6, generator=gen)]) for layer, f in base.items()}
    swapped = {layer: f.flip(0) for layer, f in other.items()}
    assert layer_agreement(other) == layer_agreement(swapped)
    with pytest.raises(ValueError, match="2 images"):
        layer_agreement({layer: f[:1] for layer, f in other.items()})


# -- style: most_agreeing ------------------------------------------------------------------------------------------
def row(layer: str, mean_std: float, gram: float) -> LayerAgreement:
    return {"layer": layer, "mean_std_cosine": mean_std, "gram_cosine": gram}


def test_most_agreeing_is_relative_to_the_typical_unrelated_score() -> None:
    """Lift = mean share of the way from the typical value to 1: shallow (typical 0.5) at 0.9 → 0.8, deep
    (typical 0.9) at 0.95 → 0.5. The shallow layer wins although the deep one's raw cosines are higher."""
    typical = {"shallow": (0.5, 0.5), "deep": (0.9, 0.9)}
    layers = [row("shallow", 0.9, 0.9), row("deep", 0.95, 0.95)]
    assert most_agreeing(layers, typical) == "shallow"
    assert most_agreeing([row("shallow", 0.9, 0.9), row("deep", 0.99, 0.99)], typical) == "deep"  # lift 0.9
    # the two cosines count equally: shallow (0.5 + 0.1) / 2 = 0.3 < deep's 0.5
    assert most_agreeing([row("shallow", 0.75, 0.55), row("deep", 0.95, 0.95)], typical) == "deep"


def test_most_agreeing_edge_cases() -> None:
    # a layer with no typical value is measured from 0: lift = mean of its cosines
    assert most_agreeing([row("a", 0.2, 0.2), row("b", 0.3, 0.1)], {}) == "a"  # 0.2 = 0.2: the first of equals
    assert most_agreeing([row("a", 0.2, 0.2), row("b", 0.3, 0.2)], {}) == "b"
    # identical statistics (lift 1 at every layer): the first layer
    assert most_agreeing([row(layer, 1.0, 1.0) for layer in STYLE_LAYERS]) == STYLE_LAYERS[0]
    # the default calibration covers every style layer, each typical value a cosine below 1
    assert set(TYPICAL_UNRELATED_LAYERS) == set(STYLE_LAYERS)
    assert all(0.0 < v < 1.0 for pair in TYPICAL_UNRELATED_LAYERS.values() for v in pair)


# -- content: correspond ---------------------------------------------------------------------------------------------
def test_correspond_analytic_two_by_one_grid() -> None:
    """C = 2, a 1 × 2 grid. Query cells (1, 0), (0, 1); match cells (2, 1)/√5, (0, 1). Cosines: q0·m0 = 2/√5,
    q0·m1 = 0, q1·m0 = 1/√5, q1·m1 = 1: each cell's best is the cell at its own place, and both pairs are mutual."""
    query = t([[[1.0, 0.0]], [[0.0, 1.0]]])  # [C=2, h=1, w=2]: channel 0 = (1, 0), channel 1 = (0, 1)
    match = t([[[2.0, 0.0]], [[1.0, 1.0]]])  # cells (2, 1) and (0, 1), unnormalized: only the direction counts
    corr = correspond(query, match)
    c = 2 / math.sqrt(5)
    assert corr.grid == (1, 2)
    np.testing.assert_allclose(corr.query_to_match, [[c, 1.0]], atol=1e-6)
    np.testing.assert_allclose(corr.match_to_query, [[c, 1.0]], atol=1e-6)
    np.testing.assert_array_equal(corr.query_best, [[[0, 0], [0, 1]]])
    np.testing.assert_array_equal(corr.match_best, [[[0, 0], [0, 1]]])
    assert [(q, m) for q, m, _ in corr.mutual] == [((0, 1), (0, 1)), ((0, 0), (0, 0))]  # strongest first
    assert [cos for _, _, cos in corr.mutual] == pytest.approx([1.0, c], abs=1e-6)
    assert corr.mean == pytest.approx((c + 1.0) / 2, abs=1e-6)
    assert corr.query_to_match.dtype == np.float32 and corr.query_best.shape == (1, 2, 2)


def test_correspond_leaves_out_one_sided_best_matches() -> None:
    """Query cells (1, 0), (0.8, 0.6); match cells (1, 0), (0, 1). Both query cells find match cell 0 best
    (cosines 1 and 0.8), but match cell 0 finds query cell 0: only (q0, m0) is mutual. Match cell 1 finds q1 (0.6)."""
    query = t([[[1.0, 0.8]], [[0.0, 0.6]]])
    match = t([[[1.0, 0.0]], [[0.0, 1.0]]])
    corr = correspond(query, match)
    np.testing.assert_allclose(corr.query_to_match, [[1.0, 0.8]], atol=1e-6)
    np.testing.assert_allclose(corr.match_to_query, [[1.0, 0.6]], atol=1e-6)
    np.testing.assert_array_equal(corr.query_best, [[[0, 0], [0, 0]]])
    np.testing.assert_array_equal(corr.match_best, [[[0, 0], [0, 1]]])
    assert corr.mutual == [((0, 0), (0, 0), pytest.approx(1.0, abs=1e-6))]
    assert corr.mean == pytest.approx(((1.0 + 0.8) / 2 + (1.0 + 0.6) / 2) / 2, abs=1e-6)


def test_correspond_is_symmetric_and_ignores_each_cells_length() -> None:
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(16, 4, 5, generator=gen), torch.randn(16, 4, 5, generator=gen)
    ab, ba = correspond(a, b), correspond(b, a)
    np.testing.assert_array_equal(ab.query_to_match, ba.match_to_query)
    np.testing.assert_array_equal(ab.query_best, ba.match_best)
    assert [(q, m) for q, m, _ in ab.mutual] == [(m, q) for q, m, _ in ba.mutual]
    assert ab.mean == pytest.approx(ba.mean, abs=1e-7)
    lengths = torch.rand(1, 4, 5, generator=gen) * 10 + 0.1  # a positive factor per cell
    scaled = correspond(a * lengths, b)
    np.testing.assert_allclose(scaled.query_to_match, ab.query_to_match, atol=1e-6)
    np.testing.assert_array_equal(scaled.query_best, ab.query_best)


def test_correspond_finds_an_exact_circular_shift() -> None:
    """Distinct random feature vectors rolled by (1, 3) cells: every position's best match is itself, moved."""
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(64, 5, 7, generator=gen)
    match = torch.roll(query, shifts=(1, 3), dims=(1, 2))
    corr = correspond(query, match)
    assert corr.grid == (5, 7)
    np.testing.assert_allclose(corr.query_to_match, 1.0, atol=1e-5)
    np.testing.assert_allclose(corr.match_to_query, 1.0, atol=1e-5)
    rows, cols = np.mgrid[0:5, 0:7]
    np.testing.assert_array_equal(corr.query_best[..., 0], (rows + 1) % 5)
    np.testing.assert_array_equal(corr.query_best[..., 1], (cols + 3) % 7)
    assert len(corr.mutual) == 35 and corr.mean == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="one shape"):
        correspond(query, match[:, :4])


def test_content_correspondence_ignores_a_per_channel_affine_restyle() -> None:
    """Instance normalization removes a·F + b per channel (a > 0: AdaIN's idea of style), so a restyled copy
    corresponds to its source cell for cell, with cosine 1."""
    gen = torch.Generator().manual_seed(4)
    source = torch.randn(1, 32, 4, 4, generator=gen)
    scale = torch.rand(1, 32, 1, 1, generator=gen) * 4 + 0.25
    shift = torch.randn(1, 32, 1, 1, generator=gen) * 3
    corr = content_correspondence({CORRESPONDENCE_LAYER: torch.cat([source, scale * source + shift])})
    np.testing.assert_allclose(corr.query_to_match, 1.0, atol=1e-4)
    rows, cols = np.mgrid[0:4, 0:4]
    np.testing.assert_array_equal(corr.query_best, np.stack([rows, cols], axis=-1))
    assert median_offset(corr) == [0.0, 0.0]
    assert CORRESPONDENCE_LAYER == "relu5_1"
    other = content_correspondence({"relu4_1": torch.cat([source, source])}, "relu4_1")  # any layer, by name
    assert other.grid == (4, 4) and other.mean == pytest.approx(1.0, abs=1e-5)


# -- content: which matches are shown, and where the content moved ---------------------------------------------------
MUTUAL: list[MutualMatch] = [
    ((0, 0), (0, 0), 0.90),
    ((0, 1), (5, 5), 0.85),  # query end 1 cell from (0, 0): too near
    ((4, 4), (0, 2), 0.80),  # match end 2 cells from (0, 0): too near
    ((3, 0), (3, 3), 0.70),  # 3 cells from (0, 0) at both ends: far enough
    ((6, 6), (6, 6), 0.40),  # far from all, but weak
]


def test_select_matches_keeps_strong_spread_pairs_in_order() -> None:
    kept = select_matches(MUTUAL, min_cosine=0.45, limit=8, separation=3)
    assert kept == [MUTUAL[0], MUTUAL[3]]
    assert select_matches(MUTUAL, min_cosine=0.45, limit=1, separation=3) == [MUTUAL[0]]
    assert select_matches(MUTUAL, min_cosine=0.0, limit=8, separation=3) == [MUTUAL[0], MUTUAL[3], MUTUAL[4]]
    assert select_matches(MUTUAL, min_cosine=0.45, limit=8, separation=0) == MUTUAL[:4]  # nothing is too near
    assert select_matches(MUTUAL, min_cosine=0.95, limit=8, separation=3) == []
    assert select_matches([], min_cosine=0.0, limit=8, separation=3) == []


def test_select_matches_takes_the_threshold_inclusively() -> None:
    assert select_matches(MUTUAL, min_cosine=0.70, limit=8, separation=3) == [MUTUAL[0], MUTUAL[3]]


def correspondence_with(mutual: list[MutualMatch]) -> Correspondence:
    """A Correspondence on a 7 × 7 grid whose only meaningful field is ``mutual``."""
    zeros = np.zeros((7, 7), np.float32)
    cells = np.zeros((7, 7, 2), int)
    return Correspondence(zeros, zeros, cells, cells, mutual)


def test_median_offset_is_the_median_move_in_cells() -> None:
    moves = [((0, 0), (1, 2), 0.9), ((2, 2), (3, 4), 0.8), ((5, 5), (5, 5), 0.7)]  # (+1, +2) twice, (0, 0) once
    assert median_offset(correspondence_with(moves)) == [1.0, 2.0]
    up_left = [((3, 3), (1, 0), 0.9), ((4, 4), (2, 2), 0.8)]  # (-2, -3) and (-2, -2): median of two is their mean
    assert median_offset(correspondence_with(up_left)) == [-2.0, -2.5]
    assert median_offset(correspondence_with([])) == [0.0, 0.0]
    assert all(isinstance(v, float) for v in median_offset(correspondence_with(moves)))


def test_median_offset_of_a_circular_shift_is_the_shift() -> None:
    """Rolled by (1, 3) on a 5 × 7 grid: 4 of 5 rows move +1 (one wraps, -4), 4 of 7 cols move +3 (three wrap,
    -4); the medians are the shift."""
    query = torch.randn(64, 5, 7, generator=torch.Generator().manual_seed(1))
    corr = correspond(query, torch.roll(query, shifts=(1, 3), dims=(1, 2)))
    assert median_offset(corr) == [1.0, 3.0]


# -- the score in a space ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["adain", "content"])
def test_space_cosine_of_identical_images_is_one(space: str) -> None:
    gen = torch.Generator().manual_seed(5)
    single = {layer: torch.rand(1, 8, 4, 4, generator=gen) for layer in STYLE_LAYERS}
    same = {layer: torch.cat([f, f]) for layer, f in single.items()}
    assert space_cosine(same, resolve(space)) == pytest.approx(1.0, abs=1e-6)
    other = {layer: torch.cat([f, torch.rand(1, 8, 4, 4, generator=gen)]) for layer, f in single.items()}
    assert -1.0 <= space_cosine(other, resolve(space)) < 0.99  # 0.976 (adain), 0.192 (content)


def test_content_space_cosine_ignores_a_per_channel_affine_restyle() -> None:
    gen = torch.Generator().manual_seed(6)
    source = torch.randn(1, 16, 4, 4, generator=gen)
    restyled = (torch.rand(1, 16, 1, 1, generator=gen) + 0.5) * source + torch.randn(1, 16, 1, 1, generator=gen)
    spec = resolve("content")
    assert space_cosine({spec.params["layer"]: torch.cat([source, restyled])}, spec) == pytest.approx(1.0, abs=1e-5)


# -- the module's place ---------------------------------------------------------------------------------------------
def test_explain_stats_imports_only_the_embed_layer() -> None:
    """embed/ is the lowest layer: the numbers import no other part of styledex (no serve, no media, no PIL)."""
    tree = ast.parse(Path(explain_stats.__file__).read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            modules.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    outside = {m for m in modules if m.startswith("styledex") and not m.startswith("styledex.embed")}
    assert not outside and not {m for m in modules if m.startswith("..")}, modules
    assert not {m for m in modules if m.split(".")[0] in ("PIL", "fastapi", "threading")}, modules
