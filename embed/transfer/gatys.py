"""Gatys et al. (2016) style transfer by optimizing the pixels on VGG19, with the controls of Gatys et al. (2017).

Losses (on the encoder's RGB 0..1 contract, see :mod:`styledex.embed.vgg`):

- content: mean squared difference of the relu4_2 features, divided by the content features' mean square, so
  it reads as a relative error and does not depend on the image's size or brightness;
- style: per layer (relu1_1 … relu5_1), the mean squared difference of the Gram matrices
  (:func:`~styledex.embed.stats.gram_matrix`, divided by H·W), divided by the target Gram's mean square; averaged
  over the style terms of the layer (one per region, see below), then over the layers;
- total variation (optional): the mean absolute difference of neighbouring pixels.

The relative normalization keeps the default weights meaningful at any resolution. The image starts from the
content (or its gray version, see ``luminance``) and is clamped to 0..1 after each step.

Controls ("Controlling Perceptual Factors in Neural Style Transfer", Gatys et al., CVPR 2017):

- colour (§5): ``preserve_color="luminance"`` transfers on the luminance only (the style's Y matched to the
  content's mean and std) and puts the content's Cb/Cr back; ``"histogram"`` first recolours each style image so
  its RGB mean and covariance are the content's (:func:`~styledex.embed.transfer.color.match_color_histogram`, the
  eigenvalue / image-analogies form) and then transfers as usual.
- space (§4): guided Gram matrices. With ``masks`` (one grayscale mask per style image, white = the part of the
  *content* that style covers), each mask is resized to the content and area-averaged onto each layer's feature
  grid, giving weights w ∈ [0, 1] per position; the region's Gram is the w-weighted mean of the outer products,
  ``Σ_p w_p f_p f_pᵀ / Σ_p w_p`` (:func:`guided_gram`), matched to that style's Gram (the whole style image, or
  the part of it white in ``style_masks`` when given). Regions may overlap or leave gaps; a gap gets no style loss.
- scale (§6): ``coarse_style`` gives the Gram targets of the deep layers (:data:`COARSE_LAYERS`, relu3_1..relu5_1:
  large-scale structure) while the style image gives those of the shallow ones (:data:`FINE_LAYERS`, relu1_1 and
  relu2_1: fine texture). This is the layer-split form of the paper's idea, not its recipe of first building a new
  style image by transferring one style onto the other at different image scales.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the conventional name)
from PIL import Image

from styledex.embed.stats import gram_matrix
from styledex.embed.transfer.color import match_color_histogram
from styledex.embed.transfer.imaging import to_image, to_tensor
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.vgg import STYLE_LAYERS, VGG19Encoder, weights_path

CONTENT_LAYER = "relu4_2"
OPTIMIZERS = ("lbfgs", "adam")
PRESERVE_COLOR = (None, "luminance", "histogram")
# Scale control: which style layers take their Gram from --style (fine) and which from coarse_style.
FINE_LAYERS = ("relu1_1", "relu2_1")
COARSE_LAYERS = ("relu3_1", "relu4_1", "relu5_1")


@dataclass(frozen=True)
class GatysResult:
    """The stylized image and the total loss at the start and after each step."""

    image: Image.Image
    losses: list[float]


@dataclass(frozen=True)
class _StyleTerm:
    """One Gram target at one layer: ``weights`` [1, 1, h, w] on 0..1 (the content region) or None (everywhere)."""

    layer: str
    target: torch.Tensor  # [1, C, C]
    scale: torch.Tensor  # the target's mean square, the loss's normalizer
    weights: torch.Tensor | None


@cache
def _encoder(device: str) -> VGG19Encoder:
    return VGG19Encoder((*STYLE_LAYERS, CONTENT_LAYER)).to(device)


def pick_device(device: str | None = None) -> str:
    """``device`` if given, else ``cuda`` when available, else ``cpu``."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


def _tensor(img: Image.Image, device: str) -> torch.Tensor:
    return to_tensor(img)[None].to(device)


_image = to_image


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


