"""Gatys et al. (2016) style transfer by optimizing the pixels on VGG19, with the 2017 colour-preservation control.

Losses (on the encoder's RGB 0..1 contract, see :mod:`styledex.embed.vgg`):

- content: mean squared difference of the relu4_2 features, divided by the content features' mean square, so
  it reads as a relative error and does not depend on the image's size or brightness;
- style: per layer (relu1_1 … relu5_1), the mean squared difference of the Gram matrices
  (:func:`~styledex.embed.stats.gram_matrix`, divided by H·W), divided by the style Gram's mean square; averaged
  over the layers;
- total variation (optional): the mean absolute difference of neighbouring pixels.

The relative normalization keeps the default weights meaningful at any resolution. The image starts from the
content and is clamped to 0..1 after each step.

This module imports nothing from styledex outside ``styledex.embed``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from PIL import Image

from styledex.embed.stats import gram_matrix
from styledex.embed.transfer.registry import TransferError
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder

CONTENT_LAYER = "relu4_2"
OPTIMIZERS = ("lbfgs", "adam")
PRESERVE_COLOR = (None, "luminance")


@dataclass(frozen=True)
class GatysResult:
    """The stylized image and the total loss at the start and after each step."""

    image: Image.Image
    losses: list[float]


@cache
def _encoder(device: str) -> VGG19Encoder:
    return VGG19Encoder((*STYLE_LAYERS, CONTENT_LAYER)).to(device)


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _tensor(img: Image.Image, device: str) -> torch.Tensor:
    arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous().to(device)


def _image(x: torch.Tensor) -> Image.Image:
    arr = x[0].detach().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
    return Image.fromarray((arr * 255.0 + 0.5).astype(np.uint8))


def _fit(img: Image.Image, size: int) -> Image.Image:
    scale = size / max(img.size)
    target = (max(16, round(img.width * scale)), max(16, round(img.height * scale)))
    return img.resize(target, Image.Resampling.LANCZOS)


def _luminance_pair(content: Image.Image, style: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Gray (Y replicated to RGB) versions of both; the style's Y matched to the content's mean and std."""
    yc = np.asarray(content.convert("YCbCr"), dtype=np.float32)[..., 0]
    ys = np.asarray(style.convert("YCbCr"), dtype=np.float32)[..., 0]
    ys = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()

    def gray(y: np.ndarray) -> Image.Image:
        return Image.fromarray(np.clip(y + 0.5, 0, 255).astype(np.uint8)).convert("RGB")

    return gray(yc), gray(ys)


def _with_chroma(luma_from: Image.Image, chroma_from: Image.Image) -> Image.Image:
    """Y of ``luma_from`` with Cb/Cr of ``chroma_from`` (same size)."""
    y = luma_from.convert("YCbCr").getchannel(0)
    _, cb, cr = chroma_from.convert("YCbCr").split()
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


def style_transfer(
    content: Image.Image,
    style: Image.Image,
    size: int = 256,
    *,
    steps: int = 100,
    optimizer: str = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float = 3.0,
    tv_weight: float = 0.0,
    lr: float = 0.02,
    preserve_color: str | None = None,
    device: str | None = None,
    progress: bool | None = None,
    seed: int = 0,
) -> GatysResult:
    """Render ``content`` (resized to ``size`` long side) in the style of ``style`` (resized to the same long side).

    Args:
        steps: optimizer iterations (one L-BFGS iteration may evaluate the loss several times).
        optimizer: ``lbfgs`` (strong-Wolfe line search) or ``adam`` (learning rate ``lr`` on 0..1 pixels).
        content_weight, style_weight, tv_weight: loss weights (see the module docstring for the normalization).
        preserve_color: ``luminance``: transfer on the luminance only and keep the content's Cb/Cr.
        device: ``cuda``/``cpu``; ``None`` picks CUDA when available.
        progress: a tqdm bar over the steps; ``None`` shows it only when stderr is a terminal.
    """
    if optimizer not in OPTIMIZERS:
        raise TransferError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    if preserve_color not in PRESERVE_COLOR:
        raise TransferError(f"unknown --preserve-color {preserve_color!r}; expected 'luminance'")
    if steps < 0:
        raise TransferError(f"steps must be non-negative, got {steps}")
    if size < 16:
        raise TransferError(f"size must be at least 16 px for VGG19's relu5_1, got {size}")
    torch.manual_seed(seed)
    device = pick_device(device)
    content_img = _fit(content.convert("RGB"), size)
    style_img = _fit(style.convert("RGB"), size)
    if preserve_color == "luminance":
        content_in, style_in = _luminance_pair(content_img, style_img)
    else:
        content_in, style_in = content_img, style_img

    encoder = _encoder(device)
    with torch.no_grad():
        target_content = encoder(_tensor(content_in, device))[CONTENT_LAYER]
        target_grams = {name: gram_matrix(f) for name, f in encoder(_tensor(style_in, device)).items()}
    content_scale = target_content.pow(2).mean().clamp_min(1e-8)
    gram_scales = {name: g.pow(2).mean().clamp_min(1e-8) for name, g in target_grams.items()}

    x = _tensor(content_in, device).clone().requires_grad_(True)

    def loss_of(image: torch.Tensor) -> torch.Tensor:
        feats = encoder(image)
        c = (feats[CONTENT_LAYER] - target_content).pow(2).mean() / content_scale
        s = sum(
            (gram_matrix(feats[name]) - target_grams[name]).pow(2).mean() / gram_scales[name] for name in STYLE_LAYERS
        ) / len(STYLE_LAYERS)
        total = content_weight * c + style_weight * s
        if tv_weight:
            tv = (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., 1:] - image[..., :-1]).abs().mean()
            total = total + tv_weight * tv
        return total

    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS([x], lr=1.0, max_iter=1, line_search_fn="strong_wolfe")
    else:
        opt = torch.optim.Adam([x], lr=lr)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_of(x)
        loss.backward()
        return loss

    with torch.no_grad():
        losses = [float(loss_of(x))]
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(range(steps), desc="gatys", unit="step", disable=not show, leave=False)
    for _ in bar:
        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
            losses.append(float(loss_of(x)))
        bar.set_postfix(loss=f"{losses[-1]:.4g}")
    out = _image(x)
    if preserve_color == "luminance":
        out = _with_chroma(out, content_img)
    return GatysResult(out, losses)
