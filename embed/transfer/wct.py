"""``wct``: universal style transfer by whitening and colouring transforms (Li et al. 2017).

At a VGG19 layer relu{k}_1, with content features f_c and style features f_s flattened to [C, N]:

- whitening: f̂ = E_c D_c^−½ E_cᵀ (f_c − μ_c), from the eigendecomposition Σ_c = E_c D_c E_cᵀ of the content
  covariance; afterwards the features are uncorrelated with unit variance (covariance = identity). Eigenvalues
  below 1e-5 × the largest are dropped (Li et al. drop the tiny ones too), so rank-deficient maps (small images
  at relu5_1) stay finite;
- colouring: f_cs = E_s D_s^½ E_sᵀ f̂ + μ_s, which has the style's covariance and mean;
- blend: alpha · f_cs + (1 − alpha) · f_c, then the level's decoder maps it back to an image.

Multi-level (coarse to fine): relu5_1 → relu4_1 → relu3_1 → relu2_1 → relu1_1, each level encoding the previous
level's output. Style interpolation mixes the coloured features by ``weights``; spatial control whitens and colours
each mask region with its own (weighted) statistics and style. The eigendecompositions run in float64 on the CPU.

Decoders: ``embed/weights/wct_decoder_relu{k}_1.pt`` (``styledex train wct --set layer=relu{k}_1``) for k = 1 … 5,
each trained to reconstruct images from that layer (Li et al.'s recipe). relu4_1 has its own reconstruction decoder
rather than AdaIN's, which is trained to produce stylized statistics and inverts plain features less faithfully.
The method is available once all five files are shipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from styledex.embed.transfer.adain import (
    autocast,
    check_request,
    image_batch,
    region_weights,
    shipped_decoder,
)
from styledex.embed.transfer.decoder import DECODER_LAYERS
from styledex.embed.transfer.imaging import fit_long_side, pick_device, to_image
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.vgg import shared_encoder

# The weight file of each level's decoder.
DECODER_FILES = {
    "relu1_1": "wct_decoder_relu1_1",
    "relu2_1": "wct_decoder_relu2_1",
    "relu3_1": "wct_decoder_relu3_1",
    "relu4_1": "wct_decoder_relu4_1",
    "relu5_1": "wct_decoder_relu5_1",
}
DEFAULT_LEVELS = tuple(reversed(DECODER_LAYERS))  # relu5_1 first: coarse to fine
EIG_REL_EPS = 1e-5


# -- the transforms, on [C, N] float64 matrices ------------------------------------------------------------
def moments(f: torch.Tensor, w: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean [C, 1] and (biased) covariance [C, C] of the columns of ``f`` [C, N], optionally weighted by
    ``w`` [N] ≥ 0 (spatial control)."""
    if w is None:
        mean = f.mean(1, keepdim=True)
        centered = f - mean
        return mean, centered @ centered.T / f.shape[1]
    total = w.sum().clamp_min(1e-12)
    mean = (f * w).sum(1, keepdim=True) / total
    centered = f - mean
    return mean, (centered * w) @ centered.T / total


def _eig(f: torch.Tensor, w: torch.Tensor | None = None, rel_eps: float = EIG_REL_EPS) -> tuple[torch.Tensor, ...]:
    """Mean [C, 1], kept eigenvalues [r] and eigenvectors [C, r] of the (weighted) covariance of ``f`` [C, N].

    Eigenvalues below ``rel_eps`` × the largest are dropped. With fewer positions than channels (deep layers of
    small images) the covariance has rank < N, and the N×N Gram of the positions has the same nonzero eigenvalues
    (eigenvectors mapped back through the features): exact, and much faster than a rank-deficient C×C eigh."""
    n = f.shape[1]
    if w is None:
        mean = f.mean(1, keepdim=True)
        scaled = (f - mean) / n**0.5
    else:
        total = w.sum().clamp_min(1e-12)
        mean = (f * w).sum(1, keepdim=True) / total
        scaled = (f - mean) * (w / total).sqrt()
    if n >= f.shape[0]:
        vals, vecs = torch.linalg.eigh(scaled @ scaled.T)
    else:
        vals, v = torch.linalg.eigh(scaled.T @ scaled)
        vecs = scaled @ v / vals.clamp_min(1e-30).sqrt()
    keep = vals > rel_eps * vals.max().clamp_min(1e-30)
    return mean, vals[keep], vecs[:, keep]