def guided_gram(features: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of a weighted region: ``Σ_p w_p f_p f_pᵀ / Σ_p w_p`` (Gatys et al. 2017, §4).

    features: [B, C, H, W]; weights: [B or 1, 1, H, W] on 0..1 with a positive sum → [B, C, C] in fp32. With all
    weights 1 it equals :func:`~styledex.embed.stats.gram_matrix` (÷ H·W), so a region's Gram is on the same scale
    as a whole image's whatever the region's size.
    """
    b, c, h, w = features.shape
    flat = features.reshape(b, c, h * w).float()
    wf = weights.reshape(weights.shape[0], 1, h * w).float()
    return (flat * wf) @ flat.transpose(1, 2) / wf.sum(dim=2, keepdim=True).clamp_min(1e-8)


def _mask_tensor(mask: Image.Image, size: tuple[int, int], what: str, device: str) -> torch.Tensor:
    """``mask`` as weights [1, 1, H, W] on 0..1 at ``size`` (W, H); TransferError when it has no white pixel."""
    gray = mask.convert("L")
    # "white" = at least half gray; a mask without any is almost surely a wrong file or an inverted mask.
    if np.asarray(gray).max() < 128:
        raise TransferError(f"{what} has no white pixels (white = the region its style covers)")
    arr = np.asarray(gray.resize(size, Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
    if arr.sum() <= 0:
        raise TransferError(f"{what} has no white pixels left at {size[0]}x{size[1]} px; enlarge its region")
    return torch.from_numpy(arr)[None, None].to(device)


def _at_layer(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Region weights [1, 1, H, W] area-averaged onto ``features``' grid → [1, 1, h, w] (a cell's covered fraction)."""
    return F.adaptive_avg_pool2d(weights, features.shape[-2:])


def _term_loss(features: torch.Tensor, term: _StyleTerm) -> torch.Tensor:
    """The relative squared Gram error of one style term on the current image's ``features`` [1, C, h, w]."""
    gram = gram_matrix(features) if term.weights is None else guided_gram(features, term.weights)
    return (gram - term.target).pow(2).mean() / term.scale


def _check_request(styles: Sequence[Image.Image], masks: Sequence[Image.Image] | None,
                   style_masks: Sequence[Image.Image] | None, coarse_style: Image.Image | None) -> None:
    if not styles:
        raise TransferError("method 'gatys' needs a --style IMAGE")
    if masks is None:
        if len(styles) != 1:
            raise TransferError(f"method 'gatys' takes one --style IMAGE, got {len(styles)}; "
                                "several styles need one --mask each")
    else:
        if len(masks) != len(styles):
            raise TransferError(f"method 'gatys' needs exactly one --mask per --style: "
                                f"got {len(masks)} mask(s) for {len(styles)} style(s)")
        if coarse_style is not None:
            raise TransferError("--coarse-style cannot be combined with --mask in method 'gatys'")
    if style_masks is not None and len(style_masks) != len(styles):
        raise TransferError(f"style_masks needs exactly one mask per --style: "
                            f"got {len(style_masks)} for {len(styles)} style(s)")


def style_transfer(
    content: Image.Image,
    style: Image.Image | Sequence[Image.Image],
    size: int = 256,
    *,
    steps: int = 100,
    optimizer: str = "lbfgs",
    content_weight: float = 1.0,
    style_weight: float = 3.0,
    tv_weight: float = 0.0,
    lr: float = 0.02,
    preserve_color: str | None = None,
    masks: Sequence[Image.Image] | None = None,
    style_masks: Sequence[Image.Image] | None = None,
    coarse_style: Image.Image | None = None,
    device: str | None = None,
    progress: bool | None | Callable[[Iterable[int]], Any] = None,
    seed: int = 0,
) -> GatysResult:
    """Render ``content`` (resized to ``size`` long side) in the style of ``style`` (each resized to that long side).

    Args:
        style: one style image, or several when ``masks`` are given (style i goes where mask i is white).
        steps: optimizer iterations (one L-BFGS iteration may evaluate the loss several times).
        optimizer: ``lbfgs`` (strong-Wolfe line search) or ``adam`` (learning rate ``lr`` on 0..1 pixels).
        content_weight, style_weight, tv_weight: loss weights (see the module docstring for the normalization).
        preserve_color: ``luminance`` (transfer on the luminance only, keep the content's Cb/Cr) or ``histogram``
            (recolour the style images to the content's RGB mean and covariance first).
        masks: spatial control, one grayscale mask per style image (white = the content region of that style;
            resized to the content, so it should have the content's aspect ratio).
        style_masks: optional, one grayscale mask per style image selecting the part of that style image whose
            Gram is the target (white = used); default the whole style image.
        coarse_style: scale control: the Gram targets of relu3_1..relu5_1 come from this image, those of relu1_1
            and relu2_1 from ``style`` (one style image; not combinable with ``masks``).
        device: ``cuda``/``cpu``; ``None`` picks CUDA when available.
        progress: a tqdm bar over the steps; ``None`` shows it only when stderr is a terminal; a callable wraps
            the step range in the caller's own bar (a tqdm-like iterable; its ``set_postfix`` gets the loss).

    Raises :class:`TransferError` (one line) for a request the caller can fix.
    """
    styles = [style] if isinstance(style, Image.Image) else list(style)
    if optimizer not in OPTIMIZERS:
        raise TransferError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}")
    if preserve_color not in PRESERVE_COLOR:
        raise TransferError(f"unknown --preserve-color {preserve_color!r}; expected 'luminance' or 'histogram'")
    if steps < 0:
        raise TransferError(f"steps must be non-negative, got {steps}")
    if size < 16:
        raise TransferError(f"size must be at least 16 px for VGG19's relu5_1, got {size}")
    _check_request(styles, masks, style_masks, coarse_style)
    torch.manual_seed(seed)
    device = pick_device(device)
    content_img = _fit(content.convert("RGB"), size)
    style_imgs = [_fit(s.convert("RGB"), size) for s in styles]
    coarse_img = None if coarse_style is None else _fit(coarse_style.convert("RGB"), size)

    def recolour(img: Image.Image) -> Image.Image:
        if preserve_color == "luminance":
            return _luminance_pair(content_img, img)[1]
        if preserve_color == "histogram":
            return match_color_histogram(img, content_img)
        return img

    content_in = _luminance_pair(content_img, content_img)[0] if preserve_color == "luminance" else content_img
    style_ins = [recolour(s) for s in style_imgs]
    coarse_in = None if coarse_img is None else recolour(coarse_img)
    # Masks are checked (and may raise) before any VGG work.
    region_masks = (None if masks is None else
                    [_mask_tensor(m, content_img.size, f"--mask {i + 1}", device) for i, m in enumerate(masks)])
    own_masks = (None if style_masks is None else
                 [_mask_tensor(m, s.size, f"style mask {i + 1}", device)
                  for i, (m, s) in enumerate(zip(style_masks, style_imgs, strict=True))])

    encoder = _encoder(device)
    terms: dict[str, list[_StyleTerm]] = {layer: [] for layer in STYLE_LAYERS}
    with torch.no_grad():
        content_feats = encoder(_tensor(content_in, device))
        target_content = content_feats[CONTENT_LAYER]
        coarse_feats = None if coarse_in is None else encoder(_tensor(coarse_in, device))
        for i, style_in in enumerate(style_ins):
            feats = encoder(_tensor(style_in, device))
            for layer in STYLE_LAYERS:
                source = coarse_feats if coarse_feats is not None and layer in COARSE_LAYERS else feats
                own = None if own_masks is None or source is coarse_feats else own_masks[i]
                target = gram_matrix(source[layer]) if own is None else guided_gram(source[layer],
                                                                                     _at_layer(own, source[layer]))
                where = None if region_masks is None else _at_layer(region_masks[i], content_feats[layer])
                terms[layer].append(_StyleTerm(layer, target, target.pow(2).mean().clamp_min(1e-8), where))
    content_scale = target_content.pow(2).mean().clamp_min(1e-8)

    x = _tensor(content_in, device).clone().requires_grad_(True)

    def loss_of(image: torch.Tensor) -> torch.Tensor:
        feats = encoder(image)
        c = (feats[CONTENT_LAYER] - target_content).pow(2).mean() / content_scale
        s = sum(sum(_term_loss(feats[layer], t) for t in terms[layer]) / len(terms[layer]) for layer in STYLE_LAYERS)
        s = s / len(STYLE_LAYERS)
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

    if callable(progress):
        bar = progress(range(steps))
    else:
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


