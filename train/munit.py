"""``styledex train munit``: photos ↔ paintings with a shared content code and per-domain style codes (Huang et al.
2018, "Multimodal unsupervised image-to-image translation"; networks: :mod:`styledex.embed.transfer.munit`).

Domains: photos (``cfg.content``, default the training photos) and paintings (``cfg.style``, default the training
paintings, never a held-out one), unpaired. Each step, with x₁ a photo batch and x₂ a painting batch, (c_i, s_i)
each one's codes from its own domain's encoders and s₁', s₂' style codes drawn from N(0, I):

- the discriminators' update (their own Adam, ``d_lr``): least-squares GAN losses on real x_i against the
  translations x₂→₁ = G₁(c₂, s₁') and x₁→₂ = G₂(c₁, s₂'), detached (one PatchGAN per domain: `train.gan`);
- the auto-encoders' update by the loop: fooling the other domain's discriminator (``gan_weight``), rebuilding
  each image from its own codes (``image_weight``·L1), recovering the drawn style code and the source content code
  from each translation (``style_weight``·L1, ``content_weight``·L1), the paper's 1, 10, 1, 1 (the shipped run:
  style 10, ``configs/train/munit.yaml`` says why); and the paper's
  optional explicit cycle, x₁ → x₁→₂ → back with x₁'s own style code (``cycle_weight``·L1; 0 in the paper's
  main runs, 10 in others; 10 here, as CycleGAN's, to hold a photo's layout within a few thousand CPU steps; a run
  without it was not tried).

Left out of the paper's recipe: its three-scale discriminator (one scale here), the VGG perceptual loss of its
high-resolution runs, and its 1M iterations (a CPU run is minutes).

``validate`` translates the held-out photos at 128 px with the style codes of held-out paintings and records how
far they move (mean absolute change, 0..1) and how much the photo's content code survives the translation
(cosine of the pooled content codes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from styledex.embed.transfer.munit import WEIGHTS_NAME, Munit, image_batch
from styledex.train.cyclegan import varied_crops
from styledex.train.data import CropSampler, load_pool, named_images
from styledex.train.gan import domain_judges, lsgan
from styledex.train.loop import Task, TrainConfig
from styledex.train.registry import trainer

VALIDATION_SIDE = 128


class Config(TrainConfig):
    gan_weight: float = Field(1.0, ge=0)
    image_weight: float = Field(10.0, ge=0, description="L1 of each domain's reconstruction of its own images")
    style_weight: float = Field(1.0, ge=0, description="L1 between a drawn style code and the one re-encoded")
    content_weight: float = Field(1.0, ge=0, description="L1 between a content code and the one re-encoded")
    cycle_weight: float = Field(10.0, ge=0, description="L1 of the explicit cycle (the paper's optional term)")
    d_lr: float = Field(1e-4, gt=0)
    width: int = Field(16, ge=4, description="channels after the first conv (the paper's 64)")
    downs: int = Field(2, ge=1, description="content encoder downsamplings (the paper's 2)")
    res_blocks: int = Field(3, ge=0, description="residual blocks in the content encoder and decoder (paper: 4)")
    style_dim: int = Field(8, ge=1, description="style code length (the paper's 8)")
    mlp_dim: int = Field(128, ge=8, description="the decoder MLP's width (the paper's 256)")
    style_downs: int = Field(4, ge=1, description="style encoder downsamplings (the paper's 4)")
    d_width: int = Field(32, ge=4, description="discriminator channels after its first conv (the paper's 64)")


def pooled(codes: torch.Tensor) -> torch.Tensor:
    """Content codes [B, C, h, w] averaged to a 2×2 grid and L2-normalized: [B, 4C]."""
    return F.normalize(F.adaptive_avg_pool2d(codes, 2).flatten(1), dim=1)


@trainer("munit", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The munit task: photos (``cfg.content``) ↔ paintings (``cfg.style``), unpaired."""
    side = max(cfg.load_side, cfg.image_size)
    photo_pool, painting_pool = load_pool(cfg.content, side), load_pool(cfg.style, side)
    photos = CropSampler(photo_pool, cfg.image_size, generator)
    paintings = CropSampler(painting_pool, cfg.image_size, generator)
    spec = {k: getattr(cfg, k) for k in ("width", "downs", "res_blocks", "style_dim", "mlp_dim", "style_downs")}
    net = Munit(**spec).to(device)
    judge_photo, judge_painting, judges_opt = domain_judges(cfg.d_width, device, cfg.d_lr)

    def step(i: int) -> dict[str, torch.Tensor]:
        x1 = varied_crops(photos, cfg.batch_size).to(device)
        x2 = varied_crops(paintings, cfg.batch_size).to(device)
        a, b = net.photo, net.painting
        c1, s1 = a.content(x1), a.style(x1)
        c2, s2 = b.content(x2), b.style(x2)
        # drawn from the data generator, which checkpoints save, so a resumed run draws what it would have
        drawn1 = torch.randn(x1.shape[0], cfg.style_dim, generator=generator).to(device)
        drawn2 = torch.randn(x2.shape[0], cfg.style_dim, generator=generator).to(device)
        x21, x12 = a.decoder(c2, drawn1), b.decoder(c1, drawn2)  # painting → photo, photo → painting
        judges_opt.zero_grad(set_to_none=True)
        judged = 0.5 * (lsgan(judge_photo(x1), True) + lsgan(judge_photo(x21.detach()), False)
                        + lsgan(judge_painting(x2), True) + lsgan(judge_painting(x12.detach()), False))  # fmt: skip
        judged.backward()
        judges_opt.step()
        # the auto-encoders' losses; the loop steps only `net` (the judges' grads from them are cleared above
        # before the judges' next update)
        image = (a.decoder(c1, s1) - x1).abs().mean() + (b.decoder(c2, s2) - x2).abs().mean()
        c21, s21 = a.content(x21), a.style(x21)
        c12, s12 = b.content(x12), b.style(x12)
        style = (s21 - drawn1).abs().mean() + (s12 - drawn2).abs().mean()
        content = (c21 - c2).abs().mean() + (c12 - c1).abs().mean()
        adversarial = lsgan(judge_photo(x21), True) + lsgan(judge_painting(x12), True)
        total = (cfg.gan_weight * adversarial + cfg.image_weight * image + cfg.style_weight * style
                 + cfg.content_weight * content)  # fmt: skip
        out = {"adversarial": adversarial, "image": image, "style": style, "content": content}
        if cfg.cycle_weight > 0:
            cycle = (a.decoder(c12, s1) - x1).abs().mean() + (b.decoder(c21, s2) - x2).abs().mean()
            total = total + cfg.cycle_weight * cycle
            out["cycle"] = cycle
        return {"total": total, **out, "judges": judged.detach()}

    def validate() -> dict[str, Any]:
        """Held-out photos translated with held-out paintings' style codes: how far they move, what they keep."""
        held_photos = [img for _, img in named_images("heldout-photos")]
        held_paintings = [img for _, img in named_images("heldout-paintings")][:8]
        change, kept = [], []
        with torch.no_grad():
            styles = torch.cat([net.painting.style(image_batch(p, VALIDATION_SIDE, net.painting.multiple, device))
                                for p in held_paintings])  # fmt: skip
            for photo in held_photos:
                x = image_batch(photo, VALIDATION_SIDE, net.photo.multiple, device)
                code = net.photo.content(x)
                out = net.painting.decoder(code.expand(len(styles), -1, -1, -1), styles)
                change.append(float((out - x).abs().mean()))
                kept.append(float((pooled(net.painting.content(out)) * pooled(code)).sum(1).mean()))
        return {"heldout_photos": len(held_photos), "heldout_paintings": len(held_paintings),
                "heldout_mean_change": round(float(np.mean(change)), 4),
                "heldout_content_cosine": round(float(np.mean(kept)), 4)}  # fmt: skip

    meta: dict[str, Any] = {
        "domain": {"photos": list(cfg.content), "paintings": list(cfg.style)},
        "photos": len(photo_pool),
        "paintings": len(painting_pool),
        **net.spec,
    }
    return Task(WEIGHTS_NAME, {"net": net, "judge_photo": judge_photo, "judge_painting": judge_painting}, step,
                meta, generator=generator, export=lambda: {"net": net.state_dict()}, validate=validate,
                loop_modules=("net",), inner_optimizers={"judges": judges_opt}, betas=(0.5, 0.999))  # fmt: skip
