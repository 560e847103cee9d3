"""``styledex train mixgan --style A.jpg [--style B.jpg ...]``: content from photos, style from each style image's
patches (Hao et al. 2018; networks and how MIXGAN differs from the other GANs: :mod:`styledex.embed.transfer.mixgan`).

Domains: photos (``cfg.content``, default the training photos) for the content; one style domain per style image,
its random crops (the image at long side ``style_size``, crops of ``image_size``). Each step, with x a photo batch,
k a random domain per photo, z = E(x), and z' drawn from the prior N(0, I):

- the discriminators' update (one Adam, ``d_lr``; least-squares GAN losses): the latent discriminator D_z tells z'
  (real) from z (fake), the AAE's regularization; the PatchGAN D_p (one score map per domain) tells crops of
  domain k (real) from the mixtures G_m(z, k) and G_m(z', k) (fake), each judged on its own domain's map;
- the generator's update by the loop (E, G_c, G_m): ``reconstruction_weight``·L1(G_c(z), x), fooling D_z with z
  (``latent_weight``) and D_p with both mixtures (``gan_weight``), and, not in the paper, ``content_weight`` ×
  the relu2_2 perceptual distance between G_m(z, k) and x (Johnson et al.'s content term, normalized by the
  photo's features' mean square): the paper keeps content through G_c's shared features alone, over epochs of
  training; within a CPU run's minutes the term holds the layout while the mixture decoder learns the patches.
  0 turns it off.

``validate`` renders the held-out photos at 128 px in every domain and records how far they move (mean absolute
change, 0..1), how much of the photo's code survives (cosine of E's codes, pooled 2×2) and how well G_c rebuilds
them (L1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from styledex.embed.transfer.imaging import fit_long_side, pad_to_multiple, to_tensor
from styledex.embed.transfer.mixgan import MULTIPLE, WEIGHTS_NAME, Mixgan
from styledex.embed.vgg import shared_encoder
from styledex.train import TrainError
from styledex.train.cyclegan import varied_crops
from styledex.train.data import CropSampler, load_pool, named_images
from styledex.train.gan import PatchDiscriminator, lsgan
from styledex.train.johnson import open_style, style_jpeg, style_names
from styledex.train.loop import Task, TrainConfig
from styledex.train.munit import pooled
from styledex.train.registry import trainer

VALIDATION_SIDE = 128
CONTENT_LAYER = "relu2_2"


class Config(TrainConfig):
    style_images: list[str] = []
    style_names: list[str] | None = Field(None, description="one per style image (default: the file stems)")
    name: str | None = Field(None, description="run name (only names the output folder)")
    gan_weight: float = Field(1.0, ge=0, description="fooling the patch discriminator with the mixtures")
    latent_weight: float = Field(1.0, ge=0, description="fooling the latent discriminator (the AAE's prior)")
    reconstruction_weight: float = Field(10.0, ge=0, description="L1 of G_c's rebuilt photos")
    content_weight: float = Field(1.0, ge=0, description="relu2_2 distance of mixture and photo (not the paper's)")
    d_lr: float = Field(2e-4, gt=0)
    width: int = Field(16, ge=4, description="channels after the first conv; then 2×, 4×")
    z_channels: int = Field(8, ge=1, description="channels of the latent code grid (at 1/4 of the side)")
    d_width: int = Field(32, ge=4, description="patch discriminator channels after its first conv")
    style_size: int = Field(256, ge=16, description="long side of the style images their crops are taken from")


class LatentDiscriminator(nn.Module):
    """D_z: each position's code [B, z_channels, h, w] → a real/fake score map [B, 1, h, w] (a 1×1-conv MLP)."""

    def __init__(self, z_channels: int, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(z_channels, hidden, 1), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Conv2d(hidden, hidden, 1), nn.LeakyReLU(0.2, inplace=True),
                                 nn.Conv2d(hidden, 1, 1))  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def own_map(scores: torch.Tensor, domains: torch.Tensor) -> torch.Tensor:
    """Each sample's score map of its own domain: [B, K, h, w] and domains [B] → [B, h, w]."""
    return scores[torch.arange(scores.shape[0], device=scores.device), domains]


