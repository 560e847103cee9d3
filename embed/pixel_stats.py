"""Colour and grain statistics of the input pixels: what a filter look changes that VGG19's statistics blur.

A colour grade (sepia, teal-orange, cyanotype, a faded film look) moves every pixel's chroma as a function of its
brightness, and grain, halftone or pixelation change the distribution of local contrast. VGG19's per-channel
means and stds see both only mixed with the subject's own colours and edges. Measured with a first version of
these statistics on the hard benchmark's filter looks at full strength (10 held-out photos × 14 looks, ranked
among themselves), 72 unlearned numbers alone found the same look at P@5 0.57, about as well as the 2944 AdaIN
statistics (0.59), better on some looks (cyanotype 0.9 against 0.7) and worse on others (pixel art 0.5 against
0.7): the two are complementary, which is why the style head reads both.

:func:`pixel_statistics`: [B, 3, H, W] RGB in 0..1 → [B, 72] fp32:

- luminance (BT.601 luma) histogram, 16 soft bins over 0..1;
- chroma histogram, 8 soft bins over 0..0.6, chroma = |(R−G, (R+G)/2−B)| (an opponent colour plane);
- per luminance band (6 soft bands from black to white): the mean of each opponent channel and of the chroma
  (18 values: the grade's colour as a function of brightness, e.g. teal shadows and orange highlights);
- at 3 scales (the luma pooled 2× between them): a histogram of log gradient magnitude (8 soft bins,
  e^−7 … 1) and the mean and std of the absolute difference to the 3×3 local mean (30 values: grain, edges, flat
  areas).

Histograms are fractions of the pixels (each sums to ≤ 1), so the statistics do not depend on the resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
PIXEL_STATS_DIM = 72
_SCALES = 3
_GRADIENT_FLOOR = 1e-3  # log gradients below this (flat areas; the input's own 1/255 steps) share the lowest bin


def _bin_weights(values: torch.Tensor, bins: int, low: float, high: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Triangular-kernel binning of values [B, N] over ``bins`` centres from low to high: (index [B, N, 2] into
    bins + 2 slots, weights [B, N, 2]). Slot j + 1 is centre j; slots 0 and bins + 1 collect what falls off the
    ends. Each value splits between its two nearest centres, in proportion to its nearness (weights sum to 1)."""
    position = (values - low) * ((bins - 1) / (high - low))
    lower = position.floor()
    upper_weight = position - lower
    first = (lower + 1).clamp(0, bins + 1).long()
    second = (lower + 2).clamp(0, bins + 1).long()
    return torch.stack([first, second], dim=-1), torch.stack([1 - upper_weight, upper_weight], dim=-1)


def soft_histogram(values: torch.Tensor, bins: int, low: float, high: float) -> torch.Tensor:
    """Triangular-kernel histogram: values [B, N] → [B, bins], each value split between its two nearest bin
    centres (so the histogram changes smoothly with the values); values outside [low, high] fall off within one
    bin width. Each row sums to ≤ 1. Scattered, not a [B, N, bins] comparison: 2 writes per value, not ``bins``."""
    index, weight = _bin_weights(values, bins, low, high)
    out = torch.zeros(values.shape[0], bins + 2, dtype=values.dtype, device=values.device)
    out.scatter_add_(1, index.flatten(1), weight.flatten(1))
    return out[:, 1:-1] / values.shape[1]


def _band_means(luma: torch.Tensor, channels: torch.Tensor, bands: int = 6) -> torch.Tensor:
    """luma [B, N], channels [B, N, K] → [B, bands·K]: each channel's mean in soft luminance bands (triangular
    weights over ``bands`` centres from 0 to 1; 0 where a band is empty)."""
    index, weight = _bin_weights(luma, bands, 0.0, 1.0)  # [B, N, 2]
    b, n, k = channels.shape
    sums = torch.zeros(b, bands + 2, k, dtype=channels.dtype, device=channels.device)
    weighted = weight[..., None] * channels[:, :, None, :]  # [B, N, 2, K]
    sums.scatter_add_(1, index.flatten(1)[..., None].expand(-1, -1, k), weighted.flatten(1, 2))
    totals = torch.zeros(b, bands + 2, dtype=luma.dtype, device=luma.device)
    totals.scatter_add_(1, index.flatten(1), weight.flatten(1))
    return (sums[:, 1:-1] / (totals[:, 1:-1, None] + 1e-3)).flatten(1)


def pixel_statistics(rgb: torch.Tensor) -> torch.Tensor:
    """RGB [B, 3, H, W] in 0..1 → [B, 72] fp32 colour and grain statistics (module docstring)."""
    rgb = rgb.float()
    red, green, blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    luma = LUMA[0] * red + LUMA[1] * green + LUMA[2] * blue
    opp_a, opp_b = red - green, 0.5 * (red + green) - blue
    chroma = torch.sqrt(opp_a.square() + opp_b.square())
    flat_luma = luma.flatten(1)
    parts = [
        soft_histogram(flat_luma, 16, 0.0, 1.0),
        soft_histogram(chroma.flatten(1), 8, 0.0, 0.6),
        _band_means(flat_luma, torch.stack([opp_a, opp_b, chroma], dim=-1).flatten(1, 2)),
    ]
    x = luma[:, None]
    for scale in range(_SCALES):
        if scale:
            x = F.avg_pool2d(x, 2, ceil_mode=True)
        dx, dy = x[..., :-1, 1:] - x[..., :-1, :-1], x[..., 1:, :-1] - x[..., :-1, :-1]
        magnitude = torch.sqrt(dx.square() + dy.square()).flatten(1)
        parts.append(soft_histogram(torch.log(magnitude + _GRADIENT_FLOOR), 8, math.log(_GRADIENT_FLOOR), 0.0))
        detail = (x - F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)).abs().flatten(1)
        parts.append(torch.stack([detail.mean(dim=1), detail.std(dim=1)], dim=1))
    return torch.cat(parts, dim=1)
