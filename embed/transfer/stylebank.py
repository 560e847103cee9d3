"""``stylebank``: an auto-encoder with a bank of per-style filters between encoder and decoder (Chen et al.
2017, "StyleBank: an explicit representation for neural image style transfer").

Network (RGB 0..1 in and out, [B, 3, H, W], H and W multiples of 4; :func:`stylize` pads to that):

- encoder: reflection-padded 9×9 conv, two stride-2 3×3 convs, each with instance norm and ReLU →
  features [B, C, H/4, W/4];
- StyleBank layer: one branch per style, two 3×3 convs with instance norm and ReLU each, [B, C, H/4, W/4] →
  same shape; the auto-encoder (identity) branch skips the bank;
- decoder: the mirror, two (nearest 2× upsample, 3×3 conv, IN, ReLU) then a 9×9 conv to RGB.

The paper's widths are 32/64/128; styledex trains on a CPU, so the shipped bank is slimmer (``channels`` in the
weight file's meta). Because a style lives only in its branch, the paper's two fusions are linear in the branch
outputs: a mixture ``"a:0.7,b:0.3"`` decodes Σ wᵢ·Kᵢ(F) (weights normalized to sum 1), and region-specific
fusion decodes Σ mᵢ·Kᵢ(F) with each style's mask mᵢ resized to the feature grid. Where masks overlap they are
averaged; where they leave a position uncovered, the identity branch F fills the rest, so unmasked regions keep
the content's look.

Weights: ``embed/weights/stylebank.pt`` (``styledex train stylebank``), state ``{"encoder", "bank", "decoder"}``,
meta ``{"channels", "styles": [{"name", "style_image": "styles/<name>.jpg"}], ...}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from styledex.embed.transfer.imaging import fit_long_side, pad_to_multiple, pick_device, to_image, to_tensor
from styledex.embed.transfer.johnson import ConvNormReLU, UpConv
from styledex.embed.transfer.registry import TransferError, transfer_method
from styledex.embed.transfer.weights import load_model, recorded_styles, shipped, shipped_file

WEIGHTS_NAME = "stylebank"
DEFAULT_CHANNELS = (16, 32, 64)


def make_branch(channels: int) -> nn.Sequential:
    """One style's filter bank: two 3×3 conv + IN + ReLU, [B, C, h, w] → [B, C, h, w]."""
    return nn.Sequential(ConvNormReLU(channels, channels, 3), ConvNormReLU(channels, channels, 3))