@trainer("mixgan", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The mixgan task: photos (``cfg.content``) for the content, the crops of each of ``cfg.style_images``."""
    if not cfg.style_images:
        raise TrainError("mixgan needs at least one --style IMAGE (a style domain is the patches of one image)")
    if cfg.style_size < cfg.image_size:
        raise TrainError(f"style_size {cfg.style_size} must be ≥ image_size {cfg.image_size} (crops of the style)")
    names = style_names(cfg.style_images, cfg.style_names)
    images = [open_style(p) for p in cfg.style_images]
    photos = CropSampler(load_pool(cfg.content, max(cfg.load_side, cfg.image_size)), cfg.image_size, generator)
    domains = [CropSampler([fit_long_side(img, cfg.style_size)], cfg.image_size, generator) for img in images]
    net = Mixgan(cfg.width, cfg.z_channels, len(names)).to(device)
    judge_latent = LatentDiscriminator(cfg.z_channels).to(device)
    judge_patch = PatchDiscriminator(cfg.d_width, inputs=1, outputs=len(names)).to(device)
    judges_opt = torch.optim.Adam([*judge_latent.parameters(), *judge_patch.parameters()], lr=cfg.d_lr,
                                  betas=(0.5, 0.999))  # fmt: skip
    vgg = shared_encoder((CONTENT_LAYER,), device) if cfg.content_weight > 0 else None

    def step(i: int) -> dict[str, torch.Tensor]:
        x = varied_crops(photos, cfg.batch_size).to(device)
        k = torch.randint(len(names), (x.shape[0],), generator=generator).to(device)
        real = torch.cat([domains[int(d)].sample(1) for d in k.cpu()]).to(device)
        mix = net.one_hot(k)
        z = net.encoder(x)
        # drawn from the data generator, which checkpoints save, so a resumed run draws what it would have
        prior = torch.randn(z.shape, generator=generator).to(device)
        rebuilt, features = net.content_decoder(z)
        mixture = net.mixture_decoder(z, features, mix)
        generated = net.decode(prior, mix)[1]
        judges_opt.zero_grad(set_to_none=True)
        judged_latent = 0.5 * (lsgan(judge_latent(prior), True) + lsgan(judge_latent(z.detach()), False))
        judged_patch = 0.5 * (lsgan(own_map(judge_patch(real), k), True)
                              + 0.5 * lsgan(own_map(judge_patch(mixture.detach()), k), False)
                              + 0.5 * lsgan(own_map(judge_patch(generated.detach()), k), False))  # fmt: skip
        (judged_latent + judged_patch).backward()
        judges_opt.step()
        # the generator's losses; the loop steps only `net` (the judges' grads from them are cleared above before
        # the judges' next update)
        reconstruction = (rebuilt - x).abs().mean()
        latent = lsgan(judge_latent(z), True)
        adversarial = 0.5 * (lsgan(own_map(judge_patch(mixture), k), True)
                             + lsgan(own_map(judge_patch(generated), k), True))  # fmt: skip
        total = (cfg.reconstruction_weight * reconstruction + cfg.latent_weight * latent
                 + cfg.gan_weight * adversarial)  # fmt: skip
        out = {"reconstruction": reconstruction, "latent": latent, "adversarial": adversarial}
        if vgg is not None:
            with torch.no_grad():
                target = vgg(x)[CONTENT_LAYER]
            content = F.mse_loss(vgg(mixture)[CONTENT_LAYER], target) / target.pow(2).mean().clamp(min=1e-8)
            total = total + cfg.content_weight * content
            out["content"] = content
        return {"total": total, **out, "judges_latent": judged_latent.detach(), "judges_patch": judged_patch.detach()}

    def validate() -> dict[str, Any]:
        """Held-out photos rendered in every domain: how far they move, what of their code they keep."""
        held = [img for _, img in named_images("heldout-photos")]
        change, kept, rebuilt_l1 = [], [], []
        eye = torch.eye(len(names), device=device)
        with torch.no_grad():
            for photo in held:
                x = pad_to_multiple(to_tensor(fit_long_side(photo, VALIDATION_SIDE))[None].to(device), MULTIPLE)
                z = net.encoder(x)
                rebuilt, features = net.content_decoder(z)
                rebuilt_l1.append(float((rebuilt - x).abs().mean()))
                expand = [f.expand(len(names), -1, -1, -1) for f in features]
                out = net.mixture_decoder(z.expand(len(names), -1, -1, -1), expand, eye)
                change.append(float((out - x).abs().mean()))
                kept.append(float((pooled(net.encoder(out)) * pooled(z)).sum(1).mean()))
        return {"heldout_photos": len(held), "heldout_mean_change": round(float(np.mean(change)), 4),
                "heldout_code_cosine": round(float(np.mean(kept)), 4),
                "heldout_reconstruction_l1": round(float(np.mean(rebuilt_l1)), 4)}  # fmt: skip

    meta: dict[str, Any] = {
        "domains": [{"name": n, "style_image": f"styles/{n}.jpg"} for n in names],
        "style_sources": [str(p) for p in cfg.style_images],
        "photos": len(photos),
        "content_layer": CONTENT_LAYER if vgg is not None else None,
        **net.spec,
    }
    task = Task(WEIGHTS_NAME, {"net": net, "judge_latent": judge_latent, "judge_patch": judge_patch}, step, meta,
                generator=generator, export=lambda: {"net": net.state_dict()}, validate=validate,
                loop_modules=("net",), inner_optimizers={"judges": judges_opt}, betas=(0.5, 0.999))  # fmt: skip
    task.files = {f"{n}.jpg": style_jpeg(img) for n, img in zip(names, images, strict=True)}
    return task
