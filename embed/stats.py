"""Pure functions over feature maps: the style statistics (Gram, mean/std) and the style-free content map.

Conventions, pinned by tests:
- ``gram_matrix`` divides by H·W (pystiche's convention, not pytorch/examples' C·H·W), so the Gram of a map of
  ones is a matrix of ones at every size and the statistic does not depend on the image's resolution.
- ``mean_std`` uses the biased (population) standard deviation over the spatial positions, plus ``eps`` under the
  square root, as in Huang & Belongie's ``calc_mean_std``.
"""

from __future__ import annotations

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
    # One fused pass for both moments: at relu1_1 (64 × H·W values per image) separate mean and var passes cost
    # ~8% of an embedding batch on CPU.
    var, mean = torch.var_mean(features.flatten(2).float(), dim=2, correction=0)
    return mean, (var + eps).sqrt()


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
