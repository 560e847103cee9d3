"""Pure functions over feature maps: the style statistics (Gram, mean/std) and the style-free content map.

Conventions, pinned by tests:
- ``gram_matrix`` divides by H·W (pystiche's convention, not pytorch/examples' C·H·W), so the Gram of a map of
  ones is a matrix of ones at every size and the statistic does not depend on the image's resolution.
- ``mean_std`` uses the biased (population) standard deviation over the spatial positions, plus ``eps`` under the
  square root, as in Huang & Belongie's ``calc_mean_std``.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterator

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
    if blockwise_on_cpu(features):
        mean, var = _mean_var_channels_last(features)
    else:
        x = features.float()
        space = tuple(range(2, x.ndim))  # H, W (any trailing dims count as positions)
        mean = x.mean(dim=space)
        var = torch.linalg.vector_norm(x, dim=space).square() / math.prod(x.shape[2:]) - mean.square()
    return mean, (var.clamp_min(0.0) + eps).sqrt()


# Statistics of maps still alive, by map: the `adain` and `style_head` spaces read the same five layers' means and
# stds from one forward, and on CPU those passes over relu1_1…relu5_1 cost about as much as the head itself.
# By the map's identity (tensors compare elementwise, so no WeakKeyDictionary); an entry goes with its map.
_SHARED_MEAN_STD: dict[int, tuple[weakref.ref[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]] = {}


def shared_mean_std(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`mean_std` of a feature map that is not changed in place (a VGG forward's output), computed once per
    map while it lives: later calls on the same tensor object return the same (mean, std)."""
    if features.requires_grad:  # a map in a graph: never shared (its statistics must carry their gradients)
        return mean_std(features)
    key = id(features)
    entry = _SHARED_MEAN_STD.get(key)
    if entry is not None and entry[0]() is features:
        return entry[1]
    stats = mean_std(features)
    _SHARED_MEAN_STD[key] = (weakref.ref(features, lambda _, key=key: _SHARED_MEAN_STD.pop(key, None)), stats)
    return stats


# Positions per block in the channels-last passes: one image's block at 64 channels is 1 MiB of fp32, so it
# stays in a core's L2 cache while its sums (or its projection) are taken.
BLOCK_POSITIONS = 4096


def channels_last_blocks(x: torch.Tensor) -> Iterator[tuple[int, torch.Tensor]]:
    """(image index, fp32 block [≤ BLOCK_POSITIONS, C]) over the positions of a channels-last [B, C, H, W] map.

    Seen as [B, H·W, C] rows (a view: channels-last memory is already in that order) the map is read contiguously;
    each block is converted to fp32 on its own, so a bf16 map is never copied whole (measured at relu1_1, batch 8
    at 256 px: a whole-map ``.float()`` before the reductions cost 2.5x the blockwise pass).
    """
    b, c, h, w = x.shape
    rows = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
    for i in range(b):
        for block in rows[i].split(BLOCK_POSITIONS, dim=0):
            yield i, block.float()


def blockwise_on_cpu(x: torch.Tensor) -> bool:
    """Whether the statistics read ``x`` block by block (:func:`channels_last_blocks`): a 4-d channels-last map
    (not also plain contiguous, as a 1×1 map is) on the CPU. On a GPU one whole-map kernel beats hundreds of
    small per-block launches, whatever the layout."""
    return (
        x.device.type == "cpu"
        and x.ndim == 4
        and not x.is_contiguous()
        and x.is_contiguous(memory_format=torch.channels_last)
    )


def _mean_var_channels_last(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, biased variance) per channel of a channels-last [B, C, H, W] map: ([B, C], [B, C]) in fp32.

    VGG19 on CPU hands out channels-last (NHWC) maps when fed channels-last input (as decoded images are), and a
    reduction over H, W then strides across memory: 6x slower than on NCHW (measured on relu1_1…relu5_1 of real
    images, 30 ms vs 5 ms per image at 256 px). Summed a block of positions at a time (see
    :func:`channels_last_blocks`), the values and their squares come from cache: 10 → 8 ms per image in fp32, and
    21 → 8 ms from bf16 maps. The sums are taken around each image's first-block mean (the shifted-data form of
    the variance), so E[d²] − E[d]² does not cancel when a channel's mean dwarfs its std.
    """
    b, c, h, w = x.shape
    shift = torch.zeros(b, c, device=x.device)
    total = torch.zeros(b, c, device=x.device)
    total_square = torch.zeros(b, c, device=x.device)
    seen = -1
    for i, block in channels_last_blocks(x):
        if i != seen:
            shift[i], seen = block.mean(dim=0), i
        d = block - shift[i]
        total[i] += d.sum(dim=0)
        total_square[i] += (d * d).sum(dim=0)
    n = h * w
    mean_d = total / n
    return shift + mean_d, total_square / n - mean_d.square()


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
