"""``styledex train stylebank --style A.jpg --style B.jpg ...``: a StyleBank network (Chen et al. 2017).

Training alternates as in the paper ("T+1" steps): ``t_steps`` stylizing steps, then one auto-encoder step.

- stylizing step: a batch of content crops, each with a random style index; encoder → that style's branch →
  decoder; the perceptual loss of :class:`styledex.train.johnson.PerceptualLoss` (content at relu2_2, Gram
  style at relu1_1 … relu4_1 against each crop's own style target, precomputed once) plus total variation.
  Gradients reach the encoder, the decoder and the branches used.
- auto-encoder step: encoder → decoder (no bank), loss ``identity_weight`` · MSE(output, input) on pixels;
  only the encoder and decoder get gradients. This is what makes the encoder/decoder style-free, so that
  a new style later needs only a new branch.

Every step reports the same keys: the branch not trained at a step reports its value from the last step that
did (the stylizing step also measures the identity loss without gradients, since it has the features anyway),
so ``total`` alternates between the two objectives while each term's curve is continuous.

Adding styles to a trained bank: ``--set base=runs/stylebank/x/stylebank.pt --style NEW.jpg``. The base is
loaded, its encoder, decoder and branches are frozen, and only the new branches train (stylizing steps only);
the export holds the merged bank. Style names are the image file stems unless ``style_names`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field

from styledex.embed.transfer.stylebank import StyleBankNet, build_from_weights
from styledex.embed.transfer.weights import load_weights
from styledex.train import TrainError
from styledex.train.data import CropSampler, load_pool
from styledex.train.johnson import STYLE_LAYERS, PerceptualLoss, open_style, style_jpeg, style_names, style_tensor
from styledex.train.loop import Task, TrainConfig, autocast
from styledex.train.losses import total_variation
from styledex.train.registry import trainer


class Config(TrainConfig):
    style_images: list[str] = []
    style_names: list[str] | None = Field(None, description="one per style image (default: the file stems)")
    name: str | None = Field(None, description="run name (only names the output folder)")
    base: str | None = Field(None, description="a stylebank weight file to add the new styles to")
    content_weight: float = Field(1.0, ge=0)
    style_weight: float = Field(5.0, ge=0)
    tv_weight: float = Field(0.0, ge=0)
    identity_weight: float = Field(1.0, gt=0)
    t_steps: int = Field(2, ge=1, description="stylizing steps per auto-encoder step (Chen et al.'s T)")
    content_layer: str = "relu2_2"
    style_size: int = Field(256, ge=16, description="long side of the style images when their Grams are taken")
    width: int = Field(16, ge=4, description="channels after the first conv (the paper's 32); then 2×, 4×")


@trainer("stylebank", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The stylebank task: a new bank for ``cfg.style_images``, or new branches on ``cfg.base``."""
    if not cfg.style_images:
        raise TrainError("stylebank needs at least one --style IMAGE")
    names = style_names(cfg.style_images, cfg.style_names)
    images = [open_style(p) for p in cfg.style_images]
    styles: list[dict[str, Any]] = []
    if cfg.base is not None:
        if not Path(cfg.base).is_file():
            raise TrainError(f"no such base weight file: {cfg.base}")
        try:
            state, base_meta = load_weights(cfg.base)
            net = build_from_weights(state, base_meta)
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise TrainError(f"{cfg.base} is not a stylebank weight file: {str(exc).splitlines()[0]}") from None
        styles = list(base_meta["styles"])
        clash = sorted({s["name"] for s in styles} & set(names))
        if clash:
            raise TrainError(f"the base already has style(s) {', '.join(clash)}; pick other style_names")
        net.requires_grad_(False)  # encoder, decoder and the existing branches stay bit-identical
        trainable = net.add_styles(len(names))
    else:
        net = StyleBankNet(len(names), (cfg.width, 2 * cfg.width, 4 * cfg.width))
        trainable = list(range(len(names)))
    net = net.to(device)
    styles += [{"name": n, "style_image": f"styles/{n}.jpg"} for n in names]
    sampler = CropSampler(load_pool(cfg.content, max(cfg.load_side, cfg.image_size)), cfg.image_size, generator)
    loss_fn = PerceptualLoss([style_tensor(img, cfg.style_size) for img in images], cfg.content_layer, device)
    new = torch.tensor(trainable, device=device)  # bank index of each new style (loss_fn indexes by position)
    adding = cfg.base is not None
    last: dict[str, torch.Tensor] = {}

    def stylizing(content: torch.Tensor) -> dict[str, torch.Tensor]:
        pick = torch.randint(len(trainable), (content.shape[0],), generator=generator).to(device)
        with autocast(device):
            features = net.encoder(content)
            output = net.decoder(net.stylize_features(features, new[pick]))
            losses = loss_fn(output, content, pick)
            with torch.no_grad():
                identity = F.mse_loss(net.decoder(features).float(), content)
        tv = total_variation(output.float())
        total = cfg.content_weight * losses["content"] + cfg.style_weight * losses["style"] + cfg.tv_weight * tv
        return {"total": total, **losses, "tv": tv, "identity": identity}

    def autoencoding(content: torch.Tensor) -> dict[str, torch.Tensor]:
        with autocast(device):
            identity = F.mse_loss(net(content).float(), content)
        return {**{k: v for k, v in last.items() if k not in ("total", "identity")},
                "total": cfg.identity_weight * identity, "identity": identity}

    def step(i: int) -> dict[str, torch.Tensor]:
        content = sampler.sample(cfg.batch_size).to(device)
        # step 0 is always a stylizing step, so `last` holds every key before the first auto-encoder step
        if adding or i % (cfg.t_steps + 1) != cfg.t_steps or not last:
            losses = stylizing(content)
        else:
            losses = autoencoding(content)
        last.update({k: v.detach() for k, v in losses.items()})
        return losses

    meta: dict[str, Any] = {
        "styles": styles,
        "channels": list(net.channels),
        "content_layer": cfg.content_layer,
        "style_layers": list(STYLE_LAYERS),
        "trained_styles": names,
        "style_sources": [str(p) for p in cfg.style_images],
        "base": str(cfg.base) if cfg.base else None,
    }
    task = Task("stylebank", {"net": net}, step, meta,
                export=lambda: {key: getattr(net, key).state_dict() for key in ("encoder", "bank", "decoder")})
    task.files = {f"{n}.jpg": style_jpeg(img) for n, img in zip(names, images, strict=True)}
    return task