def whiten(f: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """Whitened ``f`` [C, N]: centred and decorrelated, E D^−½ Eᵀ (f − μ), so its (``w``-weighted) covariance is
    ≈ identity (on the kept eigenvectors' span). Float64 recommended: deep layers' eigenvalues span many decades."""
    mean, vals, vecs = _eig(f, w)
    return (vecs * vals.rsqrt()) @ (vecs.T @ (f - mean))


def colour(white: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Whitened features [C, N] given the covariance and mean of ``style`` [C, M]: E_s D_s^½ E_sᵀ f̂ + μ_s."""
    mean, vals, vecs = _eig(style)
    return (vecs * vals.sqrt()) @ (vecs.T @ white) + mean


def wct(content: torch.Tensor, styles: Sequence[torch.Tensor], alpha: float = 1.0,
        mix: Sequence[float] | None = None, regions: torch.Tensor | None = None) -> torch.Tensor:
    """The WCT of ``content`` [1, C, H, W] to ``styles`` (each [1, C, h, w]), blended with the content by alpha.

    ``mix``: weights of the coloured features (sum 1; default equal). ``regions`` [K, H, W] (summing to 1 per
    position): region k is whitened with its own weighted statistics and coloured with style k instead.
    Computed in float64 on the CPU; returns fp32 [1, C, H, W] on ``content``'s device.
    """
    _, c, h, w = content.shape
    fc = content.detach().reshape(c, h * w).to("cpu", torch.float64)
    fs = [s.detach().reshape(c, -1).to("cpu", torch.float64) for s in styles]
    if regions is not None:
        weights = regions.detach().reshape(len(fs), h * w).to("cpu", torch.float64)
        out = sum(wk * colour(whiten(fc, wk), s) for wk, s in zip(weights, fs, strict=True))
    else:
        mix = [1.0 / len(fs)] * len(fs) if mix is None else mix
        white = whiten(fc)
        out = sum(float(m) * colour(white, s) for m, s in zip(mix, fs, strict=True))
    out = alpha * out + (1.0 - alpha) * fc
    return out.reshape(1, c, h, w).to(content.device, torch.float32)


# -- the method --------------------------------------------------------------------------------------------
def shipped_paths() -> dict[str, str | None]:
    """Each level's shipped decoder file (``None`` where missing), for ``styledex models``."""
    from styledex.embed.transfer.weights import shipped

    paths = {name: shipped(stem) for name, stem in DECODER_FILES.items()}
    return {name: str(p) if p else None for name, p in paths.items()}


def shipped_weights() -> str | None:
    """The first level's (relu5_1) decoder file when every level's decoder is shipped, else ``None``."""
    paths = shipped_paths()
    return paths["relu5_1"] if all(paths.values()) else None


def parse_levels(levels: str | int | Sequence[str | int] | None) -> list[str]:
    """Layer names deep to shallow from ``None`` (all five), ``"5,4,3"``, ``[5, 1]`` or ``["relu3_1"]``."""
    if levels is None:
        return list(DEFAULT_LEVELS)
    items = levels.split(",") if isinstance(levels, str) else [levels] if isinstance(levels, int) else levels
    names = []
    for item in items:
        text = str(item).strip()
        name = f"relu{text}_1" if text.isdigit() else text
        if name not in DECODER_FILES:
            raise TransferError(f"unknown WCT level {item!r}: expected 1..5 or relu1_1..relu5_1")
        names.append(name)
    if not names:
        raise TransferError("levels must name at least one of 1..5")
    return sorted(set(names), key=lambda n: -int(n[4]))


@transfer_method(
    "wct",
    kind="arbitrary",
    description="Li et al. 2017: whitening and colouring transforms at relu5_1..relu1_1 with trained decoders",
    available=lambda: shipped_weights() is not None,  # once all five level decoders ship: wct_decoder_relu{1..5}_1.pt
    weights=shipped_weights,
    extra={"decoder_weights": shipped_paths},
    train="styledex train wct --set layer=reluK_1 for K=1..5",
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    alpha: float = 0.6,
    weights: str | Sequence[float] | None = None,
    masks: Sequence[Image.Image] | None = None,
    levels: str | int | Sequence[str | int] | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` (long side ``size`` px) in the style of ``styles`` by multi-level WCT.

    Args:
        alpha: 0..1 at every level, the weight of the coloured features against the content's (Li et al.: 0.6).
        weights: one weight per style image (``"0.5,0.5"``), mixing the coloured features. Default equal.
        masks: one grayscale image per style, white = that style's region (not with ``weights``).
        levels: which levels run, always deep to shallow: ``"5,4,3,2,1"`` (default), ``"4,1"``, …; only their
            decoders are needed.
        device: ``cuda``/``cpu`` for the encoder and decoders; default CUDA when available (bf16 autocast).

    The network works at sides rounded to a multiple of 2^(deepest level − 1); the result is resized to exactly
    ``size`` long side with the content's aspect ratio.
    """
    mix = check_request("wct", styles, style_name, alpha, weights, masks)
    names = parse_levels(levels)
    dev = pick_device(device)
    decoders = {name: shipped_decoder(DECODER_FILES[name], "wct", dev) for name in names}
    multiple = 2 ** (int(names[0][4]) - 1)
    target_size = fit_long_side(content, size).size
    x = image_batch(fit_long_side(content, size, multiple), dev)
    with torch.inference_mode(), autocast(dev):
        style_encoder = shared_encoder(names, dev)
        style_feats = [style_encoder(image_batch(fit_long_side(s, size, multiple), dev)) for s in styles]
        for name in names:
            fc = shared_encoder((name,), dev)(x)[name]
            regions = region_weights(masks, fc.shape[2], fc.shape[3], dev) if masks is not None else None
            target = wct(fc, [f[name] for f in style_feats], alpha, mix=[float(m) for m in mix], regions=regions)
            x = decoders[name](target).float().clamp(0, 1)
    img = to_image(x)
    return img if img.size == target_size else img.resize(target_size, Image.Resampling.LANCZOS)
