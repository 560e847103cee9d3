"""``munit``: a photo rendered in the look of another image, through a content code shared by two domains and a
low-dimensional style code (Huang et al. 2018, "Multimodal unsupervised image-to-image translation").

Each domain (photos, paintings) has an auto-encoder of three parts:

- **content encoder**: a 7×7 conv, ``downs`` stride-2 4×4 convs (doubling the channels), ``res_blocks`` residual
  blocks, instance norm throughout: [B, 3, H, W] → content code [B, width·2^downs, H/2^downs, W/2^downs]. Instance
  norm removes each channel's mean and std, the statistics that carry style, so what is left is layout. The two
  domains' codes are trained to be interchangeable (the shared content space).
- **style encoder**: the same first conv and downsamplings (two doubling, the rest keeping the width), no
  normalization (it would remove the style it is there to read), a global average pool and a 1×1 conv →
  style code [B, style_dim] (the paper's 8), trained towards N(0, I).
- **decoder**: ``res_blocks`` residual blocks whose normalization is AdaIN with γ and β from an MLP of a style
  code, then ``downs`` ×2 nearest upsamplings, each a 5×5 conv with layer norm, and a 7×7 conv to RGB:
  (content code, style code) → [B, 3, H, W] in 0..1 (``(tanh + 1) / 2``).

Translation by example (this module's ``stylize``): the photo's content code from the photo encoder, the style
image's style code from the painting encoder, decoded by the painting decoder. The style code of any image and the
content code of any image are also embedding spaces (``munit_style``, ``munit_content``:
:mod:`styledex.embed.munit_space`).

Weights: ``embed/weights/munit.pt`` (``styledex train munit``): state ``{"photo": …, "painting": …}`` (each an
:class:`AutoEncoder`), meta ``{"width", "downs", "res_blocks", "style_dim", "mlp_dim", "style_downs", ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from styledex.embed.transfer import weights as shipped_weights
from styledex.embed.transfer.adain import check_request
from styledex.embed.transfer.imaging import fit_long_side, pad_to_multiple, pick_device, to_image, to_tensor
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.transfer.weights import load_model

WEIGHTS_NAME = "munit"
TRAIN_COMMAND = "styledex train munit"
DOMAINS = ("photo", "painting")


def padded_conv(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    """A reflection-padded convolution (the paper pads by reflection everywhere)."""
    pad = (kernel - 1) // 2 if stride == 1 else 1
    return [nn.ReflectionPad2d(pad), nn.Conv2d(cin, cout, kernel, stride)]


class AdaptiveInstanceNorm(nn.Module):
    """Instance norm whose per-channel scale and shift are set before each forward (``weight``, ``bias``: [B, C],
    from the decoder's MLP): γ · (x − μ(x)) / σ(x) + β."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("AdaptiveInstanceNorm needs its weight and bias set from a style code first")
        normalized = F.instance_norm(x, eps=1e-5)
        return normalized * self.weight[:, :, None, None] + self.bias[:, :, None, None]


class LayerNorm2d(nn.Module):
    """Layer norm over (C, H, W) of each sample with a per-channel affine (the paper's decoder upsampling norm):
    it keeps the relative channel statistics AdaIN set, where instance norm would remove them."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)
        mean = flat.mean(1)[:, None, None, None]
        std = flat.std(1)[:, None, None, None]
        return (x - mean) / (std + 1e-5) * self.gamma[None, :, None, None] + self.beta[None, :, None, None]


class ResBlock(nn.Module):
    """Two 3×3 convs with a norm (instance norm or AdaIN) after each, ReLU between, plus the input."""

    def __init__(self, channels: int, adaptive: bool) -> None:
        super().__init__()
        norm = AdaptiveInstanceNorm if adaptive else lambda c: nn.InstanceNorm2d(c, affine=False)
        self.body = nn.Sequential(*padded_conv(channels, channels, 3), norm(channels), nn.ReLU(inplace=True),
                                  *padded_conv(channels, channels, 3), norm(channels))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ContentEncoder(nn.Module):
    """[B, 3, H, W] in 0..1 → content code [B, width·2^downs, H/2^downs, W/2^downs] (instance norm throughout)."""

    def __init__(self, width: int, downs: int, res_blocks: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [*padded_conv(3, width, 7), nn.InstanceNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
        for _ in range(downs):
            layers += [*padded_conv(channels, 2 * channels, 4, 2), nn.InstanceNorm2d(2 * channels),
                       nn.ReLU(inplace=True)]  # fmt: skip
            channels *= 2
        layers += [ResBlock(channels, adaptive=False) for _ in range(res_blocks)]
        self.net = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1)


class StyleEncoder(nn.Module):
    """[B, 3, H, W] in 0..1 → style code [B, style_dim]: convs without normalization (two doubling downsamplings,
    the rest keeping the width), global average pool, 1×1 conv."""

    def __init__(self, width: int, downs: int, style_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [*padded_conv(3, width, 7), nn.ReLU(inplace=True)]
        channels = width
        for i in range(downs):
            out = 2 * channels if i < 2 else channels
            layers += [*padded_conv(channels, out, 4, 2), nn.ReLU(inplace=True)]
            channels = out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, style_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images * 2 - 1).flatten(1)


class Decoder(nn.Module):
    """(content code [B, C, h, w], style code [B, style_dim]) → [B, 3, h·2^downs, w·2^downs] in 0..1."""

    def __init__(self, channels: int, downs: int, res_blocks: int, style_dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(ResBlock(channels, adaptive=True) for _ in range(res_blocks)))
        ups: list[nn.Module] = []
        for _ in range(downs):
            ups += [nn.Upsample(scale_factor=2, mode="nearest"), *padded_conv(channels, channels // 2, 5),
                    LayerNorm2d(channels // 2), nn.ReLU(inplace=True)]  # fmt: skip
            channels //= 2
        ups += [*padded_conv(channels, 3, 7)]
        self.ups = nn.Sequential(*ups)
        self.norms = [m for m in self.blocks.modules() if isinstance(m, AdaptiveInstanceNorm)]
        n_params = sum(2 * m.channels for m in self.norms)
        self.mlp = nn.Sequential(nn.Linear(style_dim, mlp_dim), nn.ReLU(inplace=True), nn.Linear(mlp_dim, mlp_dim),
                                 nn.ReLU(inplace=True), nn.Linear(mlp_dim, n_params))  # fmt: skip

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        params = self.mlp(style)
        start = 0
        for norm in self.norms:  # each AdaIN's γ (centred on 1) and β, in the order the blocks use them
            c = norm.channels
            norm.bias, norm.weight = params[:, start : start + c], 1 + params[:, start + c : start + 2 * c]
            start += 2 * c
        return (torch.tanh(self.ups(self.blocks(content))) + 1) / 2


class AutoEncoder(nn.Module):
    """One domain's content encoder, style encoder and decoder (module docstring)."""

    def __init__(self, width: int = 32, downs: int = 2, res_blocks: int = 3, style_dim: int = 8,
                 mlp_dim: int = 128, style_downs: int = 4) -> None:  # fmt: skip
        super().__init__()
        self.content = ContentEncoder(width, downs, res_blocks)
        self.style = StyleEncoder(width, style_downs, style_dim)
        self.decoder = Decoder(self.content.channels, downs, res_blocks, style_dim, mlp_dim)
        self.multiple = 2 ** max(downs, style_downs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """The domain's reconstruction of ``images`` from their own codes."""
        return self.decoder(self.content(images), self.style(images))


def spec_keys() -> tuple[str, ...]:
    """The constructor arguments of :class:`AutoEncoder`, as stored in the weight file's meta."""
    return ("width", "downs", "res_blocks", "style_dim", "mlp_dim", "style_downs")


class Munit(nn.Module):
    """Both domains' auto-encoders (``photo``, ``painting``)."""

    def __init__(self, **spec: int) -> None:
        super().__init__()
        self.spec = {k: int(v) for k, v in spec.items() if k in spec_keys()}
        self.photo = AutoEncoder(**self.spec)
        self.painting = AutoEncoder(**self.spec)

    def domain(self, name: str) -> AutoEncoder:
        return self.photo if name == "photo" else self.painting


def _build(state: dict[str, Any], meta: dict[str, Any]) -> Munit:
    net = Munit(**{k: meta[k] for k in spec_keys() if k in meta})
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str | None = None, device: torch.device | str = "cpu") -> tuple[Munit, dict[str, Any]]:
    """The shipped MUNIT (or the one in ``path``), in eval mode on ``device``, and its meta; a one-line
    :class:`TransferError` when none is shipped."""
    if path is None:
        path = shipped_weights.shipped(WEIGHTS_NAME)
        if path is None:
            raise TransferError(f"method 'munit' needs trained weights: run `{TRAIN_COMMAND}` and ship munit.pt")
    return load_model(path, device, _build, "munit")  # type: ignore[return-value]


def image_batch(img: Image.Image, side: int, multiple: int, device: torch.device) -> torch.Tensor:
    """``img`` at long side ``side`` px as [1, 3, H, W] (0..1), reflection-padded to multiples of ``multiple``."""
    return pad_to_multiple(to_tensor(fit_long_side(img, side))[None].to(device), multiple)


@transfer_method(
    "munit",
    kind="arbitrary",
    description="Huang et al. 2018: the photo's content code decoded with the style image's style code "
                "(two domain auto-encoders, photos and paintings, trained unpaired)",
    available=lambda: shipped_weights.shipped(WEIGHTS_NAME) is not None,
    weights=lambda: shipped_weights.shipped_file(WEIGHTS_NAME),
    train=TRAIN_COMMAND,
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    weights: str | Sequence[float] | None = None,
    style_size: int = 256,
    model: str | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` (long side ``size`` px) decoded by the painting decoder with the style code of ``styles``.

    Args:
        weights: one weight per style image (``"0.5,0.5"``): their style codes are mixed by them. Default equal.
        style_size: long side (px) at which the style images are encoded (the style code is pooled over it).
        model: a ``munit.pt`` of a training run to use instead of the shipped one.
        device: ``cuda``/``cpu``; default CUDA when available.
    """
    mix = check_request("munit", styles, style_name, 1.0, weights, None)
    dev = pick_device(device)
    net, _ = load_network(model, dev)
    target = fit_long_side(content, size)
    x = image_batch(content, size, net.photo.multiple, dev)
    with torch.inference_mode():
        codes = torch.cat([net.painting.style(image_batch(s, style_size, net.painting.multiple, dev)) for s in styles])
        style = (torch.as_tensor(mix, dtype=codes.dtype, device=dev)[:, None] * codes).sum(0, keepdim=True)
        out = net.painting.decoder(net.photo.content(x), style)[..., : target.height, : target.width]
    return to_image(out.cpu())
