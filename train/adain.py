"""``styledex train adain``: the AdaIN decoder (Huang & Belongie 2017, sec. 6).

Per step: a batch of content crops (``cfg.content``, photos) and style crops (``cfg.style``, paintings) go through
the frozen VGG19 encoder; t = AdaIN(f_c(relu4_1), f_s(relu4_1)) is decoded to g(t) and re-encoded.

- content loss: MSE between relu4_1 of g(t) and t (the AdaIN target, not the content features: the paper's
  choice, which lets the decoder keep the target's statistics);
- style loss: Σ over relu1_1…relu4_1 of MSE(μ) + MSE(σ) between g(t) and the style image.

Our encoder is the original (unnormalized) Caffe VGG19, whose activations grow by ~30× from relu1_1 to relu4_1,
whereas Huang & Belongie used Gatys et al.'s normalized VGG (mean activation ≈ 1 per channel). So each term is
divided by the mean square of its target features (detached; μ² + σ² of a channel is exactly its mean square):
every layer counts as in the paper, and the paper's weights (content 1, style 10) keep their meaning.

The exported ``adain_decoder.pt`` holds ``{"decoder": state}`` and meta ``{"decoder": VGGDecoder.spec(), ...}``,
which :func:`styledex.embed.transfer.adain.load_decoder` rebuilds. ``wct`` reuses it as its relu4_1 decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from styledex.embed.stats import mean_std
from styledex.embed.transfer.adain import LAYER, WEIGHTS_NAME, adain
from styledex.embed.transfer.decoder import VGGDecoder, default_input_scale
from styledex.embed.transfer.weights import load_weights
from styledex.embed.vgg import shared_encoder
from styledex.train import TrainError
from styledex.train.data import CropSampler, load_pool
from styledex.train.loop import Task, TrainConfig, autocast
from styledex.train.registry import trainer

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class Config(TrainConfig):
    """AdaIN decoder training; defaults in ``configs/train/adain.yaml``."""

    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(10.0, ge=0, description="Huang & Belongie's λ = 10")
    decoder_width: float = Field(0.5, gt=0, le=1, description="hidden channels × this (0.5: CPU-sized decoder)")
    identity_weight: float = Field(0.0, ge=0, description="pixel MSE of decode(encode(c)) to c: a reconstruction "
                                   "term that teaches a short run to invert the encoder (not in the paper)")
    init: str | None = Field(None, description="start from this decoder weight file (fine-tuning)")


def relative_style_loss(output: dict[str, torch.Tensor], style: dict[str, torch.Tensor]) -> torch.Tensor:
    """Σ over :data:`STYLE_LAYERS` of (MSE(μ) + MSE(σ)) / mean(f_s²): the mean/std style loss, per layer
    relative to the style features' scale (see the module docstring). Inputs [B, C, H, W] per layer."""
    total = torch.zeros((), device=output[LAYER].device)
    for name in STYLE_LAYERS:
        mo, so = mean_std(output[name])
        ms, ss = mean_std(style[name])
        scale = style[name].float().pow(2).mean().clamp_min(1e-8)
        total = total + (F.mse_loss(mo, ms) + F.mse_loss(so, ss)) / scale
    return total


@trainer("adain", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The decoder, the two crop samplers and the step; see the module docstring."""
    content = CropSampler(load_pool(cfg.content, cfg.load_side), cfg.image_size, generator)
    style = CropSampler(load_pool(cfg.style, cfg.load_side), cfg.image_size, generator)
    encoder = shared_encoder(STYLE_LAYERS, device)
    decoder = VGGDecoder(LAYER, cfg.decoder_width, default_input_scale(LAYER)).to(device)
    if cfg.init is not None:
        state, meta = load_weights(cfg.init)
        if meta.get("decoder") != decoder.spec():
            raise TrainError(f"init {cfg.init}: decoder {meta.get('decoder')} differs from {decoder.spec()}")
        decoder.load_state_dict(state["decoder"])

    def step(i: int) -> dict[str, torch.Tensor]:
        c = content.sample(cfg.batch_size).to(device)
        s = style.sample(cfg.batch_size).to(device)
        with torch.no_grad(), autocast(device):
            fc = encoder(c)[LAYER]
            fs = {k: v.float() for k, v in encoder(s).items()}
            target = adain(fc, fs[LAYER])
        with autocast(device):
            out = decoder(target)
            fo = encoder(out)
        content_term = F.mse_loss(fo[LAYER].float(), target) / target.pow(2).mean().clamp_min(1e-8)
        style_term = relative_style_loss(fo, fs)
        total = cfg.content_weight * content_term + cfg.style_weight * style_term
        losses = {"content": content_term.detach(), "style": style_term.detach()}
        if cfg.identity_weight:
            with autocast(device):
                rebuilt = decoder(fc)
            identity = F.mse_loss(rebuilt.float(), c)
            total = total + cfg.identity_weight * identity
            losses["identity"] = identity.detach()
        return {"total": total, **losses}

    meta = {
        "decoder": decoder.spec(),
        "layer": LAYER,
        "content_sources": list(cfg.content),
        "style_sources": list(cfg.style),
        "content_image_count": len(content),
        "style_image_count": len(style),
        "init": cfg.init,
        "reference": "Huang & Belongie 2017, Arbitrary Style Transfer in Real-time with Adaptive Instance Norm.",
    }
    return Task(WEIGHTS_NAME, {"decoder": decoder}, step, meta)
