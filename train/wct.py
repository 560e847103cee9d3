"""``styledex train wct``: one WCT reconstruction decoder (Li et al. 2017, sec. 3.1), chosen by ``layer``.

The decoder inverts the frozen VGG19 encoder at ``layer`` (relu1_1 … relu5_1): per step a batch of crops from
photos *and* paintings (``cfg.content + cfg.style``: WCT decodes features with paintings' statistics, so the
decoder sees both) is encoded to f, decoded to x̂ = g(f) and re-encoded.

- pixel loss: MSE(x̂, x) on RGB 0..1;
- feature loss: MSE(φ(x̂), f) / mean(f²) at ``layer``: Li et al.'s perceptual term, divided by the features'
  mean square (detached) because the unnormalized Caffe VGG19's activations differ by ~500× in mean square
  between layers; with the division one ``feature_weight`` serves every layer.

Task name ``wct_decoder_<layer>``; the export is ``{"decoder": state}`` with meta ``{"decoder": spec, ...}``, the
format :func:`styledex.embed.transfer.adain.load_decoder` reads, for every level relu1_1 … relu5_1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field

from styledex.embed.transfer.decoder import DECODER_LAYERS, VGGDecoder, default_input_scale
from styledex.embed.vgg import shared_encoder
from styledex.train.data import CropSampler, load_pool
from styledex.train.loop import Task, TrainConfig, autocast
from styledex.train.registry import trainer


class Config(TrainConfig):
    """WCT decoder training; defaults in ``configs/train/wct.yaml``."""

    layer: str = Field("relu1_1", pattern="^relu[1-5]_1$", description="the decoder's VGG19 layer")
    decoder_width: float = Field(0.5, gt=0, le=1, description="hidden channels × this (0.5: CPU-sized decoder)")
    pixel_weight: float = Field(1.0, ge=0)
    feature_weight: float = Field(1.0, ge=0)


@trainer("wct", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The decoder, the crop sampler over photos + paintings, and the step; see the module docstring."""
    if cfg.layer not in DECODER_LAYERS:  # the pattern already says so; kept for direct callers
        raise ValueError(f"layer must be one of {DECODER_LAYERS}")
    sources = list(dict.fromkeys([*cfg.content, *cfg.style]))  # both pools, once each
    images = CropSampler(load_pool(sources, cfg.load_side), cfg.image_size, generator)
    encoder = shared_encoder((cfg.layer,), device)
    decoder = VGGDecoder(cfg.layer, cfg.decoder_width, default_input_scale(cfg.layer)).to(device)

    def step(i: int) -> dict[str, torch.Tensor]:
        x = images.sample(cfg.batch_size).to(device)
        with torch.no_grad(), autocast(device):
            f = encoder(x)[cfg.layer].float()
        with autocast(device):
            out = decoder(f)
            fo = encoder(out)[cfg.layer]
        pixel = F.mse_loss(out.float(), x)
        feature = F.mse_loss(fo.float(), f) / f.pow(2).mean().clamp_min(1e-8)
        total = cfg.pixel_weight * pixel + cfg.feature_weight * feature
        return {"total": total, "pixel": pixel.detach(), "feature": feature.detach()}

    meta = {
        "decoder": decoder.spec(),
        "layer": cfg.layer,
        "sources": sources,
        "image_count": len(images),
        "reference": "Li et al. 2017, Universal Style Transfer via Feature Transforms",
    }
    return Task(f"wct_decoder_{cfg.layer}", {"decoder": decoder}, step, meta)
