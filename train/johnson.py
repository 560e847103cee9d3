"""``styledex train johnson --style IMG --name NAME``: one transform network per style (Johnson et al. 2016).

Loss (on the frozen VGG19, RGB 0..1; :class:`PerceptualLoss`, shared with the StyleBank trainer):

- content: MSE of relu2_2 features between output and content crop, divided by the content features' mean
  square. relu2_2 is Johnson et al.'s choice: at 1/2 resolution it keeps edges and small objects, which the
  slim network would otherwise trade away for texture; relu3_1 stylizes harder but blurs layout.
- style: per layer relu1_1 … relu4_1, the MSE between the output's Gram matrix and the style image's,
  divided by the style Gram's mean square, averaged over the layers. Gram (not mean/std) as in the paper: it
  also carries the cross-channel correlations a single style's texture is made of. The style targets are
  computed once, from the whole style image at the training scale (long side ``style_size``), so a step needs
  one VGG pass on the output and one shallow pass (to relu2_2) on the content.
- total variation of the output, weighted by ``tv_weight``.

The relative normalizations keep the weights meaningful whatever the image size or layer scale. The run also
writes the style image (long side ≤ 512, JPEG quality 90) as ``<name>.jpg`` beside the weights (``Task.files``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from pydantic import Field

from styledex.embed.stats import gram_matrix
from styledex.embed.transfer.imaging import fit_long_side, to_tensor
from styledex.embed.transfer.johnson import TransformNet
from styledex.embed.vgg import shared_encoder
from styledex.train import TrainError
from styledex.train.data import CropSampler, load_pool
from styledex.train.loop import Task, TrainConfig, autocast
from styledex.train.losses import total_variation
from styledex.train.registry import trainer

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
SHIPPED_STYLE_SIDE = 512  # long side of the style image written beside the weights


class Config(TrainConfig):
    style_images: list[str] = []
    name: str | None = Field(None, description="the style's name (default: the style image's file stem)")
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(5.0, ge=0)
    tv_weight: float = Field(0.0, ge=0)
    content_layer: str = "relu2_2"
    style_size: int = Field(256, ge=16, description="long side of the style image when its Grams are taken")
    width: int = Field(16, ge=4, description="channels after the first conv (the paper's 32); then 2×, 4×")
    res_blocks: int = Field(5, ge=0)


def check_name(name: str) -> str:
    if not NAME_PATTERN.match(name):
        raise TrainError(f"style name {name!r}: use letters, digits, '-' and '_' (it names files)")
    return name


def style_names(style_images: Sequence[str], names: Sequence[str] | None) -> list[str]:
    """The names of a multi-style trainer's styles (stylebank, mixgan): ``names`` (one per style image) or the
    files' stems; TrainError (one line) for a count mismatch, a name that cannot name files, or a repeated name."""
    if names is not None and len(names) != len(style_images):
        raise TrainError(f"{len(names)} style_names for {len(style_images)} style images")
    picked = [check_name(n) for n in (names or [Path(p).stem for p in style_images])]
    if len(set(picked)) != len(picked):
        raise TrainError(f"style names must differ, got {', '.join(picked)}; set style_names")
    return picked


def open_style(path: str) -> Image.Image:
    """The RGB style image at ``path``; :class:`TrainError` (one line) when it is missing or unreadable."""
    if not Path(path).is_file():
        raise TrainError(f"no such style image: {path}")
    try:
        with Image.open(path) as img:
            return ImageOps.exif_transpose(img).convert("RGB")
    except OSError as exc:
        raise TrainError(f"cannot read style image {path}: {exc}") from None


def single_style(style_images: Sequence[str], name: str | None, what: str) -> tuple[Image.Image, str]:
    """The one style image of a per-style trainer and its name (``name``, else the file's stem); TrainError (one
    line, starting with ``what``) for none or several, an unreadable image or a name that cannot name files."""
    if len(style_images) != 1:
        raise TrainError(f"{what}: give exactly one --style IMAGE (got {len(style_images)})")
    return open_style(style_images[0]), check_name(name or Path(style_images[0]).stem)


