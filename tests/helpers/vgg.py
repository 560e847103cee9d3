"""VGG19 features of test images, as the ``gatys`` transfer sees them (its encoder, on the CPU)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from styledex.embed.transfer.gatys import _encoder


def vgg_features(img: Image.Image) -> dict[str, torch.Tensor]:
    """Layer name → [1, C, H, W] features of ``img`` (RGB, 0..1, at its own size) from the gatys encoder."""
    x = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        return _encoder("cpu")(x.contiguous())
