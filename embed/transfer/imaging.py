"""PIL ↔ tensor conversion and resizing shared by the transfer methods and the trainers.

Tensors are float32 RGB in 0..1, shape [3, H, W] (single) or [B, 3, H, W] (batches).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB image → [3, H, W] float32 in 0..1."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def to_image(x: torch.Tensor) -> Image.Image:
    """[3, H, W] or [1, 3, H, W] in 0..1 (clamped) → RGB image."""
    if x.dim() == 4:
        x = x[0]
    arr = (x.detach().float().clamp(0, 1) * 255.0).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(arr)


def fit_long_side(img: Image.Image, size: int, multiple: int = 1) -> Image.Image:
    """``img`` resized so its long side is ``size`` px, both sides rounded to a multiple of ``multiple``."""
    w, h = img.size
    scale = size / max(w, h)
    nw = max(multiple, round(w * scale / multiple) * multiple)
    nh = max(multiple, round(h * scale / multiple) * multiple)
    return img.convert("RGB").resize((nw, nh), Image.Resampling.LANCZOS)


def fit_short_side(img: Image.Image, side: int) -> Image.Image:
    """``img`` shrunk so its short side is ``side`` px; smaller images are enlarged to it (crops need it)."""
    w, h = img.size
    scale = side / min(w, h)
    return img.convert("RGB").resize((max(side, round(w * scale)), max(side, round(h * scale))),
                                     Image.Resampling.LANCZOS)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` when given (``auto`` counts as none), else CUDA when available, else CPU."""
    if device and device != "auto":
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad [B, C, H, W] on the bottom and right so H and W are multiples of ``multiple``."""
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return images
    # reflection needs the pad smaller than the side; replicate covers the (tiny-image) rest
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(images, (0, pw, 0, ph), mode=mode)


def run_network(
    net: nn.Module, content: Image.Image, size: int, device: torch.device, multiple: int = 4
) -> Image.Image:
    """``content`` fitted to long side ``size`` px, through ``net`` (padded to ``multiple``), cropped back."""
    img = fit_long_side(content, size)
    x = to_tensor(img)[None].to(device)
    with torch.inference_mode():
        y = net(pad_to_multiple(x, multiple))[..., : x.shape[-2], : x.shape[-1]]
    return to_image(y.cpu())
