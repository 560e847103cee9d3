"""Perceptual losses on the frozen VGG19 encoder (RGB 0..1 contract of :mod:`styledex.embed.vgg`).

All losses are means over the batch, so they do not grow with the batch size; feature-map losses are mean
squared errors (they do not grow with the image size either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch
import torch.nn.functional as F

from styledex.embed.stats import gram_matrix, mean_std

Features = Mapping[str, torch.Tensor]


def content_loss(output: Features, target: Features, layers: Iterable[str]) -> torch.Tensor:
    """Mean over ``layers`` of the MSE between feature maps (target detached)."""
    terms = [F.mse_loss(output[name].float(), target[name].detach().float()) for name in layers]
    return torch.stack(terms).mean()


def mean_std_style_loss(output: Features, style: Features, layers: Iterable[str]) -> torch.Tensor:
    """Huang & Belongie's style loss: Σ over layers of MSE(μ) + MSE(σ) of the channel statistics.

    ``style`` may hold one image (broadcast over the output batch) or one per output image.
    """
    total = torch.zeros((), device=next(iter(output.values())).device)
    for name in layers:
        mo, so = mean_std(output[name])
        ms, ss = mean_std(style[name].detach())
        total = total + F.mse_loss(mo, ms.expand_as(mo)) + F.mse_loss(so, ss.expand_as(so))
    return total


def gram_style_loss(output: Features, style: Features, layers: Iterable[str]) -> torch.Tensor:
    """Σ over layers of the MSE between Gram matrices (÷ H·W, see :func:`~styledex.embed.stats.gram_matrix`)."""
    total = torch.zeros((), device=next(iter(output.values())).device)
    for name in layers:
        go = gram_matrix(output[name])
        gs = gram_matrix(style[name].detach())
        total = total + F.mse_loss(go, gs.expand_as(go))
    return total


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of [B, 3, H, W] images (0 for a flat image)."""
    dh = (images[:, :, 1:, :] - images[:, :, :-1, :]).abs().mean()
    dw = (images[:, :, :, 1:] - images[:, :, :, :-1]).abs().mean()
    return dh + dw
