"""What the adversarially trained methods share (``pix2pix``, ``cyclegan``, ``munit``, ``mixgan``): the PatchGAN
discriminator of Isola et al. 2017 and the least-squares GAN loss (Mao et al. 2017)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """PatchGAN: images [B, 3, H, W] in 0..1, several concatenated along channels when ``inputs`` > 1 (pix2pix's
    conditional one sees (photo, image)) → a map of real/fake scores [B, 1, H/8-2, W/8-2], each over a 70×70
    patch (4×4 convs: three of stride 2, two of stride 1; instance norm but on the first and last; LeakyReLU 0.2).
    Also CycleGAN's discriminator (``inputs`` 1), and MIXGAN's with ``outputs`` > 1: one score map per style
    domain, [B, outputs, h, w], each judging its own domain."""

    def __init__(self, width: int = 32, inputs: int = 2, outputs: int = 1) -> None:
        super().__init__()
        widths = (width, 2 * width, 4 * width, 8 * width)
        layers: list[nn.Module] = [nn.Conv2d(3 * inputs, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout, stride in ((widths[0], widths[1], 2), (widths[1], widths[2], 2), (widths[2], widths[3], 1)):
            layers += [nn.Conv2d(cin, cout, 4, stride, 1), nn.InstanceNorm2d(cout, affine=True),
                       nn.LeakyReLU(0.2, inplace=True)]  # fmt: skip
        layers.append(nn.Conv2d(widths[3], outputs, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, *images: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat(images, dim=1) * 2 - 1)


def lsgan(scores: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares GAN loss of a score map: mean (score − 1)² for real, mean score² for fake."""
    return F.mse_loss(scores, torch.full_like(scores, 1.0 if real else 0.0))


def domain_judges(width: int, device: torch.device, lr: float) -> tuple[PatchDiscriminator, PatchDiscriminator,
                                                                      torch.optim.Optimizer]:  # fmt: skip
    """Two unconditional PatchGANs, one per domain of an unpaired translation (CycleGAN, MUNIT), and the one Adam
    (betas 0.5, 0.999, as both papers) that steps them together."""
    first, second = PatchDiscriminator(width, inputs=1).to(device), PatchDiscriminator(width, inputs=1).to(device)
    optimizer = torch.optim.Adam([*first.parameters(), *second.parameters()], lr=lr, betas=(0.5, 0.999))
    return first, second, optimizer
