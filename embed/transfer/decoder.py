"""Decoders that invert the VGG19 encoder from ``relu{k}_1`` back to an RGB image (AdaIN, WCT).

The layout mirrors VGG19 (Huang & Belongie's decoder for relu4_1; Li et al.'s for each level of WCT): per
level, from deep to shallow, 3×3 reflection-padded convolutions with ReLU, then nearest 2× upsampling. ``width``
scales every hidden channel count (0.5 halves them): this machine trains on a CPU, so the shipped decoders are
slimmer than the papers' (their shapes are stored with the weights). ``input_scale`` multiplies the features first
(:data:`FEATURE_RMS`: it brings them to unit scale, which a short training run needs).

Input: features [B, C_k, H/2^(k-1), W/2^(k-1)] with C_k the VGG channels of relu{k}_1 (64, 128, 256, 512, 512).
Output: [B, 3, H, W], unclamped (≈ 0..1).
"""

from __future__ import annotations

import torch
from torch import nn

from styledex.embed.vgg import LAYER_CHANNELS

DECODER_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

# Root mean square of the encoder's features (RGB 0..1 in, the 0..255 Caffe scale folded into conv1_1), measured
# on 32 random 128-px crops of the training photos and paintings. A decoder multiplies its input by 1/RMS: fed
# raw features of RMS ~1000, a freshly initialized decoder's activations explode and a short CPU run never
# recovers (measured: relu1_1 reconstruction PSNR 5 dB after 200 steps without it).
FEATURE_RMS = {"relu1_1": 45.2, "relu2_1": 216.1, "relu3_1": 292.3, "relu4_1": 1006.1, "relu5_1": 154.4}


def default_input_scale(layer: str) -> float:
    """The input scale new decoders of ``layer`` are trained with: 1 / :data:`FEATURE_RMS`."""
    return 1.0 / FEATURE_RMS[layer]

# Convs per level above each relu{k}_1, deep to shallow, as in VGG19 (level 5: 4 convs; 4 and 3: 4; 2 and 1: 2).
# A level's first conv changes channels to the next level's width, then upsampling; the last level ends in RGB.
_LEVEL_CHANNELS = {5: 512, 4: 512, 3: 256, 2: 128, 1: 64}
_LEVEL_CONVS = {5: 4, 4: 4, 3: 4, 2: 2, 1: 2}


def _conv(cin: int, cout: int, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class VGGDecoder(nn.Module):
    """Mirror of VGG19 from ``layer`` (``relu1_1`` … ``relu5_1``) to RGB; see the module docstring."""

    def __init__(self, layer: str = "relu4_1", width: float = 1.0, input_scale: float = 1.0) -> None:
        super().__init__()
        if layer not in DECODER_LAYERS:
            raise ValueError(f"decoder layer must be one of {DECODER_LAYERS}, got {layer!r}")
        self.layer, self.width, self.input_scale = layer, width, float(input_scale)
        level = int(layer[4])

        def ch(k: int) -> int:
            return max(8, round(_LEVEL_CHANNELS[k] * width))

        mods: list[nn.Module] = []
        cin = LAYER_CHANNELS[layer]
        # Going up from relu{level}_1: the convs of level-1 … 1 (each level's width), upsampling between levels.
        for k in range(level - 1, 0, -1):
            # the first conv maps the deeper width to this level's width; an upsample precedes the level's convs
            mods += _conv(cin, ch(k))
            mods.append(nn.Upsample(scale_factor=2, mode="nearest"))
            cin = ch(k)
            for _ in range(_LEVEL_CONVS[k] - 1):
                mods += _conv(cin, cin)
        mods += _conv(cin, 3, relu=False)
        self.net = nn.Sequential(*mods)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features * self.input_scale)

    def spec(self) -> dict[str, object]:
        """The constructor arguments, stored with the weights (files without ``input_scale`` used 1)."""
        return {"layer": self.layer, "width": self.width, "input_scale": self.input_scale}
