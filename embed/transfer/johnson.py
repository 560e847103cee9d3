"""``johnson``: one feed-forward transform network per style (Johnson et al. 2016, "Perceptual losses for
real-time style transfer"), with Ulyanov et al.'s instance normalization (2016) in place of batch norm.

Network (input and output RGB 0..1, [B, 3, H, W], H and W multiples of 4; :func:`stylize` pads to that):
a reflection-padded 9×9 conv, two stride-2 3×3 convs, ``res_blocks`` residual blocks, two nearest 2× upsamplings
each followed by a 3×3 conv (rather than Johnson's fractionally strided convs, which leave checkerboard
artefacts), and a 9×9 conv back to RGB. Every conv but the last is followed by instance norm and ReLU.
The paper's widths are 32/64/128; styledex trains on a CPU, so the shipped networks are slimmer: the widths
are stored in each weight file's meta (``channels``, ``res_blocks``).

Weights: ``embed/weights/johnson_<name>.pt`` (one per trained style, ``styledex train johnson``), meta
``{"name", "style_image": "styles/<name>.jpg", "channels", "res_blocks", ...}``.
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
from styledex.embed.transfer.imaging import fit_long_side, pick_device, to_image, to_tensor
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.transfer.weights import STYLES_DIR, load_model, shipped_with_prefix

PREFIX = "johnson_"
DEFAULT_CHANNELS = (16, 32, 64)
DEFAULT_RES_BLOCKS = 5


class ConvNormReLU(nn.Sequential):
    """Reflection pad, conv (``stride``), then instance norm (affine) and ReLU unless ``last``."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, last: bool = False) -> None:
        layers: list[nn.Module] = [nn.ReflectionPad2d(kernel // 2), nn.Conv2d(cin, cout, kernel, stride)]
        if not last:
            layers += [nn.InstanceNorm2d(cout, affine=True), nn.ReLU(inplace=True)]
        super().__init__(*layers)


class UpConv(nn.Sequential):
    """Nearest 2× upsampling then :class:`ConvNormReLU` (3×3): [B, cin, H, W] → [B, cout, 2H, 2W]."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), ConvNormReLU(cin, cout, 3))


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))), shape-preserving (Johnson's residual block without the final ReLU)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvNormReLU(channels, channels, 3),
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class TransformNet(nn.Module):
    """The transform network of the module docstring: [B, 3, H, W] (0..1) → [B, 3, H, W] (≈ 0..1, unclamped).

    Args:
        channels: widths after the 9×9 conv and each downsampling conv (the paper's 32, 64, 128).
        res_blocks: residual blocks at 1/4 resolution (the paper's 5).
    """

    def __init__(self, channels: Sequence[int] = DEFAULT_CHANNELS, res_blocks: int = DEFAULT_RES_BLOCKS) -> None:
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels, self.res_blocks = (c1, c2, c3), int(res_blocks)
        self.net = nn.Sequential(
            ConvNormReLU(3, c1, 9),
            ConvNormReLU(c1, c2, 3, stride=2),
            ConvNormReLU(c2, c3, 3, stride=2),
            *(ResidualBlock(c3) for _ in range(self.res_blocks)),
            UpConv(c3, c2),
            UpConv(c2, c1),
            ConvNormReLU(c1, 3, 9, last=True),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def spec(self) -> dict[str, Any]:
        """The constructor arguments, stored in the weight file's meta."""
        return {"channels": list(self.channels), "res_blocks": self.res_blocks}


def pad_to_multiple(images: torch.Tensor, multiple: int) -> torch.Tensor:
    """Reflection-pad [B, C, H, W] on the bottom and right so H and W are multiples of ``multiple``."""
    h, w = images.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return images
    # reflection needs the pad smaller than the side; replicate covers the (tiny-image) rest
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(images, (0, pw, 0, ph), mode=mode)


def run_network(
    net: nn.Module, content: Image.Image, size: int, device: torch.device, multiple: int = 4
) -> Image.Image:
    """``content`` fitted to long side ``size`` px, through ``net`` (padded to ``multiple``), cropped back."""
    img = fit_long_side(content, size)
    x = to_tensor(img)[None].to(device)
    with torch.inference_mode():
        y = net(pad_to_multiple(x, multiple))[..., : x.shape[-2], : x.shape[-1]]
    return to_image(y.cpu())


# -- the shipped networks -----------------------------------------------------------------------------------
def trained_styles() -> dict[str, Path]:
    """Every shipped johnson network: ``{style name: weight file}``."""
    return {p.stem[len(PREFIX) :]: p for p in shipped_with_prefix(PREFIX)}


def shipped_styles() -> list[dict[str, str | None]]:
    """``[{"name", "style_image"}]`` of the shipped networks, for the registry (no weights are loaded)."""
    out: list[dict[str, str | None]] = []
    for name in trained_styles():
        image = STYLES_DIR / f"{name}.jpg"
        out.append({"name": name, "style_image": str(image) if image.is_file() else None})
    return out


def _any_shipped() -> bool:
    """Whether any johnson network ships: the method is available from the first trained style on."""
    return bool(shipped_with_prefix(PREFIX))


def _weights_folder() -> str | None:
    """The weights folder when any johnson network ships (one ``johnson_<style>.pt`` per style)."""
    return str(shipped_weights.WEIGHTS_DIR) if _any_shipped() else None  # read at each call: tests point it elsewhere


def _build(state: dict[str, Any], meta: dict[str, Any]) -> TransformNet:
    net = TransformNet(meta.get("channels", DEFAULT_CHANNELS), meta.get("res_blocks", DEFAULT_RES_BLOCKS))
    net.load_state_dict(state["net"])
    return net


def load_network(path: Path | str, device: torch.device | str = "cpu") -> tuple[TransformNet, dict[str, Any]]:
    """The network stored in ``path`` (a ``johnson_<name>.pt``), in eval mode on ``device``, and its meta."""
    return load_model(path, device, _build, "johnson")  # type: ignore[return-value]


@transfer_method(
    "johnson",
    kind="per-style",
    description="Johnson et al. 2016: one feed-forward network per style (instance norm, slim widths)",
    available=_any_shipped,
    weights=_weights_folder,
    styles=shipped_styles,
    train="styledex train johnson --style IMG --name NAME",
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    model: str | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` through the network trained for ``style_name``, long side ``size`` px.

    Args:
        style_name: a trained style (``styledex models`` lists them); optional when ``model`` is given.
        model: a johnson weight file to use instead of the shipped ones (a run's ``johnson_<name>.pt`` before
            it ships; the tests use it).
        device: ``cpu``/``cuda``; default CUDA when available.
    """
    names = sorted(trained_styles())
    listing = ", ".join(names) if names else "none shipped yet"
    if styles:
        raise TransferError(
            f"method 'johnson' is per-style: give --style-name (trained: {listing}), not --style IMAGE"
        )
    if model is not None:
        path = Path(model)
    elif style_name is None:
        raise TransferError(f"method 'johnson' needs --style-name (trained: {listing})")
    elif style_name not in names:
        raise TransferError(f"johnson has no style {style_name!r}; trained: {listing}")
    else:
        path = trained_styles()[style_name]
    dev = pick_device(device)
    net, meta = load_network(path, dev)
    if model is not None and style_name is not None and style_name != meta.get("name"):
        raise TransferError(f"{path} was trained for style {meta.get('name')!r}, not {style_name!r}")
    return run_network(net, content, size, dev)
