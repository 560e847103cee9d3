"""The pixel statistics the style head reads beside VGG19's (embed/pixel_stats.py): analytic values, invariances."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from styledex.embed.pixel_stats import PIXEL_STATS_DIM, pixel_statistics, soft_histogram

# Slices of the 72 values, in the module's order.
LUMA_HIST, CHROMA_HIST, BANDS = slice(0, 16), slice(16, 24), slice(24, 42)
FIRST_GRADIENT_HIST, FIRST_DETAIL = slice(42, 50), slice(50, 52)


def test_soft_histogram_splits_a_value_between_its_two_nearest_bins() -> None:
    hist = soft_histogram(torch.tensor([[0.25, 1.0]]), bins=3, low=0.0, high=1.0)  # centres 0, 0.5, 1
    torch.testing.assert_close(hist, torch.tensor([[0.25, 0.25, 0.5]]))


def test_a_flat_grey_picture_has_one_grey_level_no_chroma_and_no_detail() -> None:
    grey = torch.full((1, 3, 32, 48), 0.4)
    stats = pixel_statistics(grey)[0]
    assert stats.shape == (PIXEL_STATS_DIM,)
    luma = stats[LUMA_HIST]
    assert abs(float(luma.sum()) - 1) < 1e-5
    assert int(luma.argmax()) == 6  # 0.4 lies between the centres 6/15 = 0.4 exactly
    assert abs(float(stats[CHROMA_HIST][0]) - 1) < 1e-5  # all of it in the zero-chroma bin
    assert float(stats[BANDS].abs().max()) < 1e-5  # no colour in any brightness band
    assert abs(float(stats[FIRST_GRADIENT_HIST][0]) - 1) < 1e-5  # every gradient in the flat bin
    assert float(stats[FIRST_DETAIL].abs().max()) < 1e-6


def test_a_warm_tint_shows_as_yellow_in_every_band_it_fills() -> None:
    ramp = torch.linspace(0.1, 0.9, 64).expand(1, 1, 64, 64)
    neutral = ramp.expand(1, 3, 64, 64)
    sepia = torch.cat([ramp * 1.1, ramp, ramp * 0.75], dim=1).clamp(0, 1)  # red up, blue down: warm
    bands_n = pixel_statistics(neutral)[0][BANDS].view(6, 3)
    bands_s = pixel_statistics(sepia)[0][BANDS].view(6, 3)
    assert float(bands_n.abs().max()) < 1e-5
    # (R+G)/2 - B > 0 (yellow) and R - G > 0 (red) in every band the ramp reaches
    filled = bands_s[:, 2] > 0
    assert filled.sum() >= 4
    assert bool((bands_s[filled, 0] > 0).all()) and bool((bands_s[filled, 1] > 0).all())


def test_colour_statistics_do_not_depend_on_the_resolution() -> None:
    torch.manual_seed(0)
    small = torch.rand(2, 3, 16, 16)
    large = F.interpolate(small, scale_factor=4, mode="nearest")  # the same pixels, each repeated 16 times
    a, b = pixel_statistics(small), pixel_statistics(large)
    torch.testing.assert_close(a[:, :24], b[:, :24], atol=1e-5, rtol=1e-4)  # histograms: fractions of pixels
    # band means: a fixed floor of 1e-3 under a sum of band weights over 256 vs 4096 pixels; ≤ 1e-3 relative
    torch.testing.assert_close(a[:, BANDS], b[:, BANDS], atol=1e-5, rtol=1e-3)


def test_grain_raises_the_fine_detail_and_moves_gradients_up() -> None:
    torch.manual_seed(0)
    flat = torch.full((1, 3, 64, 64), 0.5)
    grainy = (flat + 0.08 * torch.randn(1, 1, 64, 64)).clamp(0, 1)
    plain, noisy = pixel_statistics(flat)[0], pixel_statistics(grainy)[0]
    assert float(noisy[FIRST_DETAIL][0]) > 0.03 > float(plain[FIRST_DETAIL][0])
    centres = torch.arange(8.0)
    assert float((noisy[FIRST_GRADIENT_HIST] * centres).sum()) > float((plain[FIRST_GRADIENT_HIST] * centres).sum()) + 3

