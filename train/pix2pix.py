"""``styledex train pix2pix --style IMG --name NAME``: one look as image-to-image translation (Isola et al. 2017).

Pairs made here: every content photo (``cfg.content``, short side ``load_side``) and its rendering in the style
image by a shipped method (``teacher``, default ``ghiasi``: Magenta's pretrained arbitrary-style network, the one
that renders paintings best at an interactive speed); photo and rendering are stacked as 6 channels, so a random
crop and mirror cut both alike.

Losses, as the paper: the generator (:class:`~styledex.embed.transfer.pix2pix.UNetGenerator`) minimizes
``l1_weight``·|G(x) − y|₁ + the adversarial term; a conditional PatchGAN discriminator (`train.gan.PatchDiscriminator`,
70×70 receptive field over the photo and an image, both 0..1) learns to tell (photo, rendering) from (photo, G's
output). Least-squares GAN losses (Mao et al. 2017, as CycleGAN uses them) instead of the paper's cross-entropy:
they keep the gradients alive when the discriminator wins early, which on a small CPU run it does. Each step: one
discriminator update (its own Adam, ``d_lr``), then one generator update by the loop. Adam's betas (0.5, 0.999).

After training, ``validate`` renders the held-out photos (never trained on) at 256 px and records the mean L1 of
the generator's output to the teacher's rendering, and of the photo itself to it (the distance the look covers).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from styledex.embed.transfer import transfer
from styledex.embed.transfer.imaging import fit_long_side, run_network, to_tensor
from styledex.embed.transfer.pix2pix import UNetGenerator
from styledex.progress import progress_bar
from styledex.train import TrainError
from styledex.train.data import CropSampler, load_pool, named_images
from styledex.train.gan import PatchDiscriminator, lsgan
from styledex.train.johnson import single_style, style_jpeg
from styledex.train.loop import Task, TrainConfig
from styledex.train.registry import trainer

VALIDATION_SIDE = 256


class Config(TrainConfig):
    style_images: list[str] = []
    name: str | None = Field(None, description="the look's name (default: the style image's file stem)")
    teacher: str = Field("ghiasi", description="the shipped method that renders the training targets")
    teacher_size: int = Field(512, ge=64, description="long side of the style image the teacher is given")
    l1_weight: float = Field(100.0, ge=0, description="the paper's λ")
    gan_weight: float = Field(1.0, ge=0)
    d_lr: float = Field(2e-4, gt=0)
    width: int = Field(24, ge=4, description="generator channels after its first step (the paper's 64)")
    depth: int = Field(5, ge=2, description="generator encoder steps; the crop side must be a multiple of 2**depth")
    d_width: int = Field(32, ge=4, description="discriminator channels after its first conv (the paper's 64)")


def render_pairs(
    photos: list[Image.Image], style: Image.Image, teacher: str, teacher_size: int, progress: bool = True
) -> list[torch.Tensor]:
    """Each photo and ``teacher``'s rendering of it in ``style``, stacked: [6, H, W] in 0..1 (the photo's size)."""
    style = fit_long_side(style, teacher_size) if max(style.size) > teacher_size else style
    pairs = []
    for photo in progress_bar(photos, desc=f"render pairs ({teacher})", unit="image", enabled=progress):
        target = transfer(teacher, photo, style, size=max(photo.size))
        if target.size != photo.size:
            target = target.resize(photo.size, Image.Resampling.BICUBIC)
        pairs.append(torch.cat([to_tensor(photo), to_tensor(target.convert("RGB"))]))
    return pairs


@trainer("pix2pix", config=Config)
def build(cfg: Config, device: torch.device, generator: torch.Generator, progress: bool = True) -> Task:
    """The pix2pix task: a generator for ``cfg.style_images[0]``'s look as ``cfg.teacher`` renders it."""
    if cfg.image_size % 2**cfg.depth:
        raise TrainError(f"image_size {cfg.image_size} must be a multiple of 2**depth = {2**cfg.depth}")
    style_img, name = single_style(cfg.style_images, cfg.name, "pix2pix trains one generator per look")
    photos = load_pool(cfg.content, max(cfg.load_side, cfg.image_size))
    sampler = CropSampler(render_pairs(photos, style_img, cfg.teacher, cfg.teacher_size, progress), cfg.image_size,
                          generator)  # fmt: skip
    net = UNetGenerator(cfg.width, cfg.depth).to(device)
    critic = PatchDiscriminator(cfg.d_width).to(device)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=cfg.d_lr, betas=(0.5, 0.999))

    def step(i: int) -> dict[str, torch.Tensor]:
        batch = sampler.sample(cfg.batch_size).to(device)
        photo, target = batch[:, :3], batch[:, 3:]
        output = net(photo)
        # the discriminator's update, on the output as it is now (detached: the generator is not moved by it)
        critic_opt.zero_grad(set_to_none=True)
        d_loss = 0.5 * (lsgan(critic(photo, target), True) + lsgan(critic(photo, output.detach()), False))
        d_loss.backward()
        critic_opt.step()
        # the generator's losses; the loop steps only the generator (its grads on the critic are cleared above
        # before the critic's next update)
        adversarial = lsgan(critic(photo, output), True)
        l1 = (output - target).abs().mean()
        total = cfg.l1_weight * l1 + cfg.gan_weight * adversarial
        return {"total": total, "l1": l1, "adversarial": adversarial, "critic": d_loss.detach()}

    def validate() -> dict[str, Any]:
        heldout = [img for _, img in named_images("heldout-photos")]
        out_l1, photo_l1 = [], []
        with torch.no_grad():
            for photo in heldout:
                photo = fit_long_side(photo, VALIDATION_SIDE)
                target = to_tensor(transfer(cfg.teacher, photo, style_img, size=VALIDATION_SIDE).resize(photo.size))
                rendered = to_tensor(run_network(net, photo, VALIDATION_SIDE, device, multiple=2**cfg.depth))
                out_l1.append(float((rendered - target).abs().mean()))
                photo_l1.append(float((to_tensor(photo) - target).abs().mean()))
        return {"heldout_photos": len(heldout), "heldout_l1_to_teacher": round(float(np.mean(out_l1)), 4),
                "heldout_photo_l1_to_teacher": round(float(np.mean(photo_l1)), 4)}  # fmt: skip

    meta: dict[str, Any] = {
        "name": name,
        "style_image": f"styles/{name}.jpg",
        "style_source": str(cfg.style_images[0]),
        "teacher": cfg.teacher,
        "pairs": len(photos),
        **net.spec(),
    }
    task = Task(f"pix2pix_{name}", {"net": net, "critic": critic}, step, meta, generator=generator,
                export=lambda: {"net": net.state_dict()}, validate=validate, loop_modules=("net",),
                inner_optimizers={"critic": critic_opt}, betas=(0.5, 0.999))  # fmt: skip
    task.files = {f"{name}.jpg": style_jpeg(style_img)}
    return task
