"""The ``munit_style`` and ``munit_content`` spaces: the codes of styledex's trained MUNIT (:mod:`.transfer.munit`).

- ``munit_style``: the style codes of both domains' style encoders (photo, painting), concatenated, L2-normalized:
  [B, 2·style_dim]. Each encoder reads the look in its own domain's terms (trained towards N(0, I), so directions
  are comparable); an item's look is both readings.
- ``munit_content``: the photo content encoder's code (the shared content space both domains' decoders read),
  average-pooled to a 2×2 grid as ``content`` is, L2-normalized: [B, 4·channels].

Each image is seen at long side :data:`INPUT_SIDE` px (keeping its aspect ratio), padded to the network's multiple.
One forward of each encoder per image (sizes differ, so no batching across images).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .transfer import weights as shipped_weights
from .transfer.munit import TRAIN_COMMAND, WEIGHTS_NAME, image_batch, load_network

INPUT_SIDE = 128  # the training photos' scale (crops of images whose short side is the run's load_side)
STYLE_SPACE, CONTENT_SPACE = "munit_style", "munit_content"


def weights_path() -> Path | None:
    """``embed/weights/munit.pt`` when shipped."""
    return shipped_weights.shipped(WEIGHTS_NAME)


def missing_reason(space: str) -> str | None:
    """One line naming the command that trains the network, when it is not shipped; else ``None``."""
    if weights_path() is None:
        return f"space '{space}' needs the trained MUNIT: run `{TRAIN_COMMAND}` and ship {WEIGHTS_NAME}.pt"
    return None


def fingerprint() -> str:
    """16 hex digits of the shipped weight file's SHA-256 (read once per modification)."""
    path = weights_path()
    if path is None:
        raise ValueError(missing_reason(STYLE_SPACE))
    return shipped_weights.file_digest(path)


def munit_vectors(images: Sequence[Image.Image], device: torch.device) -> dict[str, np.ndarray]:
    """``{munit_style: [n, 2·style_dim], munit_content: [n, 4·channels]}`` unit float32 rows of ``images``."""
    net, _ = load_network(weights_path(), device)
    styles, contents = [], []
    with torch.inference_mode():
        for image in images:
            x = image_batch(image, INPUT_SIDE, net.photo.multiple, device)
            styles.append(torch.cat([net.photo.style(x), net.painting.style(x)], dim=1))
            contents.append(F.adaptive_avg_pool2d(net.photo.content(x), 2).flatten(1))
    return {
        STYLE_SPACE: F.normalize(torch.cat(styles).float(), dim=1).cpu().numpy(),
        CONTENT_SPACE: F.normalize(torch.cat(contents).float(), dim=1).cpu().numpy(),
    }
