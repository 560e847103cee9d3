"""``pix2pix``: one look learned as image-to-image translation from paired examples (Isola et al. 2017, "Image-to-
image translation with conditional adversarial networks"), one generator per look.

Generator (input and output RGB 0..1, [B, 3, H, W], H and W multiples of 2**depth; :func:`stylize` pads to that):
a U-Net. ``depth`` encoder steps, each a 4×4 stride-2 conv, instance norm (not on the first nor the innermost
step, where one pixel per channel would normalize to zero) and LeakyReLU 0.2; then ``depth`` decoder steps, each
a nearest 2× upsampling and a 3×3 conv (rather than the paper's transposed convs, which leave checkerboard
artefacts), instance norm and ReLU, concatenated with the encoder's map of the same size (the skips that carry
the photo's edges through; at full size the photo itself); a last 3×3 conv to RGB and ``(tanh + 1) / 2``. The
paper uses batch norm with batch 1, which is instance norm; its dropout noise is left out (the look is
deterministic). Widths: ``width``·(1, 2, 4, 8, 8, …), slimmer than the paper's 64 for a CPU.

The discriminator (training only) is in ``train/pix2pix.py``. The training pairs are photos and their rendering
by one of the shipped methods (``teacher``), so a generator learns that method's rendering of one style image.

Weights: ``embed/weights/pix2pix_<name>.pt`` (one per look, ``styledex train pix2pix``), meta ``{"name",
"style_image", "width", "depth", "teacher", ...}``; the look's style image is ``embed/weights/styles/<name>.jpg``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from styledex.embed.transfer.per_style import PerStyleWeights
from styledex.embed.transfer.weights import load_model

PREFIX = "pix2pix_"
DEFAULT_WIDTH = 24
DEFAULT_DEPTH = 5
SHIPPED = PerStyleWeights("pix2pix", PREFIX)


class _Down(nn.Sequential):
    """4×4 stride-2 conv (reflection padded), instance norm unless ``norm`` is False, LeakyReLU 0.2:
    [B, cin, H, W] → [B, cout, H/2, W/2]."""

    def __init__(self, cin: int, cout: int, norm: bool) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 4, 2)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        super().__init__(*layers)


class _Up(nn.Sequential):
    """Nearest 2× upsampling, 3×3 conv, instance norm, ReLU: [B, cin, H, W] → [B, cout, 2H, 2W]."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReflectionPad2d(1),
            nn.Conv2d(cin, cout, 3),
            nn.InstanceNorm2d(cout, affine=True),
            nn.ReLU(inplace=True),
        )


class UNetGenerator(nn.Module):
    """The U-Net of the module docstring: [B, 3, H, W] (0..1) → [B, 3, H, W] (0..1).

    Args:
        width: channels after the first encoder step; the next steps double it up to 8×.
        depth: encoder (and decoder) steps; the bottleneck is 1/2**depth of the input side.
    """

    def __init__(self, width: int = DEFAULT_WIDTH, depth: int = DEFAULT_DEPTH) -> None:
        super().__init__()
        self.width, self.depth = int(width), int(depth)
        widths = [self.width * min(2**i, 8) for i in range(self.depth)]
        self.downs = nn.ModuleList(
            _Down(3 if i == 0 else widths[i - 1], widths[i], norm=0 < i < self.depth - 1) for i in range(self.depth)
        )
        # Decoder step i (innermost first) takes the map below, concatenated with the encoder's of that size
        # (none for the innermost), and outputs the width of the encoder step above it.
        ups = []
        for i in reversed(range(self.depth)):
            cin = widths[i] if i == self.depth - 1 else 2 * widths[i]
            cout = widths[i - 1] if i > 0 else self.width
            ups.append(_Up(cin, cout))
        self.ups = nn.ModuleList(ups)
        self.to_rgb = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(self.width + 3, 3, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        encoded = []
        x = images
        for down in self.downs:
            x = down(x)
            encoded.append(x)
        x = encoded.pop()  # the bottleneck
        for up in self.ups:
            # the encoder's map of this size; at full size the photo itself, whose edges the output keeps
            x = torch.cat([up(x), encoded.pop() if encoded else images], dim=1)
        return (torch.tanh(self.to_rgb(x)) + 1) / 2

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, stored in the weight file's meta."""
        return {"width": self.width, "depth": self.depth}


def _build(state: dict[str, Any], meta: dict[str, Any]) -> UNetGenerator:
    net = UNetGenerator(meta.get("width", DEFAULT_WIDTH), meta.get("depth", DEFAULT_DEPTH))
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str, device: torch.device | str = "cpu") -> tuple[UNetGenerator, dict[str, Any]]:
    """The generator stored in ``path`` (a ``pix2pix_<name>.pt``), in eval mode on ``device``, and its meta."""
    return load_model(path, device, _build, "pix2pix")  # type: ignore[return-value]


stylize = SHIPPED.register(
    __name__,
    description="Isola et al. 2017: a U-Net per look, trained adversarially (PatchGAN) and with L1 on paired photos",
    train="styledex train pix2pix --style IMG --name NAME",
    load=load_network, multiple=lambda net: 2**net.depth,
)
