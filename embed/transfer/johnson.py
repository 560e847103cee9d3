"""``johnson``: one feed-forward transform network per style (Johnson et al. 2016, "Perceptual losses for
real-time style transfer"), with Ulyanov et al.'s instance normalization (2016) in place of batch norm.

Network (input and output RGB 0..1, [B, 3, H, W], H and W multiples of 4; :func:`stylize` pads to that):
a reflection-padded 9×9 conv, two stride-2 3×3 convs, ``res_blocks`` residual blocks, two nearest 2× upsamplings
each followed by a 3×3 conv (rather than Johnson's fractionally strided convs, which leave checkerboard
artefacts), and a 9×9 conv back to RGB. Every conv but the last is followed by instance norm and ReLU.
The paper's widths are 32/64/128; styledex trains on a CPU, so the shipped networks are slimmer: the widths
are stored in each weight file's meta (``channels``, ``res_blocks``).

Weights: ``embed/weights/johnson_<name>.pt`` (one per trained style, ``styledex train johnson``), meta
``{"name", "style_image": "styles/<name>.jpg", "channels", "res_blocks", ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from styledex.embed.transfer.per_style import PerStyleWeights
from styledex.embed.transfer.weights import load_model

PREFIX = "johnson_"
DEFAULT_CHANNELS = (16, 32, 64)
DEFAULT_RES_BLOCKS = 5


class ConvNormReLU(nn.Sequential):
    """Reflection pad, conv (``stride``), then instance norm (affine) and ReLU unless ``last``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, last: bool = False) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if not last:
            layers += [nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class UpConv(nn.Sequential):
    """Nearest 2× upsampling then :class:`ConvNormReLU` (3×3): [B, cin, H, W] → [B, cout, 2H, 2W]."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvNormReLU(cin, cout, 3))


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))), shape-preserving (Johnson's residual block without the final ReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """The transform network of the module docstring: [B, 3, H, W] (0..1) → [B, 3, H, W] (≈ 0..1, unclamped).

    Args:
        channels: widths after the 9×9 conv and each downsampling conv (the paper's 32, 64, 128).
        res_blocks: residual blocks at 1/4 resolution (the paper's 5).
    """

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, res_blocks: int = DEFAULT_RES_BLOCKS) -> None:
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels, self.res_blocks = (c1, c2, c3), int(res_blocks)
        self.net = nn.Sequential(
            ConvNormReLU(3, c1, 9),
            ConvNormReLU(c1, c2, 3, stride=2),
            ConvNormReLU(c2, c3, 3, stride=2),
            *(ResidualBlock(c3) for _ in range(self.res_blocks)),
            UpConv(c3, c2),
            UpConv(c2, c1),
            ConvNormReLU(c1, 3, 9, last=True),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, stored in the weight file's meta."""
        return {"channels": list(self.channels), "res_blocks": self.res_blocks}


# -- the shipped networks -----------------------------------------------------------------------------------
SHIPPED = PerStyleWeights("johnson", PREFIX)


def trained_styles() -> dict[str, Path]:
    """Every shipped johnson network: ``{style name: weight file}``."""
    return SHIPPED.trained()


def _build(state: dict[str, Any], meta: dict[str, Any]) -> TransformNet:
    net = TransformNet(meta.get("channels", DEFAULT_CHANNELS), meta.get("res_blocks", DEFAULT_RES_BLOCKS))
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str, device: torch.device | str = "cpu") -> tuple[TransformNet, dict[str, Any]]:
    """The network stored in ``path`` (a ``johnson_<name>.pt``), in eval mode on ``device``, and its meta."""
    return load_model(path, device, _build, "johnson")  # type: ignore[return-value]


stylize = SHIPPED.register(
    __name__,
    description="Johnson et al. 2016: one feed-forward network per style (instance norm, slim widths)",
    train="styledex train johnson --style IMG --name NAME",
    load=load_network,
)
