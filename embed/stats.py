"""Pure functions over feature maps: the style statistics (Gram, mean/std) and the style-free content map.

Conventions, pinned by tests:
- ``gram_matrix`` divides by H·W (pystiche's convention, not pytorch/examples' C·H·W), so the Gram of a map of
  ones is a matrix of ones at every size and the statistic does not depend on the image's resolution.
- ``mean_std`` uses the biased (population) standard deviation over the spatial positions, plus ``eps`` under the
  square root, as in Huang & Belongie's ``calc_mean_std``.
"""

from __future__ import annotations

import math

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix G = F Fᵀ / (H·W) per image.

    features: [B, C, H, W] → [B, C, C], symmetric and positive semi-definite. Computed in fp32 whatever the input
    dtype, since the sum over H·W positions loses precision in bf16.
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    return flat @ flat.transpose(1, 2) / (h * w)


def mean_std(features: torch.Tensor, eps: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and standard deviation (AdaIN's style statistics).

    features: [B, C, H, W] → (mean [B, C], std [B, C]); std = sqrt(biased variance + eps), in fp32.
    """
    # var = E[x²] − E[x]², each moment one memory-bound reduction with nothing allocated (the squares are summed
    # inside vector_norm): on CPU 6x faster than torch.var_mean's Welford pass, which cost ~8% of an embedding
    # batch (relu1_1 alone holds 64 × H·W values per image). The subtraction loses digits only when std ≪ mean:
    # std within ~1e-3 of the two-pass value at mean = 100·std (2e-6 on VGG features), far below what matters here.
    x = features.float()
    if x.ndim == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        mean, mean_square = _moments_channels_last(x)
    else:
        space = tuple(range(2, x.ndim))  # H, W (any trailing dims count as positions)
        mean = x.mean(dim=space)
        mean_square = torch.linalg.vector_norm(x, dim=space).square() / math.prod(x.shape[2:])
    var = (mean_square - mean.square()).clamp_min(0.0)
    return mean, (var + eps).sqrt()


# Positions per block in `_moments_channels_last`: a block of a batch of 8 at 64 channels is 8 MiB of floats.
_BLOCK_POSITIONS = 4096


def _moments_channels_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(E[x], E[x²]) per channel of a channels-last [B, C, H, W] map: ([B, C], [B, C]).

    VGG19 on CPU hands out channels-last (NHWC) maps when fed channels-last input (as decoded images are), and a
    reduction over H, W then strides across memory: 6x slower than on NCHW (measured on relu1_1…relu5_1 of real
    images, 30 ms vs 5 ms per image at 256 px). Seen as [B, H·W, C] the same memory is contiguous; summing the
    values and their squares a block of positions at a time keeps each block in cache (10 ms per image).
    """
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)  # a view: channels-last memory is already in this order
    total = x.new_zeros(b, c)
    total_square = x.new_zeros(b, c)
    for block in rows.split(_BLOCK_POSITIONS, dim=1):
        total = total + block.sum(dim=1)
        total_square = total_square + block.square().sum(dim=1)
    return total / (h * w), total_square / (h * w)


def instance_normalize(features: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Remove the per-channel mean and std over space: (F - μ) / σ, the content map in the AdaIN view.

    features: [B, C, H, W] → [B, C, H, W] fp32, each channel with spatial mean 0 and std ≈ 1 (a constant channel
    becomes 0). Invariant to any per-channel affine change a·F + b with a > 0, which is what AdaIN treats as style.
    """
    mean, std = mean_std(features, eps)
    return (features.float() - mean[..., None, None]) / std[..., None, None]


def upper_triangle(matrices: torch.Tensor) -> torch.Tensor:
    """The upper triangle (diagonal included) of symmetric matrices: [B, C, C] → [B, C·(C+1)/2]."""
    c = matrices.shape[-1]
    rows, cols = torch.triu_indices(c, c, device=matrices.device)
    return matrices[:, rows, cols]