@transfer_method(
    "gatys",
    kind="optimization",
    description="Gatys et al. 2016: optimize the pixels on VGG19 (content relu4_2, Gram at relu1_1..relu5_1); "
    "2017 controls: colour (luminance, histogram), spatial (--mask), scale (--coarse-style)",
    weights=weights_path,
)
def stylize(content: Image.Image, styles: Sequence[Image.Image], style_name: str | None, size: int, *,
            steps: int = 100, optimizer: str = "lbfgs", content_weight: float = 1.0, style_weight: float = 3.0,
            tv_weight: float = 0.0, lr: float = 0.02, preserve_color: str | None = None,
            masks: Sequence[Image.Image] | None = None, style_masks: Sequence[Image.Image] | None = None,
            coarse_style: Image.Image | None = None,
            device: str | None = None, progress: bool | None | Callable[[Iterable[int]], Any] = None,
            seed: int = 0) -> Image.Image:
    """The ``transfer`` entry point: :func:`style_transfer` (one style image, or one per mask)."""
    if style_name is not None:
        raise TransferError("method 'gatys' has no named styles; give --style IMAGE")
    return style_transfer(content, styles, size, steps=steps, optimizer=optimizer, content_weight=content_weight,
                          style_weight=style_weight, tv_weight=tv_weight, lr=lr, preserve_color=preserve_color,
                          masks=masks, style_masks=style_masks, coarse_style=coarse_style,
                          device=device, progress=progress, seed=seed).image
