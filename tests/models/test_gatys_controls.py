"""Facts about the Gatys et al. 2017 controls of the ``gatys`` method: colour, spatial (masks) and scale.

Colour matching is checked analytically; the transfers run on 48–64 px images for a few L-BFGS steps, so the
file stays well under a minute on 2 cores.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styledex.embed.stats import gram_matrix
from styledex.embed.transfer import TransferError, transfer
from styledex.embed.transfer.color import color_moments, match_color, match_color_histogram
from styledex.embed.transfer.gatys import COARSE_LAYERS, FINE_LAYERS, guided_gram, style_transfer
from styledex.embed.vgg import STYLE_LAYERS

from helpers.media import make_shapes
from helpers.vgg import vgg_features

SIZE = 64
# Adam with a large step: one VGG forward/backward per step (L-BFGS line searches take several), and the
# pixels move far enough in 15 steps for colour and texture statistics to shift clearly.
FAST = {"steps": 15, "optimizer": "adam", "lr": 0.05}


def _rgb(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def content(tmp_path_factory) -> Image.Image:
    path = make_shapes(tmp_path_factory.mktemp("controls") / "content.png", seed=5, size=SIZE)
    return Image.open(path).convert("RGB")


@pytest.fixture(scope="module")
def stripes() -> Image.Image:
    """Style A: red diagonal stripes on dark, with noise."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    on = (((xx + yy) // 5) % 2)[..., None]
    arr = on * np.array([220.0, 30.0, 30.0]) + (1 - on) * np.array([60.0, 10.0, 10.0])
    return _rgb(arr + rng.normal(0, 12, arr.shape))


@pytest.fixture(scope="module")
def dots() -> Image.Image:
    """Style B: blue dots on pale cyan, with noise."""
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    on = (((yy % 10) - 5) ** 2 + ((xx % 10) - 5) ** 2 < 9)[..., None]
    arr = on * np.array([20.0, 40.0, 230.0]) + (1 - on) * np.array([150.0, 220.0, 240.0])
    return _rgb(arr + rng.normal(0, 12, arr.shape))


def _gram_distance(a: Image.Image, b: Image.Image, layers: tuple[str, ...] = STYLE_LAYERS) -> float:
    """Sum over ``layers`` of the relative squared Gram difference (the transfer's own style loss, unweighted)."""
    fa, fb = vgg_features(a), vgg_features(b)
    return sum(
        float((gram_matrix(fa[n]) - gram_matrix(fb[n])).pow(2).mean() / gram_matrix(fb[n]).pow(2).mean())
        for n in layers
    )


def _mean_colour(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("RGB"), np.float64).reshape(-1, 3).mean(0)


# -- colour ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["eigen", "cholesky"])
def test_match_color_moments_equal_target(mode):
    rng = np.random.default_rng(0)
    source = rng.random((40, 30, 3)) @ np.array([[0.5, 0.2, 0.0], [0.1, 0.3, 0.1], [0.0, 0.1, 0.2]]) + 0.1
    target = rng.random((20, 50, 3)) * np.array([0.3, 0.6, 0.2]) + np.array([0.4, 0.1, 0.3])
    out = match_color(source, target, mode, eps=0.0)
    assert out.shape == source.shape
    mu_o, cov_o = color_moments(out)
    mu_t, cov_t = color_moments(target)
    np.testing.assert_allclose(mu_o, mu_t, atol=1e-10)
    np.testing.assert_allclose(cov_o, cov_t, atol=1e-10)
    # The 8-bit image: same moments up to rounding (nothing is out of gamut here).
    img = match_color_histogram((source * 255).round().astype(np.uint8), _rgb(target * 255), mode=mode)
    assert img.size == (30, 40)
    mu_i, cov_i = color_moments(np.asarray(img, np.float64) / 255)
    mu_8, cov_8 = color_moments(np.asarray(_rgb(target * 255), np.float64) / 255)
    np.testing.assert_allclose(mu_i, mu_8, atol=3e-3)
    np.testing.assert_allclose(cov_i, cov_8, atol=3e-4)


def test_match_color_identity_and_inputs(stripes, dots):
    assert np.array_equal(np.asarray(match_color_histogram(dots, dots)), np.asarray(dots))
    assert np.array_equal(np.asarray(match_color_histogram(np.asarray(dots), dots, mode="cholesky")),
                          np.asarray(dots))
    # A flat image has a singular covariance; eps keeps the map finite (the output is the target's mean colour).
    flat = Image.new("RGB", (8, 8), (10, 200, 30))
    out = np.asarray(match_color_histogram(flat, stripes), np.float64)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.reshape(-1, 3).mean(0), _mean_colour(stripes), atol=1.0)
    with pytest.raises(ValueError, match="mode"):
        match_color_histogram(dots, stripes, mode="lab")  # type: ignore[arg-type]