class StyleBankNet(nn.Module):
    """Encoder, StyleBank layer (``n_styles`` branches) and decoder of the module docstring.

    Args:
        n_styles: branches in the bank.
        channels: widths after the 9×9 conv and each downsampling conv (the paper's 32, 64, 128).
    """

    def __init__(self, n_styles: int, channels: Sequence[int] = DEFAULT_CHANNELS) -> None:
        super().__init__()
        c1, c2, c3 = (int(c) for c in channels)
        self.channels = (c1, c2, c3)
        self.encoder = nn.Sequential(ConvNormReLU(3, c1, 9), ConvNormReLU(c1, c2, 3, 2), ConvNormReLU(c2, c3, 3, 2))
        self.bank = nn.ModuleList(make_branch(c3) for _ in range(n_styles))
        self.decoder = nn.Sequential(UpConv(c3, c2), UpConv(c2, c1), ConvNormReLU(c1, 3, 9, last=True))

    def add_styles(self, count: int) -> list[int]:
        """Append ``count`` fresh branches; their indices."""
        start = len(self.bank)
        for _ in range(count):
            self.bank.append(make_branch(self.channels[2]))
        return list(range(start, start + count))

    def stylize_features(self, features: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Each image's features through its own branch: [B, C, h, w] and style indices [B] → [B, C, h, w]."""
        out = torch.empty_like(features)
        for s in index.unique().tolist():
            pick = index == s
            out[pick] = self.bank[s](features[pick])
        return out

    def forward(self, images: torch.Tensor, index: torch.Tensor | None = None) -> torch.Tensor:
        """[B, 3, H, W] → [B, 3, H, W]: stylized by branch ``index[b]``, or reconstructed when ``index`` is None."""
        features = self.encoder(images)
        if index is not None:
            features = self.stylize_features(features, index)
        return self.decoder(features)

    def fuse(self, images: torch.Tensor, indices: Sequence[int], weights: torch.Tensor) -> torch.Tensor:
        """Decode Σᵢ weights[i]·K_indices[i](F) + (1 − Σᵢ weights[i])·F.

        images: [B, 3, H, W]; weights: [n] (scalars) or [n, B, 1, H/4, W/4] (maps on the feature grid).
        """
        features = self.encoder(images)
        fused = torch.zeros_like(features)
        for i, s in enumerate(indices):
            fused = fused + weights[i] * self.bank[s](features)
        rest = 1 - weights.sum(0)
        if bool((rest != 0).any()):  # skip the identity term when it vanishes: exact single-style outputs
            fused = fused + rest * features
        return self.decoder(fused)


# -- the weight file ----------------------------------------------------------------------------------------


def build_from_weights(state: dict[str, Any], meta: dict[str, Any]) -> StyleBankNet:
    """A :class:`StyleBankNet` holding ``state`` (the ``{"encoder", "bank", "decoder"}`` of a weight file)."""
    net = StyleBankNet(len(meta["styles"]), meta.get("channels", DEFAULT_CHANNELS))
    for key in ("encoder", "bank", "decoder"):
        getattr(net, key).load_state_dict(state[key])
    return net


def load_bank(path: Path | str, device: torch.device | str = "cpu") -> tuple[StyleBankNet, dict[str, Any]]:
    """The bank stored in ``path``, in eval mode on ``device``, and its meta (cached per file and device)."""
    return load_model(path, device, build_from_weights, "stylebank")  # type: ignore[return-value]


def shipped_styles() -> list[dict[str, str | None]]:
    """``[{"name", "style_image"}]`` of the shipped bank, read from the record beside it (no weights loaded)."""
    return recorded_styles(WEIGHTS_NAME, "styles")


# -- requests -----------------------------------------------------------------------------------------------
def parse_request(
    style_name: str, names: list[str], weights: str | Sequence[float] | None, method: str = "stylebank"
) -> tuple[list[int], list[float] | None]:
    """``"a"``, ``"a,b"`` or ``"a:0.7,b:0.3"`` (+ ``weights``) → (indices into ``names``, weights or None);
    TransferError (one line, naming ``method`` and its trained styles) for an unknown style or bad weights."""
    listing = ", ".join(names)
    indices: list[int] = []
    given: list[float] = []
    for part in style_name.split(","):
        name, sep, value = part.strip().partition(":")
        if name not in names:
            raise TransferError(f"{method} has no style {name!r}; trained: {listing}")
        indices.append(names.index(name))
        if sep:
            try:
                given.append(float(value))
            except ValueError:
                raise TransferError(f"bad style weight {part!r}; expected NAME:WEIGHT such as a:0.5") from None
    if given and len(given) != len(indices):
        raise TransferError(f"give a weight for every style in {style_name!r} or for none")
    if weights is not None:
        if given:
            raise TransferError("give style weights either in --style-name (a:0.5,b:0.5) or by --weights, not both")
        try:
            given = [float(w) for w in (weights.split(",") if isinstance(weights, str) else weights)]
        except ValueError:
            raise TransferError(f"bad --weights {weights!r}; expected numbers such as 0.5,0.5") from None
        if len(given) != len(indices):
            raise TransferError(f"{len(given)} weights for {len(indices)} styles in {style_name!r}")
    return indices, (given or None)


def _mask_maps(masks: Sequence[Image.Image], size: tuple[int, int]) -> torch.Tensor:
    """Masks (L, white = 1) → [n, 1, 1, H/4, W/4] in 0..1 on the feature grid, normalized where they overlap.

    Each mask is resized to the image's ``size`` (W, H), padded like the image (:func:`pad_to_multiple`) and
    averaged over 4×4 cells, the positions one feature covers.
    """
    maps = []
    for mask in masks:
        m = torch.from_numpy(np.asarray(mask.convert("L").resize(size, Image.Resampling.BILINEAR), np.float32) / 255)
        padded = pad_to_multiple(m[None, None], 4)
        maps.append(F.avg_pool2d(padded, 4)[0])
    stack = torch.stack(maps)[:, None]  # [n, 1 (batch), 1, h, w]
    return stack / stack.sum(0).clamp(min=1.0)  # overlaps share; uncovered positions keep the identity branch


@transfer_method(
    "stylebank",
    kind="per-style",
    description="Chen et al. 2017: a bank of per-style filters between encoder/decoder; mixtures and masked regions",
    available=lambda: shipped(WEIGHTS_NAME) is not None,
    weights=lambda: shipped_file(WEIGHTS_NAME),
    styles=shipped_styles,
    train="styledex train stylebank --style A.jpg --style B.jpg",
)
def stylize(
    content: Image.Image,
    styles: Sequence[Image.Image],
    style_name: str | None,
    size: int,
    *,
    masks: Sequence[Image.Image] | None = None,
    weights: str | Sequence[float] | None = None,
    model: str | None = None,
    device: str | None = None,
) -> Image.Image:
    """``content`` through the bank, long side ``size`` px.

    Args:
        style_name: one trained style ``"a"``, a mixture ``"a:0.7,b:0.3"`` (or ``"a,b"`` with ``weights``), or with
            ``masks`` the styles ``"a,b"`` of the regions.
        masks: one grayscale mask per style in ``style_name`` (white = that style's region).
        weights: mixture weights ``"0.7,0.3"`` for the styles of ``style_name``; normalized to sum 1.
        model: a stylebank weight file to use instead of the shipped one (a run's output; the tests use it).
        device: ``cpu``/``cuda``; default CUDA when available.
    """
    if model is None:
        path = shipped(WEIGHTS_NAME)
        if path is None:
            raise TransferError("stylebank needs trained weights (styledex train stylebank), not shipped yet")
    else:
        path = Path(model)
    dev = pick_device(device)
    net, meta = load_bank(path, dev)
    names = [s["name"] for s in meta["styles"]]
    listing = ", ".join(names)
    if styles:
        raise TransferError(f"method 'stylebank' is per-style: give --style-name (trained: {listing}), not --style")
    if not style_name:
        raise TransferError(f"method 'stylebank' needs --style-name (trained: {listing}, or a mixture a:0.5,b:0.5)")
    indices, mix = parse_request(style_name, names, weights)

    img = fit_long_side(content, size)
    x = to_tensor(img)[None].to(dev)
    if masks is not None:
        if mix is not None:
            raise TransferError("masks pick one style per region; drop the style weights")
        if len(masks) != len(indices):
            raise TransferError(f"{len(masks)} masks for {len(indices)} styles in {style_name!r}; give one per style")
        blend = _mask_maps(masks, img.size).to(dev)
    else:
        w_list = mix or [1.0] * len(indices)
        if min(w_list) < 0 or sum(w_list) <= 0:
            raise TransferError(f"style weights must be ≥ 0 with a positive sum, got {w_list}")
        blend = (torch.tensor(w_list) / sum(w_list)).view(-1, 1, 1, 1, 1).to(dev)
    with torch.inference_mode():
        y = net.fuse(pad_to_multiple(x, 4), indices, blend)[..., : x.shape[-2], : x.shape[-1]]
    return to_image(y.cpu())

