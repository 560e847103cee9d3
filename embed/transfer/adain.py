"""``adain``: arbitrary style transfer by adaptive instance normalization (Huang & Belongie 2017).

The content and style images go through the frozen VGG19 encoder up to relu4_1; AdaIN gives the content features
the style's per-channel mean and standard deviation,

    AdaIN(f_c, f_s) = σ(f_s) · (f_c − μ(f_c)) / σ(f_c) + μ(f_s),

``alpha`` blends the result with the content features (sec. 7: content-style trade-off), and a trained decoder
(``embed/weights/adain_decoder.pt``, ``styledex train adain``) maps it back to an image.

Controls (Huang & Belongie sec. 7):

- style interpolation: several style images, their AdaIN outputs mixed by ``weights``;
- colour preservation: ``histogram`` gives the style image the content's colour mean and covariance before
  stylizing (Gatys et al. 2017, colour histogram matching); ``luminance`` stylizes the luminance only and keeps
  the content's chroma (Gatys et al. 2017, luminance-only transfer);
- spatial control: one grayscale mask per style (white = that style's region); each region of the content
  features is normalized with its own statistics and given its own style's.

Tensors are RGB in 0..1, [B, 3, H, W]; features [B, C, H/8, W/8] at relu4_1. The helpers for masks, weights and
decoders here are shared with :mod:`styledex.embed.transfer.wct`.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from styledex.embed.stats import mean_std
from styledex.embed.transfer import color
from styledex.embed.transfer import weights as shipped_weights
from styledex.embed.transfer.decoder import VGGDecoder
from styledex.embed.transfer.imaging import fit_long_side, pick_device, to_image, to_tensor
from styledex.embed.transfer.pretrained import parse_weights
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.vgg import shared_encoder

LAYER = "relu4_1"
WEIGHTS_NAME = "adain_decoder"
PRESERVE_COLOR = (None, "histogram", "luminance")
# relu4_1 is 3 poolings deep: image sides must be multiples of 8 for decode(encode(x)) to keep the size.
MULTIPLE = 8
# BT.601 luma weights (PIL's YCbCr); they sum to 1, so adding a gray offset changes Y only (see _keep_chroma).
_LUMA = (0.299, 0.587, 0.114)


# -- the operation -----------------------------------------------------------------------------------------
def adain(content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, eps: float = 1e-5) -> torch.Tensor:
    """AdaIN: ``content`` [B, C, H, W] with the per-channel mean and std of ``style`` [B or 1, C, h, w], blended
    as alpha · AdaIN + (1 − alpha) · content.

    Returns fp32 [B, C, H, W]; at alpha 1 each channel's spatial mean equals the style's and its (biased) std the
    style's (up to ``eps``, see :func:`~styledex.embed.stats.mean_std`); at alpha 0 it is ``content``.
    """
    mc, sc = mean_std(content, eps)
    ms, ss = mean_std(style, eps)
    normalized = (content.float() - mc[..., None, None]) / sc[..., None, None]
    styled = normalized * ss[..., None, None] + ms[..., None, None]
    return alpha * styled + (1.0 - alpha) * content.float()


def masked_adain(content: torch.Tensor, styles: Sequence[torch.Tensor], regions: torch.Tensor,
                 eps: float = 1e-5) -> torch.Tensor:
    """Spatial AdaIN: region k of ``content`` [1, C, H, W] normalized with the region's own (weighted) statistics
    and given the statistics of ``styles[k]`` ([1, C, h, w]); ``regions`` [K, H, W] are weights summing to 1 at
    each position (:func:`region_weights`). Returns fp32 [1, C, H, W]."""
    f = content.float()
    out = torch.zeros_like(f)
    for style, w in zip(styles, regions, strict=True):
        total = w.sum()
        if total <= 1e-6:  # an empty region contributes nothing (its weight is 0 everywhere)
            continue
        mean = (f * w).sum(dim=(2, 3), keepdim=True) / total
        var = ((f - mean).pow(2) * w).sum(dim=(2, 3), keepdim=True) / total
        ms, ss = mean_std(style, eps)
        styled = (f - mean) / (var + eps).sqrt() * ss[..., None, None] + ms[..., None, None]
        out = out + w * styled
    return out


# -- request checks and shared helpers ---------------------------------------------------------------------
def check_request(method: str, styles: Sequence[Image.Image], style_name: str | None, alpha: float,
                  weights: str | Sequence[float] | None, masks: Sequence[Image.Image] | None) -> np.ndarray:
    """Validate what adain and wct share; return the (K,) style weights summing to 1 (:class:`TransferError`)."""
    if style_name is not None:
        raise TransferError(f"method {method!r} has no named styles; give --style IMAGE")
    if not styles:
        raise TransferError(f"method {method!r} needs at least one --style IMAGE")
    if not 0.0 <= float(alpha) <= 1.0:
        raise TransferError(f"alpha must be in 0..1, got {alpha}")
    if masks is not None:
        if len(masks) != len(styles):
            raise TransferError(f"--mask needs one mask per --style: got {len(masks)} masks for {len(styles)} styles")
        if weights is not None:
            raise TransferError("give either --weights (mix the styles everywhere) or --mask (one region per style)")
    return parse_weights(weights, len(styles))


def region_weights(masks: Sequence[Image.Image], height: int, width: int, device: torch.device) -> torch.Tensor:
    """Masks (grayscale, white = the style's region; any size, stretched to the content) resized to a feature
    grid and normalized: [K, height, width] fp32, summing to 1 at each position (uniform where all are black)."""
    grids = [
        np.asarray(m.convert("L").resize((width, height), Image.Resampling.BOX), dtype=np.float32) / 255.0
        for m in masks
    ]
    w = torch.from_numpy(np.stack(grids)).to(device)
    total = w.sum(0, keepdim=True)
    uniform = torch.full_like(w, 1.0 / len(masks))
    return torch.where(total > 1e-6, w / total.clamp_min(1e-6), uniform)


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA only (CPU bf16 convolutions are slower than fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


@lru_cache(maxsize=8)
def _load_decoder(path: str, mtime_ns: int, device: str) -> VGGDecoder:
    state, meta = shipped_weights.load_weights(path)
    spec = meta.get("decoder")
    if not isinstance(spec, dict) or "decoder" not in state:
        raise TransferError(f"{path} is not a decoder weight file (expected meta 'decoder' and state 'decoder')")
    decoder = VGGDecoder(**spec)
    decoder.load_state_dict(state["decoder"])
    return decoder.to(device).eval().requires_grad_(False)


def load_decoder(path: Path | str, device: torch.device | str = "cpu") -> VGGDecoder:
    """The :class:`VGGDecoder` of a weight file written by ``styledex train`` (its spec is in the meta), eval mode,
    cached per (file, modification time, device)."""
    path = Path(path)
    return _load_decoder(str(path), path.stat().st_mtime_ns, str(device))


def shipped_decoder(name: str, method: str, device: torch.device) -> VGGDecoder:
    """The shipped decoder ``embed/weights/<name>.pt``; :class:`TransferError` saying how to train it if absent."""
    path = shipped_weights.shipped(name)
    if path is None:
        raise TransferError(f"method {method!r} needs trained weights {name}.pt (styledex train {method}), "
                            "not available yet")
    return load_decoder(path, device)


def image_batch(img: Image.Image, device: torch.device) -> torch.Tensor:
    """RGB image → [1, 3, H, W] in 0..1 on ``device``."""
    return to_tensor(img)[None].to(device)


# -- colour preservation (Gatys et al. 2017) ---------------------------------------------------------------
def match_color(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """``style`` [3, H, W] in 0..1 with its pixels' colour mean and covariance mapped onto ``content``'s [3, h, w]
    (:func:`styledex.embed.transfer.color.match_color`, Gatys et al. 2017), clamped to 0..1."""
    pixels = style.permute(1, 2, 0).double().cpu().numpy()
    out = color.match_color(pixels, content.permute(1, 2, 0).double().cpu().numpy())
    return torch.from_numpy(out).permute(2, 0, 1).to(style.device, style.dtype).clamp(0, 1)


def luminance(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma Y of RGB [..., 3, H, W] → [..., 1, H, W]."""
    r, g, b = x.unbind(-3)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(-3)


def gray_pair(content: torch.Tensor, style: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Luminance-only inputs: both images' Y replicated to RGB, the style's Y matched to the content's mean and
    std (Gatys et al. 2017: luminance histogram matching, so the transfer does not shift the brightness)."""
    yc, ys = luminance(content), luminance(style)
    ys = (ys - ys.mean()) / (ys.std() + 1e-6) * yc.std() + yc.mean()
    return yc.expand_as(content).clamp(0, 1), ys.expand_as(style).clamp(0, 1)


def _keep_chroma(stylized: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance with the content's chroma: content + (Y_out − Y_content) on every channel.

    Exact in BT.601 YCbCr: Cb and Cr are linear in RGB and zero on gray, and a gray offset d shifts Y by d."""
    return (content + luminance(stylized) - luminance(content)).clamp(0, 1)


# -- the method --------------------------------------------------------------------------------------------
@transfer_method(
    "adain",
    kind="arbitrary",
    description="Huang & Belongie 2017: AdaIN at VGG19 relu4_1 with a trained decoder",
    available=lambda: shipped_weights.shipped(WEIGHTS_NAME) is not None,
    weights=lambda: shipped_weights.shipped_file(WEIGHTS_NAME),
    train="styledex train adain",
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    alpha: float = 1.0,
    weights: str | Sequence[float] | None = None,
    preserve_color: str | None = None,
    masks: Sequence[Image.Image] | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` (long side ``size`` px) in the style of ``styles`` by AdaIN at relu4_1 and the shipped decoder.

    Args:
        alpha: 0..1, the weight of the stylized features against the content's own (0 = reconstruction).
        weights: one weight per style image (``"0.5,0.5"``); the AdaIN outputs are mixed by them. Default equal.
        preserve_color: ``histogram`` or ``luminance`` (see the module docstring).
        masks: one grayscale image per style, white = that style's region (not with ``weights``).
        device: ``cuda``/``cpu``; default CUDA when available (bf16 autocast there).

    Style images are resized to the same long side as the content. The network works at sides rounded to a
    multiple of 8; the result is resized to exactly ``size`` long side with the content's aspect ratio.
    """
    mix = check_request("adain", styles, style_name, alpha, weights, masks)
    if preserve_color not in PRESERVE_COLOR:
        raise TransferError(f"unknown --preserve-color {preserve_color!r}; expected histogram or luminance")
    dev = pick_device(device)
    decoder = shipped_decoder(WEIGHTS_NAME, "adain", dev)
    encoder = shared_encoder((LAYER,), dev)
    target_size = fit_long_side(content, size).size
    c = image_batch(fit_long_side(content, size, MULTIPLE), dev)
    s_list = [image_batch(fit_long_side(s, size, MULTIPLE), dev) for s in styles]
    c_in = c
    if preserve_color == "histogram":
        s_list = [match_color(s[0], c[0])[None] for s in s_list]
    elif preserve_color == "luminance":
        pairs = [gray_pair(c, s) for s in s_list]
        c_in, s_list = pairs[0][0], [p[1] for p in pairs]
    with torch.inference_mode(), autocast(dev):
        fc = encoder(c_in)[LAYER]
        fs = [encoder(s)[LAYER] for s in s_list]
        if masks is not None:
            styled = masked_adain(fc, fs, region_weights(masks, fc.shape[2], fc.shape[3], dev))
            target = alpha * styled + (1.0 - alpha) * fc.float()
        else:  # Σ w_k = 1, so mixing the blended outputs equals blending the mixture
            target = sum(float(w) * adain(fc, f, alpha) for w, f in zip(mix, fs, strict=True))
        out = decoder(target).float().clamp(0, 1)
    if preserve_color == "luminance":
        out = _keep_chroma(out, c)
    img = to_image(out)
    return img if img.size == target_size else img.resize(target_size, Image.Resampling.LANCZOS)