def test_gatys_histogram_keeps_content_colour(content, stripes):
    # Half-gray content: its colours are moderate, so the recoloured style needs no clipping and has exactly the
    # content's mean colour.
    muted = Image.blend(content, Image.new("RGB", content.size, (128, 128, 128)), 0.5)
    options = {**FAST, "device": "cpu"}
    kept = style_transfer(muted, stripes, 48, preserve_color="histogram", **options).image
    free = style_transfer(muted, stripes, 48, **options).image
    target = _mean_colour(muted.resize(kept.size, Image.Resampling.LANCZOS))
    gap_kept = np.linalg.norm(_mean_colour(kept) - target)
    gap_free = np.linalg.norm(_mean_colour(free) - target)
    assert gap_kept < 0.5 * gap_free, (gap_kept, gap_free)
    moved = np.abs(np.asarray(kept, np.float32) - np.asarray(muted.resize(kept.size), np.float32)).mean()
    assert moved > 3  # the texture did change


# -- space ----------------------------------------------------------------------------------------------------
def test_guided_gram_of_ones_is_gram():
    f = torch.randn(1, 4, 6, 5)
    torch.testing.assert_close(guided_gram(f, torch.ones(1, 1, 6, 5)), gram_matrix(f))
    left = torch.zeros(1, 1, 6, 5)
    left[..., :2] = 1
    torch.testing.assert_close(guided_gram(f, left), gram_matrix(f[..., :2]))


def test_gatys_masks_put_each_style_in_its_region(content, stripes, dots):
    left = np.zeros((SIZE, SIZE), np.uint8)
    left[:, : SIZE // 2] = 255
    masks = [Image.fromarray(left), Image.fromarray(255 - left)]
    out = transfer("gatys", content, [stripes, dots], size=SIZE, masks=masks, device="cpu", **FAST)
    assert out.size == (SIZE, SIZE)
    boxes = {"left": (0, 0, SIZE // 2, SIZE), "right": (SIZE // 2, 0, SIZE, SIZE)}
    # "Moves toward": a half's distance to a style as a fraction of the content half's distance to it; each half
    # must have closed more of the gap to its own style than to the other style.
    layers = ("relu1_1", "relu2_1", "relu3_1")  # a 32-px half still has a real grid there
    for half, own, other in (("left", stripes, dots), ("right", dots, stripes)):
        before, after = content.crop(boxes[half]), out.crop(boxes[half])

        def colour_ratio(style: Image.Image, before=before, after=after) -> float:
            return float(np.linalg.norm(_mean_colour(after) - _mean_colour(style))
                         / np.linalg.norm(_mean_colour(before) - _mean_colour(style)))

        def gram_ratio(style: Image.Image, before=before, after=after) -> float:
            style = style.resize(after.size, Image.Resampling.LANCZOS)
            return _gram_distance(after, style, layers) / _gram_distance(before, style, layers)

        assert colour_ratio(own) < colour_ratio(other), half
        assert gram_ratio(own) < gram_ratio(other), half


# -- scale ----------------------------------------------------------------------------------------------------
def test_gatys_coarse_style_splits_layers(content, stripes, dots):
    fine_only = style_transfer(content, stripes, 48, device="cpu", **FAST).image
    coarse_only = style_transfer(content, dots, 48, device="cpu", **FAST).image
    mixed = style_transfer(content, stripes, 48, coarse_style=dots, device="cpu", **FAST).image
    coarse = dots.resize(mixed.size, Image.Resampling.LANCZOS)
    fine = stripes.resize(mixed.size, Image.Resampling.LANCZOS)
    # Deep layers: nearer the coarse style than the plain fine-style transfer is.
    assert _gram_distance(mixed, coarse, COARSE_LAYERS) < 0.7 * _gram_distance(fine_only, coarse, COARSE_LAYERS)
    # Shallow layers: nearer the fine style than the plain coarse-style transfer is.
    assert _gram_distance(mixed, fine, FINE_LAYERS) < 0.8 * _gram_distance(coarse_only, fine, FINE_LAYERS)


# -- errors ---------------------------------------------------------------------------------------------------
def test_gatys_control_errors(content, stripes, dots):
    white = Image.new("L", content.size, 255)
    black = Image.new("L", content.size, 0)
    cases = {
        "exactly one --mask per --style": {"style": [stripes, dots], "masks": [white]},
        "no white pixels": {"style": [stripes, dots], "masks": [white, black]},
        "takes one --style": {"style": [stripes, dots]},
        "needs a --style": {"style": []},
        "cannot be combined": {"style": [stripes], "masks": [white], "coarse_style": dots},
        "style_masks": {"style": [stripes], "style_masks": [white, white]},
    }
    for expected, kwargs in cases.items():
        with pytest.raises(TransferError, match=expected) as info:
            transfer("gatys", content, size=48, steps=1, device="cpu", **kwargs)
        assert "\n" not in str(info.value)