def style_jpeg(img: Image.Image) -> bytes:
    """``img`` as JPEG (quality 90), shrunk so its long side is at most 512 px: the copy shipped for display."""
    if max(img.size) > SHIPPED_STYLE_SIDE:
        img = fit_long_side(img, SHIPPED_STYLE_SIDE)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class PerceptualLoss:
    """Johnson et al.'s content + Gram style loss against precomputed targets of ``n`` style images.

    Args:
        styles: the style images at training scale, each [1, 3, H, W] in 0..1.
        content_layer: the VGG layer of the content loss.
        device: where VGG runs.
    """

    def __init__(self, styles: Sequence[torch.Tensor], content_layer: str, device: torch.device) -> None:
        self.content_layer = content_layer
        self.encoder = shared_encoder((*STYLE_LAYERS, content_layer), device)
        self.content_encoder = shared_encoder((content_layer,), device)
        with torch.no_grad():
            feats = [self.encoder(s.to(device)) for s in styles]
        # Gram targets per layer: [n_styles, C, C]; their mean squares [n_styles] normalize the loss per style
        self.grams = {name: torch.cat([gram_matrix(f[name]) for f in feats]) for name in STYLE_LAYERS}
        self.scale = {name: g.pow(2).mean(dim=(1, 2)).clamp(min=1e-8) for name, g in self.grams.items()}

    def __call__(self, output: torch.Tensor, content: torch.Tensor, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """Losses of ``output`` [B, 3, H, W] vs ``content`` [B, 3, H, W] and styles ``index`` [B] (long).

        Returns ``{"content", "style"}`` scalars (batch means).
        """
        with torch.no_grad():
            target = self.content_encoder(content)[self.content_layer].float()
        feats = self.encoder(output)
        content_term = F.mse_loss(feats[self.content_layer].float(), target) / target.pow(2).mean().clamp(min=1e-8)
        terms = []
        for name in STYLE_LAYERS:
            diff = (gram_matrix(feats[name]) - self.grams[name][index]).pow(2).mean(dim=(1, 2))
            terms.append((diff / self.scale[name][index]).mean())
        return {"content": content_term, "style": torch.stack(terms).mean()}


def style_tensor(img: Image.Image, size: int) -> torch.Tensor:
    """The style image fitted to long side ``size`` px: [1, 3, H, W] in 0..1."""
    return to_tensor(fit_long_side(img, size))[None]


@trainer("johnson", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The johnson task: train a :class:`TransformNet` on ``cfg.content`` crops for ``cfg.style_images[0]``."""
    style_img, name = single_style(cfg.style_images, cfg.name, "johnson trains one network per style")
    sampler = CropSampler(load_pool(cfg.content, max(cfg.load_side, cfg.image_size)), cfg.image_size, generator)
    net = TransformNet((cfg.width, 2 * cfg.width, 4 * cfg.width), cfg.res_blocks).to(device)
    loss_fn = PerceptualLoss([style_tensor(style_img, cfg.style_size)], cfg.content_layer, device)

    def step(i: int) -> dict[str, torch.Tensor]:
        content = sampler.sample(cfg.batch_size).to(device)
        index = torch.zeros(content.shape[0], dtype=torch.long, device=device)
        with autocast(device):
            output = net(content)
            losses = loss_fn(output, content, index)
        tv = total_variation(output.float())
        total = cfg.content_weight * losses["content"] + cfg.style_weight * losses["style"] + cfg.tv_weight * tv
        return {"total": total, **losses, "tv": tv}

    meta: dict[str, Any] = {
        "name": name,
        "style_image": f"styles/{name}.jpg",
        "style_source": str(cfg.style_images[0]),
        **net.spec(),
        "content_layer": cfg.content_layer,
        "style_layers": list(STYLE_LAYERS),
    }
    task = Task(f"johnson_{name}", {"net": net}, step, meta)
    task.files = {f"{name}.jpg": style_jpeg(style_img)}
    return task
