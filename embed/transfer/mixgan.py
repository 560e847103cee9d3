"""``mixgan``: content learned from one domain (photos), style from another (a painting's patches), joined by a
mixture generator (Hao, Yu and Zheng 2018, "MIXGAN: Learning concepts from different domains for mixture
generation"; the source documents' seed 000).

The paper's parts, sized for a CPU (RGB 0..1 in and out, [B, 3, H, W], H and W multiples of 4):

- **content generation network**, an adversarial auto-encoder (AAE): the **encoder** E maps a photo to a latent
  code z [B, z_channels, H/4, W/4] (a 7×7 conv, two stride-2 4×4 convs and a residual block, instance norm
  throughout, then a 1×1 conv; a grid of codes rather than the paper's single vector, so a photo's layout
  survives at 64–256 px), held to the prior N(0, I) by a latent discriminator; the **content decoder** G_c
  rebuilds the photo from z and exposes its features at every scale (H/4, H/2, H);
- **mixture decoder** G_m: a second decoder beside G_c that takes z and, at each scale, G_c's features of that
  scale (concatenated), so it absorbs the content hierarchically; its normalizations are conditional instance
  norms with one γ/β per trained style domain (Dumoulin et al.'s device, so one network holds several domains
  and mixes them by blending γ/β); its output is judged by a PatchGAN against patches of the style domain, which
  is how the style is learned: only local statistics (colour, brush texture), never a style image's layout.

How it differs from the other translation methods here: pix2pix learns one look from *paired* photos and their
renderings; CycleGAN maps photos to a whole domain and back (two generators, a cycle); MUNIT splits any image
into a content code and a style code, so any style image's code can be decoded. MIXGAN has no style encoder:
a style is a domain it was trained on (here: the patches of one style image), and generation needs no input
image at all (z drawn from the prior: :meth:`Mixgan.generate`); a photo is rendered through its own code E(x).

``stylize`` takes ``--style-name NAME`` (a trained domain, or a mixture ``a:0.7,b:0.3``) or ``--style IMAGE``:
the trained domain whose style image is nearest that image in the ``adain`` space (exact for the image it was
trained on; several images blend their nearest domains by ``--weights``).

Weights: ``embed/weights/mixgan.pt`` (``styledex train mixgan``), state ``{"net"}``, meta
``{"width", "z_channels", "domains": [{"name", "style_image"}], ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from styledex.embed.transfer import weights as shipped_weights
from styledex.embed.transfer.imaging import fit_long_side, pad_to_multiple, pick_device, to_image, to_tensor
from styledex.embed.transfer.munit import ResBlock, padded_conv
from styledex.embed.transfer.registry import CHOICE_NOTE, TransferError, transfer_method
from styledex.embed.transfer.stylebank import parse_request
from styledex.embed.transfer.weights import load_model

WEIGHTS_NAME = "mixgan"
TRAIN_COMMAND = "styledex train mixgan --style A.jpg [--style B.jpg ...]"
MULTIPLE = 4  # two stride-2 convolutions: inputs are padded to multiples of 4
DOMAIN_MATCH_SIDE = 256  # long side (px) at which style images are compared in the adain space


class ConditionalInstanceNorm(nn.Module):
    """Instance norm with one (γ, β) per style domain; ``mix`` [B, domains] blends them (one-hot: one domain)."""

    def __init__(self, channels: int, domains: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(domains, channels))
        self.bias = nn.Parameter(torch.zeros(domains, channels))

    def forward(self, x: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        gamma, beta = mix @ self.weight, mix @ self.bias  # [B, C]
        return F.instance_norm(x, eps=1e-5) * gamma[:, :, None, None] + beta[:, :, None, None]


class Encoder(nn.Module):
    """E: [B, 3, H, W] in 0..1 → z [B, z_channels, H/4, W/4] (instance norm throughout, none on the code)."""

    def __init__(self, width: int, z_channels: int) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.net = nn.Sequential(
            *padded_conv(3, c1, 7), nn.InstanceNorm2d(c1), nn.ReLU(inplace=True),
            *padded_conv(c1, c2, 4, 2), nn.InstanceNorm2d(c2), nn.ReLU(inplace=True),
            *padded_conv(c2, c3, 4, 2), nn.InstanceNorm2d(c3), nn.ReLU(inplace=True),
            ResBlock(c3, adaptive=False), nn.Conv2d(c3, z_channels, 1),
        )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


def _up(cin: int, cout: int) -> list[nn.Module]:
    """×2 nearest upsampling and a 5×5 conv (no transposed conv: no checkerboard)."""
    return [nn.Upsample(scale_factor=2, mode="nearest"), *padded_conv(cin, cout, 5)]


class ContentDecoder(nn.Module):
    """G_c: z → (the photo rebuilt [B, 3, H, W] in 0..1, its features at H/4, H/2 and H: [4w, 2w, w] channels)."""

    def __init__(self, width: int, z_channels: int) -> None:
        super().__init__()
        c1, c2, c3 = width, 2 * width, 4 * width
        self.stages = nn.ModuleList([
            nn.Sequential(*padded_conv(z_channels, c3, 3), nn.InstanceNorm2d(c3), nn.ReLU(inplace=True),
                          ResBlock(c3, adaptive=False)),
            nn.Sequential(*_up(c3, c2), nn.InstanceNorm2d(c2), nn.ReLU(inplace=True)),
            nn.Sequential(*_up(c2, c1), nn.InstanceNorm2d(c1), nn.ReLU(inplace=True)),
        ])  # fmt: skip
        self.to_rgb = nn.Sequential(*padded_conv(c1, 3, 7))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        features, h = [], z
        for stage in self.stages:
            h = stage(h)
            features.append(h)
        return (torch.tanh(self.to_rgb(h)) + 1) / 2, features


class MixtureDecoder(nn.Module):
    """G_m: (z, G_c's features, domain mix [B, domains]) → the mixture [B, 3, H, W] in 0..1. At each scale its
    own map is concatenated with G_c's, fused by a 3×3 conv; every norm is a :class:`ConditionalInstanceNorm`."""

    def __init__(self, width: int, z_channels: int, domains: int) -> None:
        super().__init__()
        widths = (4 * width, 2 * width, width)
        self.entry = nn.Sequential(*padded_conv(z_channels, widths[0], 3))
        self.ups = nn.ModuleList([nn.Sequential(*_up(widths[i], widths[i + 1])) for i in range(2)])
        self.fuse = nn.ModuleList([nn.Sequential(*padded_conv(2 * c, c, 3)) for c in widths])
        norms = [widths[0], *(c for c in widths[1:] for _ in (0, 1)), widths[0]]  # entry, (up, fuse)×2, fuse 0
        self.norms = nn.ModuleList([ConditionalInstanceNorm(c, domains) for c in norms])
        self.to_rgb = nn.Sequential(*padded_conv(width, 3, 7))

    def forward(self, z: torch.Tensor, content: Sequence[torch.Tensor], mix: torch.Tensor) -> torch.Tensor:
        def act(x: torch.Tensor, norm: int) -> torch.Tensor:
            return F.relu(self.norms[norm](x, mix))

        h = act(self.entry(z), 0)
        h = act(self.fuse[0](torch.cat([h, content[0]], 1)), 5)
        for level in (1, 2):
            h = act(self.ups[level - 1](h), 2 * level - 1)
            h = act(self.fuse[level](torch.cat([h, content[level]], 1)), 2 * level)
        return (torch.tanh(self.to_rgb(h)) + 1) / 2


def spec_keys() -> tuple[str, ...]:
    """The constructor arguments of :class:`Mixgan`, as stored in the weight file's meta."""
    return ("width", "z_channels", "domain_count")


class Mixgan(nn.Module):
    """Encoder, content decoder and mixture decoder (module docstring)."""

    def __init__(self, width: int = 16, z_channels: int = 8, domain_count: int = 1) -> None:
        super().__init__()
        self.spec = {"width": int(width), "z_channels": int(z_channels), "domain_count": int(domain_count)}
        self.encoder = Encoder(width, z_channels)
        self.content_decoder = ContentDecoder(width, z_channels)
        self.mixture_decoder = MixtureDecoder(width, z_channels, domain_count)

    def one_hot(self, domains: torch.Tensor) -> torch.Tensor:
        """Domain indices [B] (long) → mixes [B, domain_count]."""
        return F.one_hot(domains, self.spec["domain_count"]).to(self.mixture_decoder.to_rgb[-1].weight.dtype)

    def decode(self, z: torch.Tensor, mix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the content image G_c(z), the mixture G_m(z, ·)), each [B, 3, 4h, 4w] in 0..1."""
        content, features = self.content_decoder(z)
        return content, self.mixture_decoder(z, features, mix)

    def forward(self, images: torch.Tensor, mix: torch.Tensor) -> torch.Tensor:
        """Photos [B, 3, H, W] rendered in the domains ``mix`` [B, domain_count] through their own codes."""
        return self.decode(self.encoder(images), mix)[1]

    def generate(
        self, count: int, mix: torch.Tensor, side: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``count`` new images [count, 3, side, side] from codes drawn from the prior (no input image): the
        paper's mixture generation. ``mix`` [count, domain_count]; ``side`` a multiple of 4."""
        device = mix.device
        z = torch.randn(count, self.spec["z_channels"], side // 4, side // 4, generator=generator).to(device)
        return self.decode(z, mix)[1]


def _build(state: dict[str, Any], meta: dict[str, Any]) -> Mixgan:
    net = Mixgan(**{k: meta[k] for k in spec_keys() if k in meta})
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str | None = None, device: torch.device | str = "cpu") -> tuple[Mixgan, dict[str, Any]]:
    """The shipped MIXGAN (or the one in ``path``), in eval mode on ``device``, and its meta; a one-line
    :class:`TransferError` when none is shipped."""
    if path is None:
        path = shipped_weights.shipped(WEIGHTS_NAME)
        if path is None:
            raise TransferError(f"method 'mixgan' needs trained weights: run `{TRAIN_COMMAND}` and ship mixgan.pt")
    return load_model(path, device, _build, "mixgan")  # type: ignore[return-value]


def domain_image_path(meta: dict[str, Any], index: int, weights_file: Path | None) -> Path:
    """Where the style image of domain ``index`` is: beside ``weights_file`` (a run's output holds ``<name>.jpg``)
    when there, else in the shipped styles folder."""
    name = Path(meta["domains"][index]["style_image"]).name
    if weights_file is not None and (weights_file.parent / name).is_file():
        return weights_file.parent / name
    return shipped_weights.STYLES_DIR / name


@lru_cache(maxsize=8)
def _domain_vectors(paths: tuple[Path, ...], device: str) -> np.ndarray:
    """The adain vectors [domains, 2944] of the domains' style images (cached per weight file)."""
    images = []
    for path in paths:
        if not path.is_file():
            raise TransferError(f"mixgan: the style image of a trained domain is missing: {path}")
        with Image.open(path) as img:
            images.append(img.convert("RGB"))
    return adain_vectors(images, device)


def adain_vectors(images: Sequence[Image.Image], device: str) -> np.ndarray:
    """The ``adain`` space's vectors [n, dim] of ``images`` at long side :data:`DOMAIN_MATCH_SIDE`."""
    from styledex.embed.embedder import Embedder

    return Embedder(["adain"], image_size=DOMAIN_MATCH_SIDE, device=device).embed(list(images))["adain"]


def nearest_domains(styles: Sequence[Image.Image], meta: dict[str, Any], weights_file: Path | None,
                    device: str) -> list[int]:  # fmt: skip
    """For each style image, the trained domain whose style image is nearest it in the ``adain`` space (cosine)."""
    paths = tuple(domain_image_path(meta, i, weights_file) for i in range(len(meta["domains"])))
    domains = _domain_vectors(paths, device)
    return [int(i) for i in np.argmax(adain_vectors(styles, device) @ domains.T, axis=1)]


def shipped_domains() -> list[dict[str, str | None]]:
    """``[{"name", "style_image"}]`` of the shipped network's domains, from the record beside it."""
    return shipped_weights.recorded_styles(WEIGHTS_NAME, "domains")


@transfer_method(
    "mixgan",
    kind="per-style",
    description="Hao et al. 2018: an adversarial auto-encoder's content joined with a painting's patch style by a "
                "mixture decoder (one domain per trained style image; --style IMAGE picks the nearest)",
    available=lambda: shipped_weights.shipped(WEIGHTS_NAME) is not None,
    weights=lambda: shipped_weights.shipped_file(WEIGHTS_NAME),
    styles=shipped_domains,
    train=TRAIN_COMMAND,
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    weights: str | Sequence[float] | None = None,
    model: str | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` (long side ``size`` px) rendered in a trained style domain.

    Args:
        style_name: a trained domain ``"a"`` or a mixture ``"a:0.7,b:0.3"`` (γ/β blended); or give style images.
        weights: mixture weights for the domains named, or for the style images given (default equal).
        model: a ``mixgan.pt`` of a training run to use instead of the shipped one.
        device: ``cuda``/``cpu``; default CUDA when available.
    """
    dev = pick_device(device)
    net, meta = load_network(model, dev)
    names = [d["name"] for d in meta["domains"]]
    if styles and style_name:
        raise TransferError("mixgan takes either --style IMAGE or --style-name, not both")
    if styles:
        indices = nearest_domains(styles, meta, Path(model) if model else shipped_weights.shipped(WEIGHTS_NAME),
                                  str(dev))  # fmt: skip
        _, mix = parse_request(",".join(names[i] for i in indices), names, weights, "mixgan")
    elif style_name:
        indices, mix = parse_request(style_name, names, weights, "mixgan")
    else:
        raise TransferError(f"mixgan needs --style IMAGE or --style-name (trained: {', '.join(names)})")
    share = mix or [1.0] * len(indices)
    if min(share) < 0 or sum(share) <= 0:
        raise TransferError(f"style weights must be ≥ 0 with a positive sum, got {share}")
    blend = torch.zeros(1, len(names), device=dev)
    for index, w in zip(indices, share, strict=True):
        blend[0, index] += w / sum(share)
    target = fit_long_side(content, size)
    x = pad_to_multiple(to_tensor(target)[None].to(dev), MULTIPLE)
    with torch.inference_mode():
        out = net(x, blend)[..., : target.height, : target.width]
    image = to_image(out.cpu())
    if styles:  # the look is a trained domain, not the image's own: say which one was taken
        image.info[CHOICE_NOTE] = f"nearest trained look: {', '.join(names[i] for i in indices)}"
    return image
