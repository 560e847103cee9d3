"""``cyclegan``: a look learned from unpaired examples, photos on one side and paintings on the other (Zhu et al.
2017, "Unpaired image-to-image translation using cycle-consistent adversarial networks").

Generator: CycleGAN's is Johnson et al.'s transform network (two stride-2 convs, residual blocks, two upsamplings,
instance norm), so this is :class:`~styledex.embed.transfer.johnson.TransformNet` (nearest upsampling + conv in
place of transposed convs) ending in ``(tanh + 1) / 2``: RGB 0..1 in and out, [B, 3, H, W], H and W multiples of 4
(:func:`stylize` pads). Training (``train/cyclegan.py``) learns two of them, photo → look and look → photo; the
photo → look one ships.

Weights: ``embed/weights/cyclegan_<name>.pt`` (one per look, ``styledex train cyclegan``), meta ``{"name",
"style_image", "channels", "res_blocks", "domain", ...}``; ``style_image`` is a painting representative of the
look's domain (the run's record says how it was chosen), for anyone measuring the look.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from styledex.embed.transfer.johnson import DEFAULT_CHANNELS, DEFAULT_RES_BLOCKS, TransformNet
from styledex.embed.transfer.per_style import PerStyleWeights
from styledex.embed.transfer.weights import load_model

SHIPPED = PerStyleWeights("cyclegan", "cyclegan_")


class CycleGenerator(TransformNet):
    """:class:`TransformNet` with its output squashed into 0..1 by ``(tanh + 1) / 2``, as CycleGAN's tanh output."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return (torch.tanh(self.net(images)) + 1) / 2


def _build(state: dict[str, Any], meta: dict[str, Any]) -> CycleGenerator:
    net = CycleGenerator(meta.get("channels", DEFAULT_CHANNELS), meta.get("res_blocks", DEFAULT_RES_BLOCKS))
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str, device: torch.device | str = "cpu") -> tuple[CycleGenerator, dict[str, Any]]:
    """The photo → look generator stored in ``path`` (a ``cyclegan_<name>.pt``), in eval mode, and its meta."""
    return load_model(path, device, _build, "cyclegan")  # type: ignore[return-value]


stylize = SHIPPED.register(
    __name__,
    description="Zhu et al. 2017: photo ↔ painting generators learned from unpaired images with cycle consistency",
    train="styledex train cyclegan --name NAME [--set style=[FOLDER]]",
    load=load_network,
)
